/**
 * The memcached text protocol (classic and meta commands) from captured segments.
 * https://github.com/memcached/memcached/blob/master/doc/protocol.txt
 *
 * Requests are lines; storage commands (set add replace append prepend cas, and
 * meta ms) are followed by a data block of a length the line gives, skipped by count.
 * Responses are a line, or for retrievals and statistics a series of lines ended
 * by END: "VALUE <key> <flags> <bytes> [<cas>]" (each followed by its data block, one
 * per hit), "STAT ...", "ITEM ...". Meta "VA <size> ..." is followed by a data block.
 * Response framing needs no request: a VALUE or STAT line opens a series, END
 * closes it, anything else is a one-line response. A line lost to capture truncation
 * ends the message (reported `truncated`) and the parser resynchronises at the next
 * segment that starts with a command (requests) or a response word (responses).
 *
 * Example:
 *   const p = new McTextParser('request', fingerprint);
 *   p.push(seg('get a b c\r\nset k 0 0 5 noreply\r\nhello\r\n'));
 *   // → [{ op: 'get', keys: 3, text: 'get ? ? ?', ... }, { op: 'set', noreply: true, text: 'set ? ? ? ? noreply', ... }]
 */
import { LF, latin1 } from './cursor';
import { ERRORS, isMcCommand, isNumber, KEEP, looksLikeResponse, looksLikeTextCommand, MAX_BLOCK, MAX_LINE, parseCommand, SERIES, tokenize } from './memcached-commands';
import type { Segment } from './types';
import { segmentLength } from './types';

export { looksLikeResponse, looksLikeTextCommand } from './memcached-commands';

export interface McRequest {
  /** the command as memcached spells it (lower case); "unknown" for a line memcached will answer ERROR */
  op: string;
  keys: number;
  /** text noreply: no response will come */
  noreply: boolean;
  /** meta q flag: the nominal response is suppressed */
  quiet: boolean;
  /** meta O flag (opaque), echoed by the response */
  opaque?: string;
  /** meta: the flag letters ("vq" for "mg k v q") */
  flags?: string;
  text: string;
  startNs: number;
  endNs: number;
  truncated: boolean;
}

export interface McResponse {
  /** the first word of the response's last line: END, STORED, NOT_FOUND, HD, EN, VA, MN, ERROR, a number, ... */
  code: string;
  /** VALUE blocks (retrievals) or 1 for a meta VA */
  hits: number;
  /** ERROR, CLIENT_ERROR, SERVER_ERROR */
  error: string | undefined;
  opaque?: string;
  startNs: number;
  endNs: number;
  truncated: boolean;
}

export type McTextEvent =
  | { kind: 'request'; request: McRequest }
  | { kind: 'response'; response: McResponse }
  | { kind: 'lost'; reason: string; error: boolean; atNs: number };

const enum St {
  Line,
  Block,
  Lost,
}

export class McTextParser {
  readonly stats = { messages: 0, errors: 0, resyncs: 0, skippedSegments: 0 };
  private readonly request: boolean;
  private readonly fingerprint: boolean;
  private st = St.Line;
  private readonly line = new Uint8Array(KEEP);
  private kept = 0;
  private total = 0;
  private blockLeft = 0;
  private startNs = -1;
  private req: McRequest | undefined;
  private res: McResponse | undefined;
  private seg: Segment | undefined;
  private out: McTextEvent[] = [];

  constructor(side: 'request' | 'response', fingerprint = true) {
    this.request = side === 'request';
    this.fingerprint = fingerprint;
  }

  get lost(): boolean {
    return this.st === St.Lost;
  }

  get atBoundary(): boolean {
    return this.st === St.Line && this.total === 0 && this.res === undefined && this.req === undefined;
  }

  /** Never throws, whatever the bytes. */
  push(seg: Segment): McTextEvent[] {
    this.out = [];
    this.seg = seg;
    try {
      this.consume(seg);
    } catch (e) {
      this.lose(`internal error: ${String(e)}`, true);
    }
    this.seg = undefined;
    return this.out;
  }

  private consume(seg: Segment): void {
    const data = seg.data;
    const cap = data.length;
    const total = segmentLength(seg);
    if (total === 0) return;
    if (this.st === St.Lost) {
      if (!(this.request ? looksLikeTextCommand(data) : looksLikeResponse(data))) {
        this.stats.skippedSegments++;
        return;
      }
      this.st = St.Line;
    }
    let pos = 0;
    while (pos < total && (this.st as St) !== St.Lost) {
      if (this.st === St.Block) {
        const n = Math.min(this.blockLeft, total - pos);
        const lfAt = pos + this.blockLeft - 1; // the block's closing LF, when in this segment and captured
        if (lfAt < pos + n && lfAt < cap && data[lfAt] !== LF) return void this.lose('a data block not ended by CRLF', true);
        pos += n;
        this.blockLeft -= n;
        if (this.blockLeft === 0) this.blockDone();
        continue;
      }
      if (pos >= cap) return void this.lose('a line in bytes the capture did not copy', false);
      if (this.startNs < 0) this.startNs = seg.enterNs;
      const lf = data.indexOf(LF, pos);
      const end = lf < 0 ? cap : lf;
      const room = KEEP - this.kept;
      if (room > 0 && end > pos) {
        const k = Math.min(room, end - pos);
        this.line.set(data.subarray(pos, pos + k), this.kept);
        this.kept += k;
      }
      this.total += end - pos;
      if (this.total > MAX_LINE) return void this.lose('line too long', true);
      if (lf < 0) {
        if (cap < total) return void this.lose('a line runs into bytes the capture did not copy', false);
        return;
      }
      pos = lf + 1;
      const kept = this.kept;
      const text = latin1(this.line, 0, kept).replace(/\r$/, '');
      const whole = this.total <= KEEP;
      this.kept = this.total = 0;
      if (this.request) this.onRequestLine(text, whole);
      else this.onResponseLine(text);
    }
  }

