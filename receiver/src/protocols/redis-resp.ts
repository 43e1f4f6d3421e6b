/**
 * RESP2 and RESP3 framing from captured socket segments.
 * https://redis.io/docs/latest/develop/reference/protocol-spec/
 *
 * One parser per connection and direction. It frames top-level values (a command,
 * a reply, a push) and keeps only what telemetry needs: the type, the first few
 * elements of an aggregate as strings (a command's name and arguments; a pub/sub
 * message's kind), the errors among an aggregate's direct elements (EXEC results),
 * a scalar's text. Bulk payloads are skipped by count, so bytes the capture did not
 * copy are skipped too; a header line lost in them ends the value (reported
 * `truncated`) and the parser resynchronises at the next segment that starts like a
 * value. Attributes (`|`) are folded into the value they annotate. Requests are
 * arrays of bulk strings or inline commands; empty ones (`*0`, a blank line) get
 * no reply and are not reported.
 *
 * Example (a client's ingress: two pipelined replies split across reads):
 *   const p = new RespParser({ side: 'reply' });
 *   p.push(seg('+OK\r\n$5\r\nhel'));   // → [{ kind: 'value', value: { type: 0x2b, text: 'OK', ... } }]
 *   p.push(seg('lo\r\n'));             // → [{ kind: 'value', value: { type: 0x24, count: 5, startNs: <first>, endNs: <this> } }]
 */
import { LF, latin1 } from './cursor';
import { looksLikeCommand, looksLikeInlineCommand } from './redis-detect';
import type { RespEvent, RespParserOptions, RespStats, RespValue } from './redis-resp-syntax';
import { copy, CRb, LineBuffer, isAggregate, isBlob, isReplyType, isScalarLine, lengthOf, MAX_DEPTH, MAX_ERRORS, MAX_HEADER, MAX_INLINE, MAX_LINE, plausibleReply, splitInline, T, TEXT_KEEP, validScalar } from './redis-resp-syntax';

export { isReplyType, plausibleReply, splitInline } from './redis-resp-syntax';
export type { RespEvent, RespParserOptions, RespStats, RespValue } from './redis-resp-syntax';
import type { Segment } from './types';
import { segmentLength } from './types';

const enum St {
  Start,
  Line,
  Bulk,
  Inline,
  Lost,
}

interface Frame {
  type: number;
  /** elements still to come (Infinity: streamed, until '.') */
  left: number;
  index: number;
}

export class RespParser {
  readonly stats: RespStats = { values: 0, errors: 0, resyncs: 0, skippedSegments: 0 };
  private readonly request: boolean;
  private readonly keep: number;
  private readonly itemBytes: number;
  private readonly itemsFor: ((command: string) => number) | undefined;
  /** elements kept of the current value */
  private want: number;
  private st = St.Start;
  private readonly stack: Frame[] = [];
  private cur: RespValue | undefined;
  /** the top-level value so far is only an attribute: the value it annotates comes next */
  private attrOnly = false;
  // the line being read when it spans segments
  private lineType = 0;
  private readonly ln = new LineBuffer();
  // bulk bytes still to skip, CRLF included; chunked: a streamed string ($?) awaiting its next ';' chunk
  private bulkLeft = 0;
  private bulkType = 0;
  private chunked = false;
  // the value being captured: a direct element of the top-level aggregate (depth 1), or a top-level bulk error (depth 0)
  private capDepth = -1;
  private capIndex = 0;
  private readonly cap: Uint8Array;
  private capLen = 0;
  private capLost = false;
  private seg: Segment | undefined;
  private out: RespEvent[] = [];

  constructor(o: RespParserOptions) {
    this.request = o.side === 'request';
    this.keep = Math.max(1, Math.min(64, o.keepItems ?? 3));
    this.itemBytes = Math.max(8, Math.min(4096, o.itemBytes ?? 64));
    this.itemsFor = o.itemsFor;
    this.want = this.keep;
    this.cap = new Uint8Array(this.itemBytes);
  }

