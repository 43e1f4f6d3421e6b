/**
 * memcached on one connection, text or binary (fixed by its first byte, as the
 * server does): a parser per direction and a FIFO that pairs responses with
 * requests in order. What does not fit plain request/response:
 *
 * - text `noreply` and the binary quiet opcodes that never answer success complete
 *   at the request: no response is awaited;
 * - quiet requests that answer some outcomes and not others (meta `q`: mg hides EN,
 *   ms/md/ma hide HD; binary GetQ/GetKQ answer hits only, SetQ & co. errors only) wait
 *   in the FIFO; a response they cannot have sent (by its code, opcode or opaque)
 *   proves them answered by silence, and they complete at their request;
 * - capture gaps: as for Redis (redis-session.ts), a gap marker in the FIFO, responses
 *   discarded until one that starts a segment ending after the next request began.
 *
 * db.operation.name is the command as memcached spells it, lower case ("get", "set",
 * "incr", "mg"); binary opcodes take their text names (GetKQ → "get"). A retrieval's
 * hits are db.response.returned_rows. ERROR, CLIENT_ERROR, SERVER_ERROR (and binary
 * error statuses by name: EINVAL, UNKNOWN_COMMAND, ...) are the status code.
 */
import type { Connection, ProtocolSession } from '../conn/connection';
import type { SockEvent } from '../events/types';
import { FifoPairing } from '../pairing/fifo';
import type { DbOperationRecord, ProtocolContext, ProtocolStats } from './context';
import { connInfo } from './redis-session';
import { binaryError, GETS, McBinaryParser, OPCODES, plausibleHeader, QUIET_GETS, REQUEST_MAGIC, RESPONSE_MAGIC } from './memcached-binary';
import type { McBinaryEvent, McPacket } from './memcached-binary';
import { looksLikeResponse, McTextParser } from './memcached-text';
import type { McRequest, McResponse, McTextEvent } from './memcached-text';
import type { Role, Segment } from './types';

interface Op {
  gap: false;
  op: string;
  text: string;
  startNs: number;
  endNs: number;
  tid: number;
  /** meta: the quiet flag and opaque; binary: quiet opcode, opcode, opaque */
  quiet: boolean;
  opaque?: string | number;
  opcode?: number;
  /** a retrieval: hits are returned rows */
  get: boolean;
  /** meta flag letters */
  flags?: string;
}

interface Gap {
  gap: true;
  startNs: number;
}

type Entry = Op | Gap;

/** Meta response codes each meta command can send, and the one(s) its q flag hides. */
// (mg and ma answer VA, with the value, when asked for it with the v flag, else HD)
const META_CODES: Readonly<Record<string, { codes: string[]; hidden: string[] }>> = {
  mg: { codes: ['HD', 'EN'], hidden: ['EN'] },
  mgv: { codes: ['VA', 'EN'], hidden: ['EN'] },
  ms: { codes: ['HD', 'NS', 'EX', 'NF'], hidden: ['HD'] },
  md: { codes: ['HD', 'NF', 'EX'], hidden: ['HD'] },
  ma: { codes: ['HD', 'NF', 'NS', 'EX'], hidden: ['HD'] },
  mav: { codes: ['VA', 'NF', 'NS', 'EX'], hidden: ['HD'] },
  me: { codes: ['ME', 'EN'], hidden: [] },
  mn: { codes: ['MN'], hidden: [] },
};
const RETRIEVALS = new Set(['get', 'gets', 'gat', 'gats', 'mg']);

export class MemcachedSession implements ProtocolSession {
  readonly protocol = 'memcached';
  readonly role: Role;
  #binary: boolean | undefined;
  readonly #ctx: ProtocolContext;
  readonly #stats: ProtocolStats;
  readonly #fifo: FifoPairing<Entry>;
  #text: { req: McTextParser; res: McTextParser } | undefined;
  #bin: { req: McBinaryParser; res: McBinaryParser } | undefined;
  #conn: Connection | undefined;
  #tailGap = false;
  #stopped = false;

  /** `binary` undefined: decided by the first segment's first byte (0x80: binary), as memcached does. */
  constructor(role: Role, binary: boolean | undefined, ctx: ProtocolContext) {
    this.role = role;
    this.#ctx = ctx;
    this.#stats = ctx.stats('memcached');
    this.#fifo = new FifoPairing<Entry>({ maxPending: ctx.maxPending });
    if (binary !== undefined) this.#choose(binary);
  }

  get binary(): boolean | undefined {
    return this.#binary;
  }

