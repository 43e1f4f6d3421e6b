/**
 * The chunked transfer coding (RFC 9112 section 7.1), decoded by count: chunk data is
 * skipped whether it was captured or not; only the chunk-size lines, the CRLF after
 * each chunk and the end of the trailer section are read.
 * https://www.rfc-editor.org/rfc/rfc9112#section-7.1
 *
 *   5;ext=1\r\n hello \r\n        chunk-size [; ext] CRLF, chunk data, CRLF
 *   0\r\n                         last chunk
 *   Trailer-A: 1\r\n \r\n         trailer fields (skipped unread), then an empty line
 *
 * Example:
 *   const d = new ChunkedDecoder(new SpanBuffer(65536));
 *   const pos = d.push(seg.data, headEnd, seg.len);
 *   if (d.phase === 'done') report(d.bodySize);   // the body ended at `pos`
 */
import { CR, LF } from './cursor';
import { emptyLineEnd } from './http1-head';
import type { SpanBuffer } from './span-buffer';

/**
 * Where decoding stands: reading a size line, data, the CRLF after data, or trailers;
 * or finished: `done`, `lost` (a line fell in bytes not captured) or `error`.
 */
export type ChunkedPhase = 'size' | 'data' | 'crlf' | 'trailers' | 'done' | 'lost' | 'error';

export class ChunkedDecoder {
  phase: ChunkedPhase = 'size';
  /** why, when phase is 'error' */
  error = '';
  /** sum of the chunk sizes so far; final once `lastChunk` */
  bodySize = 0;
  /** the last (0-size) chunk was seen: only trailers remain */
  lastChunk = false;
  /** a size line that spans segments; shared with the head parser (never in use by both) */
  private readonly line: SpanBuffer;
  /** data bytes still to come, or CRLF bytes after data */
  private remaining = 0;
  private nl = 0;
  private trailerBytes = 0;

  constructor(line: SpanBuffer) {
    this.line = line;
  }

  reset(): void {
    this.phase = 'size';
    this.bodySize = 0;
    this.lastChunk = false;
    this.remaining = 0;
    this.line.clear();
  }

  /**
   * Consumes a segment's bytes from `pos`: `data` is its captured prefix and `total`
   * its true length. Returns the position where the body ended, or `total`.
   */
  push(data: Uint8Array, pos: number, total: number): number {
    while (pos < total) {
      switch (this.phase) {
        case 'data': {
          const n = Math.min(this.remaining, total - pos);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.phase = 'crlf';
            this.remaining = 2;
          }
          break;
        }
        case 'crlf':
          pos = this.crlf(data, pos, total);
          break;
        case 'size':
          pos = this.sizeLine(data, pos, total);
          break;
        case 'trailers':
          pos = this.trailers(data, pos, total);
          break;
        default:
          return this.phase === 'done' ? pos : total;
      }
    }
    return pos;
  }

  private crlf(data: Uint8Array, pos: number, total: number): number {
    if (pos >= data.length) {
      // not captured: assume the CRLF every real sender writes
      const n = Math.min(this.remaining, total - pos);
      this.remaining -= n;
      if (this.remaining === 0) this.phase = 'size';
      return pos + n;
    }
    const c = data[pos];
    if (c === LF) this.phase = 'size';
    else if (c === CR && this.remaining === 2) this.remaining = 1;
    else return this.fail('chunk data is not followed by CRLF', total);
    return pos + 1;
  }

  private sizeLine(data: Uint8Array, pos: number, total: number): number {
    const cap = data.length;
    if (pos >= cap) return this.lose(total);
    const first = this.line.length === 0;
    if (first && !isHexDigit(data[pos])) return this.fail('bad chunk-size line', total);
    const lf = data.indexOf(LF, pos);
    let l = data.subarray(pos, lf >= 0 ? lf : cap);
    if (this.line.length + l.length >= this.line.limit) return this.fail(`chunk-size line exceeds maxHeaderBytes (${this.line.limit})`, total);
    if (lf < 0) {
      if (cap < total) return this.lose(total);
      this.line.append(l);
      return total;
    }
    if (!first) {
      this.line.append(l);
      l = this.line.view();
      this.line.clear();
    }
    const n = chunkSize(l[l.length - 1] === CR ? l.subarray(0, l.length - 1) : l);
    if (n < 0) return this.fail('bad chunk-size line', total);
    if (n > 0) {
      this.phase = 'data';
      this.remaining = n;
      this.bodySize += n;
    } else {
      this.phase = 'trailers';
      this.lastChunk = true;
      this.nl = 1; // the last-chunk line just ended: an empty line now ends the body
      this.trailerBytes = 0;
    }
    return lf + 1;
  }

  private trailers(data: Uint8Array, pos: number, total: number): number {
    const cap = data.length;
    if (pos >= cap) return this.lose(total);
    const r = emptyLineEnd(data, pos, cap, this.nl);
    this.nl = r >= 0 ? 0 : -1 - r;
    this.trailerBytes += (r >= 0 ? r : cap) - pos;
    if (this.trailerBytes > this.line.limit) return this.fail(`trailer section exceeds maxHeaderBytes (${this.line.limit})`, total);
    if (r >= 0) {
      this.phase = 'done';
      return r;
    }
    return cap < total ? this.lose(total) : total;
  }

  private lose(total: number): number {
    this.phase = 'lost';
    this.line.clear();
    return total;
  }

  private fail(reason: string, total: number): number {
    this.phase = 'error';
    this.error = reason;
    this.line.clear();
    return total;
  }
}

/** The size in a chunk-size line `size [; ext]` (hex, at most 13 digits); -1 when invalid. */
export function chunkSize(l: Uint8Array): number {
  let n = 0;
  let i = 0;
  const e = l.length;
  for (; i < e; i++) {
    const c = l[i] ?? 0;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
    if (d < 0) break;
    n = n * 16 + d;
  }
  if (i === 0 || i > 13) return -1;
  while (i < e && (l[i] === 0x20 || l[i] === 0x09)) i++;
  return i === e || l[i] === 0x3b ? n : -1;
}

function isHexDigit(c: number | undefined): boolean {
  if (c === undefined) return false;
  const l = c | 0x20;
  return (c >= 0x30 && c <= 0x39) || (l >= 0x61 && l <= 0x66);
}
