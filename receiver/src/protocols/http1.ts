/**
 * HTTP/1.0 and HTTP/1.1 messages from captured socket segments (RFC 9112).
 * https://www.rfc-editor.org/rfc/rfc9112
 *
 * One parser per connection and direction. Segments arrive as syscalls moved them:
 * a message may span many segments and a segment may hold several messages. Each
 * segment carries only a captured prefix of its bytes; body bytes that were not
 * captured are skipped by count, so framing survives truncation as long as no head
 * or chunk-size line falls in the lost bytes. When one does, the message is reported
 * with `truncated: true` and the parser resynchronises at the next segment that
 * starts like a message.
 *
 * Example (a server's egress: two keep-alive responses, the second in two writes):
 *   const p = new Http1Parser({ side: 'response', requestMethod: (i) => methods[i] });
 *   p.push(seg('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe'));
 *     // → [{ kind: 'message', message: { type: 'response', status: 204, bodySize: 0, ... } }]
 *   p.push(seg('llo'));
 *     // → [{ kind: 'message', message: { status: 200, bodySize: 5, startNs: <first seg's enterNs>,
 *     //                                   endNs: <this seg's exitNs>, ... } }]
 */
import { KindlingError } from '../errors';
import { CR, LF } from './cursor';
import { ChunkedDecoder } from './http1-chunked';
import { badStartPrefix, emptyLineEnd, looksLikeRequest, looksLikeResponse, parseHead } from './http1-head';
import type { ParsedHead } from './http1-head';
import type { Http1Event, Http1ParserOptions, Http1Stats, HttpMessage } from './http1-types';
import { SpanBuffer } from './span-buffer';
import type { Segment } from './types';
import { segmentLength } from './types';

export { looksLikeRequest, looksLikeResponse } from './http1-head';
export type { Http1Event, Http1ParserOptions, Http1Stats, HttpHeaders, HttpMessage } from './http1-types';

const enum St {
  Head,
  Body,
  Chunked,
  UntilClose,
  // not parsing: from here on whole segments are skipped
  Resync,
  Upgraded,
  Closed,
}

/** The shortest message there is, "HTTP/1.1 200\n\n": fewer uncaptured bytes cannot start one. */
const MIN_MESSAGE = 14;

export class Http1Parser {
  readonly stats: Http1Stats = { messages: 0, errors: 0, resyncs: 0, skippedSegments: 0 };
  private readonly side: 'request' | 'response';
  private readonly requestMethod: ((i: number) => string | undefined) | undefined;
  private readonly max: number;
  private state = St.Head;
  /** a head or chunk-size line that spans segments (most are parsed in place) */
  private readonly span: SpanBuffer;
  private readonly chunked: ChunkedDecoder;
  /** emptyLineEnd state between segments */
  private nl = 0;
  private msg: HttpMessage | undefined;
  /** Content-Length body bytes still to come */
  private remaining = 0;
  private bodySize = 0;
  private startNs = 0;
  private lastExitNs = 0;
  private finals = 0;