  #choose(binary: boolean): void {
    this.#binary = binary;
    if (binary) this.#bin = { req: new McBinaryParser('request'), res: new McBinaryParser('response') };
    else this.#text = { req: new McTextParser('request', this.#ctx.fingerprint), res: new McTextParser('response', this.#ctx.fingerprint) };
  }

  get pending(): number {
    return this.#fifo.size;
  }

  onData(conn: Connection, ev: SockEvent): void {
    if (this.#stopped || ev.len === 0) return;
    if (this.#binary === undefined) this.#choose(ev.payload[0] === REQUEST_MAGIC);
    this.#conn = conn;
    const seg: Segment = { data: ev.payload, len: ev.len, enterNs: ev.enterNs, exitNs: ev.exitNs };
    const requests = (ev.direction === 2) === (this.role === 'server');
    if (this.#text) {
      if (requests) for (const e of this.#text.req.push(seg)) this.#onTextRequest(e, ev.tid);
      else {
        this.#beforeResponses(seg, this.#text.res.lost ? looksLikeResponse(seg.data) : this.#text.res.atBoundary);
        for (const e of this.#text.res.push(seg)) this.#onTextResponse(e, ev.tid);
      }
    } else if (this.#bin) {
      if (requests) for (const e of this.#bin.req.push(seg)) this.#onBinaryRequest(e, ev.tid);
      else {
        this.#beforeResponses(seg, this.#bin.res.lost ? plausibleHeader(seg.data, RESPONSE_MAGIC) : this.#bin.res.atBoundary);
        for (const e of this.#bin.res.push(seg)) this.#onBinaryResponse(e, ev.tid);
      }
    }
  }

  // ---- text ---------------------------------------------------------------------------

  #onTextRequest(e: McTextEvent, tid: number): void {
    if (e.kind === 'lost') return this.#requestLost(e.error, e.atNs);
    if (e.kind !== 'request') return;
    const r: McRequest = e.request;
    this.#stats.requests++;
    const o: Op = { gap: false, op: r.op, text: r.text, startNs: r.startNs, endNs: r.endNs, tid, quiet: r.quiet, get: RETRIEVALS.has(r.op) };
    if (r.opaque !== undefined) o.opaque = r.opaque;
    if (r.flags !== undefined) o.flags = r.flags;
    // noreply, and quit (the server just closes): nothing will answer
    if (r.noreply || r.op === 'quit') return this.#report(o, o.endNs, undefined, {});
    this.#push(o);
  }

  #onTextResponse(e: McTextEvent, tid: number): void {
    if (e.kind === 'lost') return this.#responseLost(e.error, e.atNs);
    if (e.kind !== 'response') return;
    const r: McResponse = e.response;
    for (;;) {
      const head = this.#fifo.peek();
      if (head === undefined) {
        this.#stats.unmatchedResponses++;
        return;
      }
      if (head.gap) {
        this.#stats.unmatchedResponses++; // answers a request lost in a capture gap
        return;
      }
      if (head.quiet && !this.#metaOwns(head, r)) {
        this.#fifo.shift();
        this.#silent(head);
        continue;
      }
      this.#fifo.shift();
      this.#stats.exchanges++;
      const error = r.error;
      const rows = head.get ? (head.op === 'mg' ? (r.code === 'VA' || r.code === 'HD' ? 1 : 0) : r.hits) : undefined;
      this.#report(head, r.endNs, tid, { status: error, rows });
      if (head.op === 'watch' && r.code === 'OK') this.#stopped = true; // a log stream follows
      return;
    }
  }

  /** Could a quiet meta request have sent this response? */
  #metaOwns(head: Op, r: McResponse): boolean {
    if (r.error !== undefined) return true;
    if (head.opaque !== undefined && r.opaque !== undefined && head.opaque !== r.opaque) return false;
    const m = META_CODES[(head.op === 'mg' || head.op === 'ma') && head.flags?.includes('v') ? `${head.op}v` : head.op];
    if (m === undefined) return true;
    return m.codes.includes(r.code) && !m.hidden.includes(r.code);
  }

  // ---- binary -------------------------------------------------------------------------

  #onBinaryRequest(e: McBinaryEvent, tid: number): void {
    if (e.kind === 'lost') return this.#requestLost(e.error, e.atNs);
    const p: McPacket = e.packet;
    const info = OPCODES.get(p.opcode);
    this.#stats.requests++;
    const op = info?.name ?? 'unknown';
    const o: Op = { gap: false, op, text: p.keyLen > 0 ? `${op} ?` : op, startNs: p.startNs, endNs: p.endNs, tid, quiet: info?.quiet ?? false, opcode: p.opcode, opaque: p.opaque, get: GETS.has(p.opcode) };
    this.#push(o);
  }

  #onBinaryResponse(e: McBinaryEvent, tid: number): void {
    if (e.kind === 'lost') return this.#responseLost(e.error, e.atNs);
    const p = e.packet;
    for (;;) {
      const head = this.#fifo.peek();
      if (head === undefined) {
        this.#stats.unmatchedResponses++;
        return;
      }
      if (head.gap) {
        this.#stats.unmatchedResponses++;
        return;
      }
      if (head.opcode !== p.opcode || head.opaque !== p.opaque) {
        // responses come in order: a quiet request skipped over was answered by its silence
        if (head.quiet) {
          this.#fifo.shift();
          this.#silent(head);
          continue;
        }
        this.#stats.unmatchedResponses++;
        return;
      }
      // stats answer with one packet per statistic, then one with an empty key
      if (p.opcode === 0x10 && (p.keyLen > 0 || p.bodyLen > 0)) return;
      this.#fifo.shift();
      this.#stats.exchanges++;
      const status = binaryError(p.status);
      const rows = head.get ? (p.status === 0 ? 1 : 0) : undefined;
      this.#report(head, p.endNs, tid, { status, rows });
      return;
    }
  }

  // ---- shared -------------------------------------------------------------------------

  /** A quiet request proven answered by silence: success (a miss, for a quiet get), at its request. */
  #silent(o: Op): void {
    this.#stats.exchanges++;
    const rows = o.get ? (o.opcode !== undefined && QUIET_GETS.has(o.opcode) ? 0 : o.op === 'mg' ? 0 : undefined) : undefined;
    this.#report(o, o.endNs, undefined, { rows });
  }

  #push(o: Op): void {
    this.#tailGap = false;
    const out = this.#fifo.push(o, o.startNs);
    if (out && !out.gap) this.#stats.expired++;
  }

  #requestLost(error: boolean, atNs: number): void {
    if (error) this.#stats.parseErrors++;
    if (this.#tailGap) return;
    this.#tailGap = true;
    const out = this.#fifo.push({ gap: true, startNs: atNs }, atNs);
    if (out && !out.gap) this.#stats.expired++;
  }

  #responseLost(error: boolean, atNs: number): void {
    if (error) this.#stats.parseErrors++;
    if (this.#fifo.peek()?.gap === true) return;
    // the lost bytes may answer any request still waiting: none can be paired safely
    for (const p of this.#fifo.drain()) if (!p.gap) this.#stats.expired++;
    this.#tailGap = false;
    this.#requestLost(false, atNs);
  }

  /** After a capture gap: does pairing resume with this response segment? */
  #beforeResponses(seg: Segment, ready: boolean): void {
    if (this.#fifo.peek()?.gap !== true) return;
    let i = 0;
    while (this.#fifo.at(i)?.gap === true) i++;
    const next = this.#fifo.at(i);
    if (next === undefined || seg.exitNs <= next.startNs || !ready) return;
    for (; i > 0; i--) this.#fifo.shift();
  }

  #report(o: Op, endNs: number, responseTid: number | undefined, x: { status?: string | undefined; rows?: number | undefined; failure?: DbOperationRecord['failure'] }): void {
    const conn = this.#conn;
    if (conn === undefined) return;
    const r: DbOperationRecord = {
      system: 'memcached',
      role: this.role,
      conn: connInfo(conn),
      operation: o.op,
      queryText: o.text,
      startNs: o.startNs,
      endNs: Math.max(endNs, o.startNs),
      requestTid: o.tid,
    };
    if (x.status !== undefined) {
      r.statusCode = x.status;
      r.errorType = x.status;
    }
    if (x.rows !== undefined) r.returnedRows = x.rows;
    if (x.failure) r.failure = x.failure;
    if (responseTid !== undefined) r.responseTid = responseTid;
    this.#ctx.db.onOperation(r);
  }

  onClose(conn: Connection, atNs: number, reason: 'closed' | 'evicted'): void {
    this.#conn = conn;
    for (const p of this.#fifo.drain()) {
      if (p.gap) continue;
      // a quiet request with nothing after it: its silence was its answer
      if (p.quiet) {
        this.#silent(p);
        continue;
      }
      // quit asks for the close: the close is its answer
      if (p.op === 'quit' && reason === 'closed') {
        this.#report(p, Math.max(atNs, p.endNs), undefined, {});
        continue;
      }
      this.#stats.expired++;
      this.#report(p, Math.max(atNs, p.endNs), undefined, { failure: reason === 'closed' ? 'connection_closed' : 'evicted' });
    }
  }

  expire(conn: Connection, nowNs: number): void {
    if (this.#fifo.peek()?.gap === true) return;
    this.#conn = conn;
    for (const p of this.#fifo.expire(nowNs, this.#ctx.timeoutNs)) {
      if (p.gap) continue;
      if (p.quiet) {
        this.#silent(p);
        continue;
      }
      this.#stats.expired++;
      this.#report(p, nowNs, undefined, { failure: 'timeout' });
    }
  }
}