  private onRequestLine(text: string, whole: boolean): void {
    const seg = this.seg;
    const tokens = tokenize(text);
    const startNs = this.startNs;
    this.startNs = -1;
    const parsed = whole || tokens[0] === 'get' || tokens[0] === 'gets' ? parseCommand(tokens, this.fingerprint) : 'line too long';
    let req: McRequest;
    let block = -1;
    if (typeof parsed === 'string') {
      // memcached answers a line it cannot use with an error: still one request, one response
      const word = tokens[0] ?? '';
      req = { op: isMcCommand(word) ? word : 'unknown', keys: 0, noreply: false, quiet: false, text: isMcCommand(word) ? word : 'unknown', startNs, endNs: 0, truncated: false };
    } else {
      req = { ...parsed.req, startNs, endNs: 0, truncated: false };
      block = parsed.block;
    }
    if (block >= 0) {
      this.req = req;
      this.blockLeft = block + 2;
      this.st = St.Block;
      return;
    }
    req.endNs = seg?.exitNs ?? startNs;
    this.emitRequest(req);
  }

  private onResponseLine(text: string): void {
    const words = text.split(' ');
    const word = words[0] ?? '';
    const r = (this.res ??= { code: '', hits: 0, error: undefined, startNs: this.startNs, endNs: 0, truncated: false });
    if (word === 'VALUE' || word === 'VA') {
      const size = words[word === 'VALUE' ? 3 : 1];
      if (!isNumber(size) || Number(size) > MAX_BLOCK) return void this.lose(`a bad ${word} line`, true);
      r.hits++;
      if (word === 'VA') {
        r.code = 'VA';
        this.metaFlags(r, words, 2);
      }
      this.blockLeft = Number(size) + 2;
      this.st = St.Block;
      return;
    }
    if (r.hits > 0 && r.code !== 'VA') {
      // inside a series of VALUE blocks: END (or an error) closes it
      if (word === 'END' || ERRORS.has(word)) return this.finish(word);
      return void this.lose(`unexpected ${word.slice(0, 16)} after VALUE`, true);
    }
    if (SERIES.has(word) || word.startsWith('key=')) {
      r.code = 'series';
      return;
    }
    this.finish(word);
  }

  private metaFlags(r: McResponse, words: string[], from: number): void {
    for (let i = from; i < words.length; i++) if (words[i]?.[0] === 'O') r.opaque = words[i]?.slice(1);
  }

  private finish(word: string): void {
    const r = this.res;
    if (r === undefined) return;
    this.res = undefined;
    this.startNs = -1;
    r.code = word;
    if (ERRORS.has(word)) r.error = word;
    r.endNs = this.seg?.exitNs ?? r.startNs;
    this.stats.messages++;
    this.out.push({ kind: 'response', response: r });
  }

  private blockDone(): void {
    this.st = St.Line;
    if (this.request) {
      const req = this.req;
      this.req = undefined;
      if (req) {
        req.endNs = this.seg?.exitNs ?? req.startNs;
        this.emitRequest(req);
      }
      return;
    }
    const r = this.res;
    if (r?.code === 'VA') {
      this.res = undefined;
      this.startNs = -1;
      r.endNs = this.seg?.exitNs ?? r.startNs;
      this.stats.messages++;
      this.out.push({ kind: 'response', response: r });
    }
  }

  private emitRequest(req: McRequest): void {
    this.stats.messages++;
    this.out.push({ kind: 'request', request: req });
  }

  private lose(reason: string, error: boolean): void {
    if (!error) {
      // a message cut short by truncation still happened: report what it shows
      if (this.req) {
        this.req.endNs = this.seg?.exitNs ?? this.req.startNs;
        this.req.truncated = true;
        this.emitRequest(this.req);
      } else if (this.res && this.res.hits > 0) {
        const r = this.res;
        r.truncated = true;
        r.code = r.code === 'VA' ? 'VA' : 'END';
        r.endNs = this.seg?.exitNs ?? r.startNs;
        this.out.push({ kind: 'response', response: r });
      }
    }
    if (error) this.stats.errors++;
    this.stats.resyncs++;
    this.out.push({ kind: 'lost', reason, error, atNs: this.seg?.enterNs ?? 0 });
    this.req = undefined;
    this.res = undefined;
    this.kept = this.total = 0;
    this.startNs = -1;
    this.blockLeft = 0;
    this.st = St.Lost;
  }
}
