/**
 * PostgreSQL messages out of one direction of a connection's captured segments.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 *
 * A message may span segments and a segment may hold many; each segment's bytes
 * past its captured prefix are unknown but counted, so bodies are skipped by their
 * length whether captured or not. Only a header (type byte and length) that falls
 * in uncaptured bytes loses the framing; so does a header that breaks the rules
 * (a parse error). Then the framer waits for a segment that starts with a run of
 * well-formed messages ("head" resync), or, for the backend, one wholly captured
 * segment that ends with ReadyForQuery ("tail" resync: the end of a large result
 * whose middle was not captured).
 *
 * Example (a client's reads: a CommandComplete split between two reads):
 *   const f = new PgFramer('backend', interest, events);
 *   f.push(seg('C\0\0\0\x0dSEL'));        // nothing yet
 *   f.push(seg('ECT 1\0Z\0\0\0\x05I'));   // events.message(C "SELECT 1"), events.message(Z 'I')
 */
import { chain, plausibleBody, untypedKind } from './postgres-checks';
import { MAX_STARTUP, i32, validHeader } from './postgres-wire';
import type { Side } from './postgres-wire';
import { SpanBuffer } from './span-buffer';
import type { Segment } from './types';
import { segmentLength } from './types';

export type MessageKind = 'typed' | 'untyped' | 'reply';

/** A message as framed; the same object is refilled for the next one: read it, do not keep it. */
export interface PgMessage {
  kind: MessageKind;
  /** the type byte; 0 for untyped startup-phase messages; the byte itself for a one-byte reply */
  type: number;
  /** the Int32 length as sent (it counts itself); 1 for a reply */
  length: number;
  /** the body's captured prefix (after type and length), at most the interest in bytes; valid during the callback only */
  body: Uint8Array;
  /** `body` is all of the body */
  whole: boolean;
  /** enterNs of the segment with the first byte, exitNs of the one with the last */
  startNs: number;
  endNs: number;
}

export interface FramerEvents {
  message(m: PgMessage): void;
  /** at a message boundary: is the next byte a one-byte answer to SSLRequest or GSSENCRequest? */
  expectReply?(): boolean;
  /** framing was lost: `reason` for bytes that break the protocol, undefined for a header that was not captured */
  lost(reason: string | undefined, atNs: number): void;
  /** framing found again at this segment; `lastLostExitNs` is the exit of the last segment consumed without it */
  resync(how: 'head' | 'tail', seg: Segment, lastLostExitNs: number): void;
  /** TLS (or another encryption) follows: nothing more to parse */
  encrypted(): void;
}

const enum St {
  Header,
  Body,
  Lost,
  Dormant,
}

/** The longest tail a "tail" resync looks back over for the message before ReadyForQuery. */
const MAX_TAIL = 2048;
const EMPTY = new Uint8Array(0);

export interface FramerStats {
  messages: number;
  lost: number;
  resyncs: number;
  skippedSegments: number;
}

export class PgFramer {
  readonly side: Side;
  readonly stats: FramerStats = { messages: 0, lost: 0, resyncs: 0, skippedSegments: 0 };
  /** frontend only: startup-phase messages have no type byte */
  untyped = false;
  private readonly interest: Int32Array;
  private readonly ev: FramerEvents;
  private state = St.Header;
  private readonly hdr = new Uint8Array(5);
  private hdrLen = 0;
  private type = 0;
  private length = 0;
  private kind: MessageKind = 'typed';
  private remaining = 0;
  private keep = -1;
  private gap = false;
  private readonly span: SpanBuffer;
  private startNs = 0;
  private lastLostExitNs = 0;
  /** the one message object handed to events.message, refilled for each message (no allocation per message) */
  private readonly msg: PgMessage = { kind: 'typed', type: 0, length: 0, body: EMPTY, whole: true, startNs: 0, endNs: 0 };

