/**
 * A bounds-checked cursor over captured bytes, shared by every protocol parser.
 *
 * Captured payloads are truncated by design (the kernel copies a bounded prefix),
 * so every read checks bounds: a read that would pass the end returns undefined
 * (or false) and leaves the position where it was. Nothing here throws, and byte
 * views are zero-copy `subarray`s of the caller's buffer.
 *
 * Example (a Redis bulk string header, then a PostgreSQL message length):
 *   const c = new Cursor(bytes);                  // bytes = "$5\r\nhello\r\n" ...
 *   const line = c.readLine();                    // view of "$5" (CRLF consumed)
 *   if (line === undefined) return 'need more';   // no complete line yet
 *   const body = c.readBytes(5);                  // view of "hello", same ArrayBuffer
 *   c.skip(2);                                    // the CRLF; false if it is not there
 *   const len = new Cursor(pg, 1).readI32BE();    // undefined when fewer than 4 bytes
 */
export class Cursor {
  readonly bytes: Uint8Array;
  /** one past the last readable index */
  readonly end: number;
  private pos: number;

  /** Reads `bytes[start, end)`; out-of-range bounds are clamped. */
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.end = clampIndex(end, 0, bytes.length);
    this.pos = clampIndex(start, 0, this.end);
  }

  /** Index into `bytes` of the next byte to read. */
  get position(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Moves to an absolute index in [start of bytes, end]; false (and no move) when outside. */
  seek(position: number): boolean {
    if (!Number.isInteger(position) || position < 0 || position > this.end) return false;
    this.pos = position;
    return true;
  }

  /** The byte `offset` ahead of the position, without consuming it. */
  peek(offset = 0): number | undefined {
    const i = this.pos + offset;
    return Number.isInteger(offset) && offset >= 0 && i < this.end ? this.bytes[i] : undefined;
  }

  readU8(): number | undefined {
    return this.pos < this.end ? this.bytes[this.pos++] : undefined;
  }

  readU16BE(): number | undefined {
    const i = this.take(2);
    return i < 0 ? undefined : ((this.at(i) << 8) | this.at(i + 1)) >>> 0;
  }

  readU16LE(): number | undefined {
    const i = this.take(2);
    return i < 0 ? undefined : (this.at(i) | (this.at(i + 1) << 8)) >>> 0;
  }

  readU32BE(): number | undefined {
    const v = this.readI32BE();
    return v === undefined ? undefined : v >>> 0;
  }

  readU32LE(): number | undefined {
    const v = this.readI32LE();
    return v === undefined ? undefined : v >>> 0;
  }

  readI32BE(): number | undefined {
    const i = this.take(4);
    return i < 0 ? undefined : (this.at(i) << 24) | (this.at(i + 1) << 16) | (this.at(i + 2) << 8) | this.at(i + 3);
  }

  readI32LE(): number | undefined {
    const i = this.take(4);
    return i < 0 ? undefined : this.at(i) | (this.at(i + 1) << 8) | (this.at(i + 2) << 16) | (this.at(i + 3) << 24);
  }

  /** The next `n` bytes as a view of the same buffer (no copy). */
  readBytes(n: number): Uint8Array | undefined {
    const i = this.take(n);
    return i < 0 ? undefined : this.bytes.subarray(i, i + n);
  }

  /** The rest as a view, without consuming it. */
  rest(): Uint8Array {
    return this.bytes.subarray(this.pos, this.end);
  }

  /** Skips `n` bytes; false (and no move) when fewer remain. */
  skip(n: number): boolean {
    return this.take(n) >= 0;
  }

  /**
   * Absolute index of the first occurrence of a byte, or of a byte sequence, at or
   * after the position and wholly before `end`; -1 when absent. Does not move.
   */
  indexOf(needle: number | Uint8Array): number {
    const b = this.bytes;
    if (typeof needle === 'number') {
      const i = b.indexOf(needle, this.pos);
      return i >= 0 && i < this.end ? i : -1;
    }
    const n = needle.length;
    if (n === 0) return this.pos;
    const first = needle[0];
    const last = this.end - n;
    for (let i = b.indexOf(first ?? 0, this.pos); i >= 0 && i <= last; i = b.indexOf(first ?? 0, i + 1)) {
      let k = 1;
      while (k < n && b[i + k] === needle[k]) k++;
      if (k === n) return i;
    }
    return -1;
  }

  /**
   * The next line without its terminator (CRLF, or a bare LF), consuming the
   * terminator; undefined, with nothing consumed, when no complete line remains.
   */
  readLine(): Uint8Array | undefined {
    const start = this.pos;
    const end = this.skipLine();
    return end < 0 ? undefined : this.bytes.subarray(start, end);
  }

  /**
   * readLine without the view: consumes the next line and returns the index where its
   * content ends, so the line is `bytes[position before the call, result)`; -1, with
   * nothing consumed, when no complete line remains. For hot loops over many lines.
   */
  skipLine(): number {
    const lf = this.indexOf(LF);
    if (lf < 0) return -1;
    const start = this.pos;
    this.pos = lf + 1;
    return lf > start && this.bytes[lf - 1] === CR ? lf - 1 : lf;
  }

  /** The bytes before the next `byte` (which is consumed, not returned); undefined when absent. */
  readUntil(byte: number): Uint8Array | undefined {
    const i = this.indexOf(byte);
    if (i < 0) return undefined;
    const view = this.bytes.subarray(this.pos, i);
    this.pos = i + 1;
    return view;
  }

  /** `readUntil` decoded as latin1 (one char per byte): for short ASCII tokens. */
  readAsciiUntil(byte: number): string | undefined {
    const view = this.readUntil(byte);
    return view === undefined ? undefined : latin1(view);
  }

  /** The next `n` bytes decoded as latin1. */
  readLatin1(n: number): string | undefined {
    const view = this.readBytes(n);
    return view === undefined ? undefined : latin1(view);
  }

  /** Consumes `n` bytes and returns where they start, or -1 (and no move) when they are not all there. */
  private take(n: number): number {
    const i = this.pos;
    if (!Number.isInteger(n) || n < 0 || n > this.end - i) return -1;
    this.pos = i + n;
    return i;
  }

  /** A byte already bounds-checked by `take`. */
  private at(i: number): number {
    return this.bytes[i] ?? 0;
  }
}

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;

/**
 * `bytes[start, end)` decoded as latin1, one char per byte, with no per-byte string
 * building. Protocol tokens (methods, targets, header values) are ASCII; latin1 keeps
 * any other byte visible instead of failing.
 */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (latin1Slice !== undefined && start >= 0 && start <= end && end <= bytes.length) return latin1Slice.call(bytes, start, end);
  const s = clampIndex(start, 0, bytes.length);
  const e = clampIndex(end, s, bytes.length);
  if (latin1Slice !== undefined) return latin1Slice.call(bytes, s, e);
  if (e - s <= 4096) return String.fromCharCode.apply(null, bytes.subarray(s, e) as unknown as number[]);
  return Buffer.from(bytes.buffer, bytes.byteOffset + s, e - s).toString('latin1');
}

// Node's native decoder behind Buffer#toString('latin1'); it takes any Uint8Array and is
// about 1.4x faster than fromCharCode.apply on header-sized strings. Not a documented
// API, hence the fallback. (TextDecoder('latin1') is really windows-1252: not the same.)
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, s: number, e: number) => string }).latin1Slice;

function clampIndex(v: number, lo: number, hi: number): number {
  if (!(v >= lo)) return lo; // also catches NaN
  return v > hi ? hi : Math.floor(v);
}