  /** Never throws, whatever the bytes. */
  push(seg: Segment): RespEvent[] {
    const out: RespEvent[] = (this.out = []);
    this.seg = seg;
    try {
      this.consume(seg);
    } catch (e) {
      this.lose(`internal error: ${String(e)}`, true); // a bug, never the bytes
    }
    this.seg = undefined;
    return out;
  }

  /** True when no value is in progress (the next byte starts a new top-level value). */
  get atBoundary(): boolean {
    return this.st === St.Start && this.cur === undefined && !this.chunked;
  }

  get lost(): boolean {
    return this.st === St.Lost;
  }

  private consume(seg: Segment): void {
    const data = seg.data;
    const cap = data.length;
    const total = segmentLength(seg);
    if (total === 0) return;
    if (this.st === St.Lost) {
      if (!(this.request ? looksLikeCommand(data) || looksLikeInlineCommand(data, total) : plausibleReply(data))) {
        this.stats.skippedSegments++;
        return;
      }
      this.st = St.Start;
    }
    let pos = 0;
    while (pos < total && (this.st as St) !== St.Lost) {
      if (this.st === St.Bulk) pos = this.bulk(data, pos, cap, total);
      else if (pos >= cap) this.lose('a header in bytes the capture did not copy', false);
      else if (this.st === St.Start) pos = this.start(data, pos);
      else if (this.st === St.Line) pos = this.lineState(data, pos, cap, total);
      else pos = this.inline(data, pos, cap, total);
    }
  }

  private start(data: Uint8Array, pos: number): number {
    const b = data[pos] ?? 0;
    const depth = this.stack.length;
    if (this.chunked) {
      if (b !== T.chunk) return this.fail(`expected a ';' chunk, got 0x${b.toString(16)}`);
    } else if (b === T.end && depth > 0 && this.top().left === Infinity) {
      // the end of a streamed aggregate
    } else if (this.request) {
      if (depth === 0 && b !== T.array) {
        this.begin(0);
        this.st = St.Inline;
        return pos;
      }
      if (depth > 0 && b !== T.bulk) return this.fail(`a command's arguments are bulk strings, got 0x${b.toString(16)}`);
    } else if (!isReplyType(b)) return this.fail(`not a RESP type: 0x${b.toString(16)}`);
    if (depth === 0 && !this.chunked) {
      this.begin(b);
      if (b === T.bulkErr) this.capture(0, 0);
    } else if (depth === 1 && b !== T.attr && b !== T.end && !this.chunked && this.top().type !== T.attr) {
      // a direct element of the top-level aggregate: keep its text (errors always: EXEC's results)
      const index = this.top().index;
      if (index < this.want || b === T.error || b === T.bulkErr) this.capture(1, index);
      else this.capDepth = -1;
    }
    this.lineType = b;
    this.ln.clear();
    this.st = St.Line;
    return pos + 1;
  }

  private capture(depth: number, index: number): void {
    this.capDepth = depth;
    this.capIndex = index;
    this.capLen = 0;
    this.capLost = false;
  }

  /** A top-level value starts (or, after an attribute, the value it annotates). */
  private begin(type: number): void {
    const s = this.seg;
    if (this.cur === undefined) {
      this.cur = { type, text: undefined, count: 0, items: [], errors: undefined, startNs: s?.enterNs ?? 0, endNs: 0, truncated: false };
    } else {
      this.cur.type = type;
      this.cur.items = [];
      this.cur.errors = undefined;
    }
    this.attrOnly = false;
    this.want = this.keep;
  }

  private lineState(data: Uint8Array, pos: number, cap: number, total: number): number {
    const lf = data.indexOf(LF, pos);
    if (lf < 0) {
      this.ln.append(data, pos, cap);
      if (this.ln.total > (isScalarLine(this.lineType) ? MAX_LINE : MAX_HEADER)) return this.fail('line too long');
      if (cap < total) this.lose('a line runs into bytes the capture did not copy', false);
      return cap;
    }
    const prev = lf > pos ? data[lf - 1] : this.ln.last;
    if (prev !== CRb) return this.fail('a line not ended by CRLF');
    // the line as (bytes, start, kept length) without making a view: this is the hot path
    let buf = data;
    let start = pos;
    let kept = lf - 1 - pos;
    let len = kept;
    if (this.ln.total > 0) {
      this.ln.append(data, pos, lf);
      buf = this.ln.bytes;
      start = 0;
      kept = Math.max(0, this.ln.kept - (this.ln.total <= TEXT_KEEP ? 1 : 0));
      len = this.ln.total - 1;
    }
    if (len > (isScalarLine(this.lineType) ? MAX_LINE : MAX_HEADER)) return this.fail('line too long');
    this.onLine(buf, start, kept, len);
    return lf + 1;
  }

