/**
 * A bounded buffer for the bytes of one protocol unit (an HTTP head, a chunk-size
 * line, a Redis line) that arrived split across segments. Most units fit in one
 * segment and are parsed in place; only the rare split ones are copied here.
 *
 * Bounded by construction: an append that would pass `limit` is refused, so a peer
 * sending a 10 MB header line costs at most `limit` bytes, never 10 MB.
 *
 * Example:
 *   const b = new SpanBuffer(65536);
 *   b.append(seg1.subarray(40));         // the start of a head, no end in sight
 *   if (!b.append(seg2.subarray(0, 12))) return 'head too long';
 *   parse(b.view());                     // a view of the buffer, valid until the next append
 *   b.clear();
 */
export class SpanBuffer {
  readonly limit: number;
  private readonly keep: number;
  private buf: Uint8Array | undefined;
  private len = 0;

  /** `keep`: storage up to this size is kept for reuse by clear(); larger is released. */
  constructor(limit: number, keep = 4096) {
    this.limit = limit;
    this.keep = keep;
  }

  get length(): number {
    return this.len;
  }

  /** Bytes allocated (what the buffer costs in memory); never more than `limit`. */
  get capacity(): number {
    return this.buf?.length ?? 0;
  }

  /** Appends a copy of `bytes`; false, with nothing appended, when that would pass `limit`. */
  append(bytes: Uint8Array): boolean {
    const need = this.len + bytes.length;
    if (need > this.limit) return false;
    let b = this.buf;
    if (b === undefined || b.length < need) {
      const grown = new Uint8Array(Math.min(this.limit, Math.max(need, 256, (b?.length ?? 0) * 2)));
      if (b !== undefined) grown.set(b.subarray(0, this.len));
      this.buf = b = grown;
    }
    b.set(bytes, this.len);
    this.len = need;
    return true;
  }

  /** The bytes so far, as a view: valid until the next append. */
  view(): Uint8Array {
    return this.buf === undefined ? EMPTY : this.buf.subarray(0, this.len);
  }

  /** Empties the buffer; storage larger than `keep` is released. */
  clear(): void {
    this.len = 0;
    if (this.buf !== undefined && this.buf.length > this.keep) this.buf = undefined;
  }

  /** Empties the buffer and releases its storage. */
  free(): void {
    this.len = 0;
    this.buf = undefined;
  }
}

const EMPTY = new Uint8Array(0);