  /**
   * `interest[type]`: -1 to skip the message unseen, 0 to report it without its body,
   * n > 0 to report it with up to n body bytes (index 0 is for untyped messages).
   */
  constructor(side: Side, interest: Int32Array, events: FramerEvents, maxBody = 16384) {
    this.side = side;
    this.interest = interest;
    this.ev = events;
    this.span = new SpanBuffer(maxBody);
  }

  get lostFraming(): boolean {
    return this.state === St.Lost;
  }

  /** Memory held for a body spanning segments. */
  get bufferedBytes(): number {
    return this.span.capacity;
  }

  /** Nothing more is parsed (TLS, or the session gave up). */
  stop(): void {
    this.state = St.Dormant;
    this.span.free();
  }

  /** Never throws, whatever the bytes. */
  push(seg: Segment): void {
    try {
      this.consume(seg);
    } catch (e) {
      // a bug, never the bytes: report it rather than take the pipeline down
      if (this.state !== St.Dormant) this.lose(`internal error: ${String(e)}`, seg);
    }
  }

  private consume(seg: Segment): void {
    const cap = seg.data.length;
    const total = segmentLength(seg);
    if (total === 0 || this.state === St.Dormant) return;
    if (this.state === St.Lost) {
      const how = this.resync(seg, cap, total);
      if (how === undefined) {
        this.stats.skippedSegments++;
        this.lastLostExitNs = seg.exitNs;
      }
      // a tail resync has reported the segment's last messages: nothing else in it is framed
      if (how !== 'head') return;
    }
    let pos = 0;
    while (pos < total) {
      if (this.state === St.Header) pos = this.header(seg, pos, cap, total);
      else if (this.state === St.Body) pos = this.body(seg, pos, cap, total);
      else break;
    }
  }

  private header(seg: Segment, pos: number, cap: number, total: number): number {
    const data = seg.data;
    if (this.hdrLen === 0) {
      this.startNs = seg.enterNs;
      if (this.ev.expectReply?.()) {
        if (pos >= cap) return this.lose(undefined, seg);
        this.kind = 'reply';
        this.emit(data[pos] ?? 0, 1, EMPTY, true, seg.exitNs);
        return pos + 1;
      }
      // a TLS record where a startup-phase message should be: the answer to SSLRequest was 'S'
      if (this.untyped && pos < cap && data[pos] === 0x16) {
        this.ev.encrypted();
        this.stop();
        return total;
      }
    }
    const need = this.untyped ? 4 : 5;
    while (this.hdrLen < need && pos < cap) this.hdr[this.hdrLen++] = data[pos++] ?? 0;
    if (this.hdrLen < need) return pos < total ? this.lose(undefined, seg) : total;
    this.hdrLen = 0;
    if (this.untyped) {
      this.kind = 'untyped';
      this.type = 0;
      this.length = i32(this.hdr, 0);
      if (this.length < 8 || this.length > MAX_STARTUP) return this.lose(`startup-phase message length ${this.length}`, seg);
    } else {
      this.kind = 'typed';
      this.type = this.hdr[0] ?? 0;
      this.length = i32(this.hdr, 1);
      if (!validHeader(this.side, this.type, this.length)) {
        return this.lose(`${this.side} message ${JSON.stringify(String.fromCharCode(this.type))} with length ${this.length}`, seg);
      }
    }
    this.remaining = this.length - 4;
    this.keep = this.interest[this.type] ?? -1;
    this.gap = false;
    this.span.clear();
    this.state = St.Body;
    if (this.remaining === 0) this.finish(EMPTY, true, seg.exitNs);
    return pos;
  }

  private body(seg: Segment, pos: number, cap: number, total: number): number {
    const n = Math.min(this.remaining, total - pos);
    const keep = this.keep;
    let view: Uint8Array | undefined;
    if (keep > 0 && !this.gap) {
      const capEnd = Math.min(pos + n, cap);
      const bodyLen = this.length - 4;
      if (this.span.length === 0 && this.remaining === bodyLen && n === bodyLen && capEnd === pos + n) {
        // the common case: the whole body in this segment, captured: a view, no copy
        view = seg.data.subarray(pos, pos + Math.min(n, keep));
      } else {
        const room = keep - this.span.length;
        if (room > 0 && capEnd > pos) this.span.append(seg.data.subarray(pos, Math.min(capEnd, pos + room)));
        if (capEnd < pos + n) this.gap = true;
      }
    }
    this.remaining -= n;
    pos += n;
    if (this.remaining === 0) {
      if (view !== undefined) this.finish(view, view.length === this.length - 4, seg.exitNs);
      else this.finish(keep > 0 ? this.span.view() : EMPTY, keep > 0 && !this.gap && this.span.length === this.length - 4, seg.exitNs);
    }
    return pos;
  }