  /** A complete line, CRLF stripped: `buf[start, start + kept)` of its `len` bytes (kept <= len). */
  private onLine(buf: Uint8Array, start: number, kept: number, len: number): void {
    const t = this.lineType;
    if (t === T.chunk || isBlob(t)) {
      const plain = t === T.bulk && !this.chunked;
      const n = lengthOf(buf, start, len, plain, plain && !this.request);
      if (n === undefined) return void this.fail('a bad length');
      if (t === T.chunk) {
        if (n === 0) {
          this.chunked = false;
          return this.done(T.bulk);
        }
        return this.startBulk(T.chunk, n);
      }
      if (this.stack.length === 0 && this.cur) this.cur.count = n;
      if (n === -1) {
        this.capLost = true; // a null is not a string
        return this.done(t);
      }
      if (n === -2) {
        this.chunked = true;
        this.capLost = true;
        this.st = St.Start;
        return;
      }
      return this.startBulk(t, n);
    }
    if (isAggregate(t)) {
      const n = lengthOf(buf, start, len, t === T.array, t !== T.attr && !this.request);
      if (n === undefined) return void this.fail('a bad aggregate length');
      if (this.stack.length === 0 && this.cur) {
        this.cur.count = n;
        if (t === T.attr) this.attrOnly = true;
      }
      const elements = n === -2 ? Infinity : t === T.map || t === T.attr ? 2 * n : n;
      if (elements <= 0) return this.done(t);
      if (this.stack.length >= MAX_DEPTH) return void this.fail('nesting too deep');
      this.stack.push({ type: t, left: elements, index: 0 });
      this.st = St.Start;
      return;
    }
    if (t === T.end) {
      if (len !== 0) return void this.fail('a bad end of aggregate');
      const f = this.stack.pop();
      return this.done(f?.type ?? T.array);
    }
    if (!validScalar(t, buf, start, len)) return void this.fail(`a bad ${String.fromCharCode(t)} line`);
    if (this.stack.length === 0 && this.cur) this.cur.text = latin1(buf, start, start + Math.min(kept, TEXT_KEEP));
    else if (this.capDepth === 1 && this.stack.length === 1) {
      if (t === T.nul) this.capLost = true;
      const n = Math.min(kept, this.itemBytes);
      copy(buf, start, n, this.cap, 0);
      this.capLen = n;
    }
    this.done(t);
  }

  private startBulk(type: number, n: number): void {
    this.bulkType = type;
    this.bulkLeft = n + 2;
    this.st = St.Bulk;
  }

  /** Bulk payload and its CRLF, skipped by count whether captured or not; the captured part of a kept element is copied. */
  private bulk(data: Uint8Array, pos: number, cap: number, total: number): number {
    const n = Math.min(this.bulkLeft, total - pos);
    const content = this.bulkLeft - 2; // payload bytes still to come (negative: inside the CRLF)
    const capturing = this.capDepth === this.stack.length && !this.chunked;
    if (capturing && content > 0) {
      const end = pos + Math.min(content, n);
      const have = Math.min(end, cap);
      const room = this.itemBytes - this.capLen;
      if (have > pos && room > 0) {
        const k = Math.min(room, have - pos);
        copy(data, pos, k, this.cap, this.capLen);
        this.capLen += k;
      }
      if (have < end) this.capLost = true;
    }
    // the CRLF, where it was captured
    const cr = pos + content;
    if (cr >= pos && cr < pos + n && cr < cap && data[cr] !== CRb) return this.fail('a bulk string not followed by CRLF');
    if (cr + 1 >= pos && cr + 1 < pos + n && cr + 1 < cap && data[cr + 1] !== LF) return this.fail('a bulk string not followed by CRLF');
    this.bulkLeft -= n;
    if (this.bulkLeft === 0) {
      if (this.bulkType === T.chunk) this.st = St.Start;
      else this.done(this.bulkType);
    }
    return pos + n;
  }

