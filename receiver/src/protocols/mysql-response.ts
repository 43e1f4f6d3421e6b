/**
 * One command's response, packet by packet: knows when it is complete and what
 * it said (OK, the error code, rows returned, a PREPARE_OK's statement id).
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html
 * https://mariadb.com/kb/en/result-set-packets/
 *
 * A result set is: column count, that many column definitions (unless the
 * metadata is cached), an EOF (unless CLIENT_DEPRECATE_EOF), rows, then EOF, OK
 * (0xfe header) or ERR; SERVER_MORE_RESULTS_EXISTS chains another. When the
 * capabilities are unknown (a connection picked up after its handshake), the
 * packet after the column definitions tells: an EOF is exactly 5 bytes, an OK
 * terminator at least 7.
 *
 * Example:
 *   const r = new MysqlResponse('results', { caps: undefined, deprecateEof: false, mariadb: true });
 *   r.packet(pkt('01'))            // column count 1 → false
 *   r.packet(pkt('03646566...'))   // column definition → false
 *   r.packet(pkt('fe00000200'))    // EOF → false
 *   r.packet(pkt('0131'))          // row → false
 *   r.packet(pkt('fe00000200'))    // EOF without MORE_RESULTS → true; r.rows === 1
 */
import type { Expect } from './mysql-wire';
import {
  SERVER_MORE_RESULTS_EXISTS,
  SERVER_STATUS_CURSOR_EXISTS,
  eofStatus,
  isEofOrOk,
  isErr,
  isProgress,
  parseColumnCount,
  parseErr,
  parseOk,
  parsePrepareOk,
} from './mysql-wire';
import type { PrepareOk } from './mysql-wire';

/** What the connection knows of its capabilities when the response is read. */
export interface ResponseContext {
  /** client ∩ server capabilities; undefined when the handshake was not seen */
  caps: number | undefined;
  /** CLIENT_DEPRECATE_EOF, when known */
  deprecateEof: boolean | undefined;
  mariadb: boolean | undefined;
}

/** A packet as the reader needs it: the captured payload prefix and the true length. */
export interface ResponsePacket {
  prefix: Uint8Array;
  length: number;
}

const enum St {
  First,
  Defs,
  AfterDefs,
  Rows,
  /** PREPARE_OK's definitions: `sections` holds the counts still to come (parameters, then columns) */
  PrepareDefs,
  /** after a section of definitions: an EOF, unless CLIENT_DEPRECATE_EOF */
  PrepareEof,
  /** an authentication exchange: anything until OK or ERR */
  Auth,
  /** the response to a command whose byte was not captured: its first packet may still tell something */
  Guess,
  Done,
  /** what the packets mean is unknown from here on (a type byte was not captured) */
  Unknown,
}

export class MysqlResponse {
  readonly expect: Expect;
  private readonly ctx: ResponseContext;
  private st: St;
  private defsLeft = 0;
  /** prepare: the definition sections still to come after the current one */
  private sections: number[] = [];
  /** rows counted; undefined when none were expected or some may have gone uncounted */
  rows: number | undefined = undefined;
  /** a result set was seen (rows is meaningful) */
  resultSet = false;
  /** an ERR packet ended the response */
  failed = false;
  /** its error number; undefined when not captured */
  errorCode: number | undefined;
  /** kept for debugging; not exported (db.response.status_code is the error number) */
  sqlState: string | undefined;
  /** the OK's session-state schema */
  schema: string | undefined;
  prepared: PrepareOk | undefined;
  packets = 0;
  /** what the response means was lost to truncation (it still ends, at the next command) */
  uncertain = false;
  /** the capability learned from the packet after the column definitions */
  learnedDeprecateEof: boolean | undefined;

  constructor(expect: Expect, ctx: ResponseContext) {
    this.expect = expect;
    this.ctx = ctx;
    this.st = St.First;
    if (expect === 'fields') {
      this.st = St.Defs;
      this.defsLeft = Infinity;
    } else if (expect === 'rows') this.startRows();
    else if (expect === 'auth') this.st = St.Auth;
    else if (expect === 'unknown') {
      this.st = St.Guess;
      this.uncertain = true;
    }
  }

  get done(): boolean {
    return this.st === St.Done;
  }

  get started(): boolean {
    return this.packets > 0 || this.uncertain;
  }

  /** Reads one packet; true when the response is complete. */
  packet(p: ResponsePacket): boolean {
    if (this.st === St.Done) return true;
    this.packets++;
    const b = p.prefix;
    if (b.length === 0 && p.length > 0) {
      this.untyped(p);
      return this.done;
    }
    if (p.length > 0 && isProgress(b)) return false;
    switch (this.st) {
      case St.First:
        this.first(p);
        break;
      case St.Defs:
        if (this.defsLeft === Infinity && isEofOrOk(b, p.length)) this.finish();
        else if (isErr(b)) this.error(b);
        else if (--this.defsLeft === 0) this.st = St.AfterDefs;
        break;
      case St.AfterDefs:
        this.afterDefs(p);
        break;
      case St.Rows:
        this.row(p);
        break;
      case St.PrepareDefs:
        if (isErr(b)) this.error(b);
        else if (--this.defsLeft === 0) this.prepareSectionEnd();
        break;
      case St.PrepareEof:
        if (isEofOrOk(b, p.length) && p.length < 9) this.nextPrepareSection();
        else if (this.ctx.deprecateEof === undefined && this.sections.length > 0) {
          // no EOF: this is the next section's first definition
          this.nextPrepareSection();
          if (--this.defsLeft === 0) this.prepareSectionEnd();
        } else this.lose();
        break;
      case St.Guess:
        // ERR ends any response; an OK (and its schema) may be followed by more results
        if (isErr(b)) this.error(b);
        else {
          if (b[0] === 0x00) this.schema = parseOk(b, this.ctx.caps).schema;
          this.st = St.Unknown;
        }
        break;
      case St.Auth:
        // 0xfe auth switch and 0x01 more data go on; OK or ERR end it
        if (b[0] === 0x00) this.ok(b, false);
        else if (isErr(b)) this.error(b);
        break;
      default:
        break; // Unknown: only the next command ends it
    }
    return this.done;
  }

