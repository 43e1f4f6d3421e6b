/**
 * Trace and span ids from a pool of random bytes (one crypto call per few
 * hundred ids), and W3C traceparent parsing.
 */
import { randomFillSync } from 'node:crypto';

const POOL = 8192;

export class IdGenerator {
  readonly #pool = Buffer.alloc(POOL);
  #pos = POOL;

  #hex(bytes: number): string {
    if (this.#pos + bytes > POOL) {
      randomFillSync(this.#pool);
      this.#pos = 0;
    }
    const s = this.#pool.toString('hex', this.#pos, this.#pos + bytes);
    this.#pos += bytes;
    // an all-zero id is invalid in W3C trace context
    return /^0+$/.test(s) ? this.#hex(bytes) : s;
  }

  traceId(): string {
    return this.#hex(16);
  }

  spanId(): string {
    return this.#hex(8);
  }
}

export interface TraceParent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** A W3C traceparent header value, or undefined when it is not a valid one. */
export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  if (!value) return undefined;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m || !m[1] || !m[2] || !m[3] || !m[4]) return undefined;
  if (m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined;
  if (/^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return { traceId: m[2], spanId: m[3], traceFlags: parseInt(m[4], 16) };
}