  /** A value at the current depth is complete: count it in its aggregate, or emit it at the top. */
  private done(type: number): void {
    let t = type;
    for (;;) {
      const f = this.stack[this.stack.length - 1];
      if (f === undefined) {
        this.st = St.Start;
        if (this.capDepth === 0 && this.cur) {
          this.cur.text = this.capLost ? undefined : latin1(this.cap, 0, this.capLen);
          this.capDepth = -1;
        }
        if (t === T.attr) {
          this.attrOnly = true;
          return;
        }
        return this.emit(false);
      }
      if (t !== T.attr) {
        if (this.stack.length === 1 && f.type !== T.attr) this.keepElement(f.index, t);
        f.index++;
        f.left--;
      }
      if (f.left > 0) {
        this.st = St.Start;
        return;
      }
      this.stack.pop();
      t = f.type;
    }
  }

  private keepElement(index: number, type: number): void {
    const v = this.cur;
    if (v === undefined || this.capDepth !== 1 || this.capIndex !== index) return;
    this.capDepth = -1;
    if (isAggregate(type) || this.capLost) return;
    const text = latin1(this.cap, 0, this.capLen);
    if (index < this.want) v.items[index] = text;
    if (index === 0 && this.itemsFor !== undefined) this.want = Math.min(this.keep, Math.max(1, this.itemsFor(text)));
    if (type === T.error || type === T.bulkErr) {
      v.errors ??= [];
      if (v.errors.length < MAX_ERRORS) v.errors.push({ index, text });
    }
  }

  private emit(truncated: boolean): void {
    const v = this.cur;
    this.cur = undefined;
    this.attrOnly = false;
    if (v === undefined) return;
    v.endNs = this.seg?.exitNs ?? v.startNs;
    v.truncated = truncated;
    this.stats.values++;
    this.out.push({ kind: 'value', value: v });
  }

  private inline(data: Uint8Array, pos: number, cap: number, total: number): number {
    const lf = data.indexOf(LF, pos);
    if (lf < 0) {
      this.ln.append(data, pos, cap);
      if (this.ln.total > MAX_INLINE) return this.fail('inline command too long');
      if (cap < total) this.lose('an inline command runs into bytes the capture did not copy', false);
      return cap;
    }
    this.ln.append(data, pos, lf);
    const text = latin1(this.ln.bytes, 0, this.ln.kept).replace(/\r$/, '');
    this.ln.clear();
    this.st = St.Start;
    const args = splitInline(text);
    const v = this.cur;
    if (v === undefined || args.length === 0) {
      this.cur = undefined; // a blank line: Redis ignores it
      return lf + 1;
    }
    v.count = args.length;
    v.items = args.slice(0, this.keep).map((a) => (a.length > this.itemBytes ? a.slice(0, this.itemBytes) : a));
    this.emit(false);
    return lf + 1;
  }

  /** Framing is lost: a value in progress is reported truncated (unless the bytes were not RESP), then resync. */
  private lose(reason: string, error: boolean): void {
    if (!error && this.cur !== undefined && !this.attrOnly && this.cur.type !== T.attr) {
      this.capDepth = -1;
      this.emit(true);
    }
    if (error) this.stats.errors++;
    this.stats.resyncs++;
    this.out.push({ kind: 'lost', reason, error, atNs: this.seg?.enterNs ?? 0 });
    this.clear();
    this.st = St.Lost;
  }

  private fail(reason: string): number {
    this.lose(reason, true);
    return Number.MAX_SAFE_INTEGER;
  }

  private clear(): void {
    this.stack.length = 0;
    this.cur = undefined;
    this.attrOnly = false;
    this.chunked = false;
    this.capDepth = -1;
    this.ln.clear();
    this.bulkLeft = 0;
  }

  private top(): Frame {
    return this.stack[this.stack.length - 1] ?? { type: 0, left: 0, index: 0 };
  }
}