  /** Framing was lost in this response: it ends at the next command, with what it said so far. */
  lose(): void {
    if (this.st === St.Done) return;
    this.uncertain = true;
    if (this.resultSet) this.rows = undefined;
    this.st = St.Unknown;
  }

  /** A packet whose type byte was not captured: counted where its type does not matter, else meaning is lost. */
  private untyped(p: ResponsePacket): void {
    switch (this.st) {
      case St.First:
        if (this.expect !== 'simple') return this.lose();
        // one packet either way: the response is over, what it said is not known
        this.uncertain = true;
        return this.finish();
      case St.Defs:
        if (this.defsLeft !== Infinity && --this.defsLeft === 0) this.st = St.AfterDefs;
        else if (this.defsLeft === Infinity) this.lose();
        return;
      case St.PrepareDefs:
        if (--this.defsLeft === 0) this.prepareSectionEnd();
        return;
      case St.Rows:
        // without deprecated EOF the terminator is 5 bytes: 9 or more is a row
        if (this.ctx.deprecateEof === false && p.length >= 9) {
          if (this.rows !== undefined) this.rows++;
          return;
        }
        return this.lose();
      default:
        return this.lose();
    }
  }

  private first(p: ResponsePacket): void {
    const b = p.prefix;
    if (isErr(b)) return this.error(b);
    if (this.expect === 'simple') {
      // OK, EOF or a plain string (COM_STATISTICS): one packet either way
      if (b[0] === 0x00) this.ok(b, false);
      else this.finish();
      return;
    }
    if (this.expect === 'prepare') {
      const ok = parsePrepareOk(b, p.length, this.ctx.caps);
      if (!ok) return this.lose();
      this.prepared = ok;
      this.sections = ok.metadata ? [ok.params, ok.columns].filter((n) => n > 0) : [];
      return this.nextPrepareSection();
    }
    if (b[0] === 0x00) return this.ok(b, true);
    if (b[0] === 0xfb) return; // LOCAL INFILE: the client sends the file, then OK or ERR comes
    if (isEofOrOk(b, p.length) && p.length < 9) return this.chain(eofStatus(b));
    const cc = parseColumnCount(b, p.length);
    if (!cc) return this.lose();
    this.resultSet = true;
    this.rows ??= 0;
    if (cc.metadata) {
      this.defsLeft = cc.count;
      this.st = St.Defs;
    } else this.st = St.AfterDefs;
  }

  private afterDefs(p: ResponsePacket): void {
    const b = p.prefix;
    const known = this.ctx.deprecateEof;
    // EOF_Packet is exactly 5 bytes (protocol 4.1); an OK terminator is at least 7
    if (isEofOrOk(b, p.length) && (known === false || (known === undefined && p.length === 5))) {
      if (known === undefined) this.learnedDeprecateEof = false;
      const status = eofStatus(b);
      // a cursor was opened (COM_STMT_EXECUTE): the rows come by COM_STMT_FETCH
      if (status !== undefined && (status & SERVER_STATUS_CURSOR_EXISTS) !== 0) this.finish();
      else this.startRows();
      return;
    }
    if (known === undefined) this.learnedDeprecateEof = true;
    this.startRows();
    this.row(p);
  }

  private startRows(): void {
    this.st = St.Rows;
    this.resultSet = true;
    this.rows ??= 0;
  }

  private row(p: ResponsePacket): void {
    const b = p.prefix;
    if (isErr(b)) return this.error(b);
    // a text row can start with 0xfe only as a 16 MB value: the length tells them apart
    if (isEofOrOk(b, p.length) && (this.ctx.deprecateEof !== false || p.length < 9)) {
      return this.chain(p.length === 5 ? eofStatus(b) : parseOk(b, this.ctx.caps).status);
    }
    if (this.rows !== undefined) this.rows++;
  }

  /** The next section of PREPARE_OK definitions, or the end. */
  private nextPrepareSection(): void {
    const n = this.sections.shift();
    if (n === undefined) return this.finish();
    this.defsLeft = n;
    this.st = St.PrepareDefs;
  }

  /** A section of definitions ended: an EOF follows unless deprecated (when unknown, the next packet or command tells). */
  private prepareSectionEnd(): void {
    if (this.ctx.deprecateEof === true) this.nextPrepareSection();
    else this.st = St.PrepareEof;
  }

  /** A terminator: another result follows with SERVER_MORE_RESULTS_EXISTS; flags cut by the capture leave that unknown. */
  private chain(status: number | undefined): void {
    if (status === undefined) this.lose();
    else if ((status & SERVER_MORE_RESULTS_EXISTS) !== 0) this.st = St.First;
    else this.finish();
  }

  private ok(b: Uint8Array, chained: boolean): void {
    const ok = parseOk(b, this.ctx.caps);
    if (ok.schema !== undefined) this.schema = ok.schema;
    if (chained) this.chain(ok.status);
    else this.finish();
  }

  private finish(): void {
    this.st = St.Done;
  }

  private error(b: Uint8Array): void {
    const e = parseErr(b);
    this.failed = true;
    this.errorCode = e.code;
    this.sqlState = e.sqlState;
    this.st = St.Done;
  }
}