  constructor(options: Http1ParserOptions) {
    const { side, requestMethod, maxHeaderBytes = 65536 } = options;
    if (side !== 'request' && side !== 'response') {
      throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `http1: side must be 'request' or 'response', got ${String(side)}`);
    }
    if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 64) {
      throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `http1: maxHeaderBytes must be an integer >= 64, got ${String(maxHeaderBytes)}`);
    }
    this.side = side;
    this.requestMethod = requestMethod;
    this.max = maxHeaderBytes;
    this.span = new SpanBuffer(maxHeaderBytes);
    this.chunked = new ChunkedDecoder(this.span);
  }

  /** Memory held for bytes spanning segments (allocated, not just used); never above maxHeaderBytes. */
  get bufferedBytes(): number {
    return this.span.capacity;
  }

  /** Never throws, whatever the bytes. */
  push(segment: Segment): Http1Event[] {
    const out: Http1Event[] = [];
    try {
      this.consume(segment, out);
    } catch (e) {
      // a bug, never the bytes: report it rather than take the pipeline down
      this.fail(`internal error: ${String(e)}`, segment.enterNs, out);
    }
    return out;
  }

  /**
   * The connection closed: completes a read-until-close body; a message cut short is
   * reported truncated. endNs is still the exitNs of the message's last segment.
   */
  end(_atNs: number): Http1Event[] {
    const out: Http1Event[] = [];
    const endNs = this.lastExitNs;
    try {
      const s = this.state;
      if (s === St.Head && this.span.length > 0) {
        const r = parseHead(this.span.view(), 0, this.span.length, this.side);
        if (typeof r === 'string') this.fail(r, endNs, out);
        else this.cut(r, endNs, out);
      } else if (s === St.UntilClose) this.complete(endNs, this.bodySize, false, out);
      else if (s === St.Body) this.complete(endNs, undefined, true, out);
      else if (s === St.Chunked) this.complete(endNs, this.chunked.lastChunk ? this.chunked.bodySize : undefined, true, out);
    } catch (e) {
      this.fail(`internal error: ${String(e)}`, endNs, out);
    }
    this.switchProtocols();
    this.state = St.Closed;
    return out;
  }

  /**
   * Stops parsing; later segments are skipped. For a request direction whose peer
   * accepted an upgrade (101, or 2xx to CONNECT), which only the response shows.
   */
  switchProtocols(): void {
    if (this.state !== St.Closed) this.state = St.Upgraded;
    this.msg = undefined;
    this.span.free();
  }

  private consume(seg: Segment, out: Http1Event[]): void {
    const data = seg.data;
    const total = segmentLength(seg);
    if (total === 0) return;
    if (this.state >= St.Resync) {
      const starts = this.side === 'request' ? looksLikeRequest(data) : looksLikeResponse(data);
      if (this.state !== St.Resync || !starts) {
        this.stats.skippedSegments++;
        return;
      }
      this.state = St.Head;
    }
    let pos = 0;
    while (pos < total) {
      switch (this.state) {
        case St.Head:
          pos = this.head(seg, pos, total, out);
          break;
        case St.Body: {
          // by count: the same whether these bytes were captured or not
          const n = Math.min(this.remaining, total - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.complete(seg.exitNs, this.bodySize, false, out);
          break;
        }
        case St.Chunked:
          pos = this.chunkedBody(seg, pos, total, out);
          break;
        case St.UntilClose:
          this.bodySize += total - pos;
          pos = total;
          break;
        default:
          pos = total;
      }
    }
    this.lastExitNs = seg.exitNs;
  }

  private head(seg: Segment, pos: number, total: number, out: Http1Event[]): number {
    if (this.span.length > 0) return this.headContinued(seg, total, out);
    const data = seg.data;
    const cap = data.length;
    // blank lines between messages are ignored (RFC 9112 section 2.2)
    while (pos < cap && (data[pos] === CR || data[pos] === LF)) pos++;
    if (pos === total) return total;
    this.startNs = seg.enterNs;
    // the common case, a head within one segment, is parsed in place in one pass
    const r = parseHead(data, pos, cap, this.side);
    if (typeof r === 'string') return this.fail(r, seg.enterNs, out, total);
    if (r.end >= 0) {
      if (r.end - pos > this.max) return this.fail(`head exceeds maxHeaderBytes (${this.max})`, seg.enterNs, out, total);
      this.frame(r, seg, out);
      return r.end;
    }
    // judged by its first bytes, garbage fails at once rather than at maxHeaderBytes
    const bad = badStartPrefix(data.subarray(pos, cap), this.side);
    if (bad !== undefined) return this.fail(bad, seg.enterNs, out, total);
    if (cap - pos >= this.max) return this.fail(`head exceeds maxHeaderBytes (${this.max})`, seg.enterNs, out, total);
    if (cap < total) {
      // the head runs on into bytes not captured (it may lie wholly in them); fewer bytes than
      // the shortest message are noise, such as a blank line
      if (total - pos < MIN_MESSAGE) this.loseSync();
      else this.cut(r, seg.exitNs, out);
      return total;
    }
    this.span.append(data.subarray(pos, cap));
    // where the empty-line scan resumes: after LF, after LF CR, or inside a line
    const last = data[cap - 1];
    this.nl = last === LF ? 1 : last === CR && cap - 2 >= pos && data[cap - 2] === LF ? 2 : 0;
    return cap;
  }

  /** A head that began in an earlier segment: copied into the span buffer until its end. */
  private headContinued(seg: Segment, total: number, out: Http1Event[]): number {
    const data = seg.data;
    const cap = data.length;
    const r = emptyLineEnd(data, 0, cap, this.nl);
    const end = r >= 0 ? r : cap;
    this.nl = r >= 0 ? 0 : -1 - r;
    if (!this.span.append(data.subarray(0, end)) || (r < 0 && this.span.length >= this.max)) {
      return this.fail(`head exceeds maxHeaderBytes (${this.max})`, seg.enterNs, out, total);
    }
    const head = this.span.view();
    if (r < 0) {
      const bad = badStartPrefix(head, this.side);
      if (bad !== undefined) return this.fail(bad, seg.enterNs, out, total);
      if (cap === total) return total;
    }
    this.span.clear(); // `head` still views the bytes: they are parsed before anything is appended
    const p = parseHead(head, 0, head.length, this.side);
    if (typeof p === 'string') return this.fail(p, seg.enterNs, out, total);
    if (r >= 0) this.frame(p, seg, out);
    else this.cut(p, seg.exitNs, out);
    return r >= 0 ? end : total;
  }

  /** Decides the body framing of a parsed head (RFC 9112 section 6.3). */
  private frame(r: ParsedHead, seg: Segment, out: Http1Event[]): void {
    const m = r.message;
    m.startNs = this.startNs;
    this.msg = m;
    this.bodySize = 0;
    if (m.type === 'request') {
      // chunked, else Content-Length, else no body
      if (!r.transferCoded) this.lengthBody(r.contentLength ?? 0, seg, out);
      else if (r.chunked) this.startChunked();
      else this.fail('request Transfer-Encoding does not end in chunked', seg.enterNs, out);
      return;
    }
    const status = m.status ?? 0;
    if (m.informational) return this.complete(seg.exitNs, 0, false, out);
    const method = this.askMethod(status >= 200);
    if (method === 'CONNECT' && status >= 200 && status < 300) m.upgrade = true;
    if (m.upgrade || method === 'HEAD' || status === 204 || status === 304) {
      this.complete(seg.exitNs, 0, false, out);
      if (m.upgrade) this.state = St.Upgraded;
    } else if (r.chunked) this.startChunked();
    else if (!r.transferCoded && r.contentLength !== undefined) this.lengthBody(r.contentLength, seg, out);
    else this.state = St.UntilClose;
  }

  /** Reports what a head cut short shows; the message ends at `endNs` and sync is lost. */
  private cut(r: ParsedHead, endNs: number, out: Http1Event[]): void {
    this.span.clear();
    const m = r.message;
    m.startNs = this.startNs;
    this.msg = m;
    if (m.type === 'response' && !m.informational) {
      const s = m.status;
      if (this.askMethod(s !== undefined && s >= 200 && s < 300) === 'CONNECT') m.upgrade = true;
    }
    this.complete(endNs, undefined, true, out);
    if (m.upgrade) this.state = St.Upgraded;
    else this.loseSync();
  }

  /** Counts a final response and, when `ask`, returns the method of the request it answers. */
  private askMethod(ask: boolean): string | undefined {
    const i = this.finals++;
    if (!ask || this.requestMethod === undefined) return undefined;
    try {
      return this.requestMethod(i);
    } catch {
      return undefined; // the caller's bug must not break parsing
    }
  }

  private lengthBody(n: number, seg: Segment, out: Http1Event[]): void {
    if (n === 0) return this.complete(seg.exitNs, 0, false, out);
    this.state = St.Body;
    this.remaining = n;
    this.bodySize = n;
  }

  private startChunked(): void {
    this.state = St.Chunked;
    this.chunked.reset();
  }

  private chunkedBody(seg: Segment, pos: number, total: number, out: Http1Event[]): number {
    const d = this.chunked;
    const end = d.push(seg.data, pos, total);
    if (d.phase === 'done') this.complete(seg.exitNs, d.bodySize, false, out);
    else if (d.phase === 'error') this.fail(d.error, seg.enterNs, out);
    else if (d.phase === 'lost') {
      // framing fell in bytes not captured: the message ends with this segment
      this.complete(seg.exitNs, d.lastChunk ? d.bodySize : undefined, true, out);
      this.loseSync();
    }
    return end;
  }

  private complete(endNs: number, bodySize: number | undefined, truncated: boolean, out: Http1Event[]): void {
    const m = this.msg;
    this.msg = undefined;
    this.state = St.Head;
    this.span.clear();
    if (m === undefined) return;
    m.endNs = endNs;
    m.bodySize = bodySize;
    m.truncated = truncated;
    this.stats.messages++;
    out.push({ kind: 'message', message: m });
  }

  /** Reports an error and resynchronises; returns `ret` for the caller's convenience. */
  private fail(reason: string, atNs: number, out: Http1Event[], ret = 0): number {
    this.stats.errors++;
    out.push({ kind: 'error', reason, atNs });
    this.loseSync();
    return ret;
  }

  /** Parsing resumes at the next segment that starts like a message. */
  private loseSync(): void {
    this.state = St.Resync;
    this.stats.resyncs++;
    this.msg = undefined;
    this.span.clear();
  }
}
