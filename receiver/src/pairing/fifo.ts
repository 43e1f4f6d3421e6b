/**
 * Request/response pairing in order: a FIFO per connection, for protocols that
 * answer requests in the order they came (HTTP/1 with pipelining, Redis, ...).
 * Bounded: past `maxPending` the oldest request is dropped as expired.
 *
 * Example:
 *   const q = new FifoPairing<Req>({ maxPending: 1024 });
 *   q.push(req, req.startNs);
 *   const matched = q.shift();          // the request a response answers
 *   for (const old of q.expire(now, timeoutNs)) report(old);
 */

export interface FifoPairingOptions {
  maxPending: number;
}

export class FifoPairing<T> {
  readonly #items: { value: T; atNs: number }[] = [];
  #head = 0;
  readonly maxPending: number;
  /** requests pushed out by the bound (reported as expired by the caller) */
  overflowed = 0;

  constructor(options: FifoPairingOptions) {
    this.maxPending = options.maxPending;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Queue a request seen at atNs; returns a request pushed out by the bound, if any. */
  push(value: T, atNs: number): T | undefined {
    this.#items.push({ value, atNs });
    if (this.size > this.maxPending) {
      this.overflowed++;
      return this.shift();
    }
    return undefined;
  }

  /** The oldest request, without removing it. */
  peek(): T | undefined {
    return this.#items[this.#head]?.value;
  }

  /** The i-th oldest request (0 = the oldest), without removing it. */
  at(i: number): T | undefined {
    return i < 0 ? undefined : this.#items[this.#head + i]?.value;
  }

  /** Remove and return the oldest request (the one the next response answers). */
  shift(): T | undefined {
    const item = this.#items[this.#head];
    if (!item) return undefined;
    this.#head++;
    // compact now and then instead of shifting the array every time
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return item.value;
  }

  /** Remove and return every request older than timeoutNs at nowNs. */
  expire(nowNs: number, timeoutNs: number): T[] {
    const out: T[] = [];
    for (;;) {
      const item = this.#items[this.#head];
      if (!item || nowNs - item.atNs < timeoutNs) break;
      out.push(item.value);
      this.shift();
    }
    return out;
  }

  /** Remove and return everything (the connection ended). */
  drain(): T[] {
    const out = this.#items.slice(this.#head).map((i) => i.value);
    this.#items.length = 0;
    this.#head = 0;
    return out;
  }
}