  private finish(body: Uint8Array, whole: boolean, endNs: number): void {
    this.state = St.Header;
    if (this.keep >= 0) this.emit(this.type, this.length, body, whole, endNs);
    this.span.clear();
  }

  private emit(type: number, length: number, body: Uint8Array, whole: boolean, endNs: number): void {
    this.stats.messages++;
    const m = this.msg;
    m.kind = this.kind;
    m.type = type;
    m.length = length;
    m.body = body;
    m.whole = whole;
    m.startNs = this.startNs;
    m.endNs = endNs;
    this.ev.message(m);
    m.body = EMPTY;
  }

  /** Framing is gone: the rest of this segment is skipped; later ones until a resync. */
  private lose(reason: string | undefined, seg: Segment): number {
    this.stats.lost++;
    this.state = St.Lost;
    this.hdrLen = 0;
    this.span.clear();
    this.lastLostExitNs = seg.exitNs;
    this.ev.lost(reason, seg.enterNs);
    return Number.MAX_SAFE_INTEGER;
  }

  /** Can parsing start again at this segment: from its start ('head'), or only at its end ('tail')? */
  private resync(seg: Segment, cap: number, total: number): 'head' | 'tail' | undefined {
    const data = seg.data;
    if (this.untyped) {
      if (untypedKind(data) !== undefined) {
        this.stats.resyncs++;
        this.state = St.Header;
        this.ev.resync('head', seg, this.lastLostExitNs);
        return 'head';
      }
    }
    const c = chain(this.side, data);
    // one message alone must be whole and fill the segment; more are checked against each other
    if (c && (c.messages >= 2 || (c.messages === 1 && cap === total && c.end === total))) {
      // the startup message went unseen: what follows it is typed
      this.untyped = false;
      this.stats.resyncs++;
      this.state = St.Header;
      this.ev.resync('head', seg, this.lastLostExitNs);
      return 'head';
    }
    if (this.side === 'backend' && cap === total && this.tail(seg, cap)) return 'tail';
    return undefined;
  }

  /** A wholly captured segment ending with ReadyForQuery: report it and the message just before it. */
  private tail(seg: Segment, cap: number): boolean {
    const data = seg.data;
    const z = cap - 6;
    if (z < 0 || data[z] !== 0x5a || i32(data, z + 1) !== 5 || !plausibleBody('backend', 0x5a, data.subarray(z + 5, cap), true)) return false;
    this.stats.resyncs++;
    this.state = St.Header;
    this.ev.resync('tail', seg, this.lastLostExitNs);
    this.startNs = seg.enterNs;
    this.kind = 'typed';
    // CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse, ending where Z starts
    for (let p = z - 5; p >= Math.max(0, z - MAX_TAIL); p--) {
      const t = data[p] ?? 0;
      if (t !== 0x43 && t !== 0x49 && t !== 0x73 && t !== 0x45) continue;
      const len = i32(data, p + 1);
      if (p + 1 + len !== z || !validHeader('backend', t, len)) continue;
      const body = data.subarray(p + 5, z);
      if (!plausibleBody('backend', t, body, true)) continue;
      const keep = this.interest[t] ?? -1;
      if (keep >= 0) this.emit(t, len, keep > 0 ? body.subarray(0, keep) : EMPTY, keep >= body.length, seg.exitNs);
      break;
    }
    if ((this.interest[0x5a] ?? -1) >= 0) this.emit(0x5a, 5, data.subarray(z + 5, cap), true, seg.exitNs);
    return true;
  }
}
