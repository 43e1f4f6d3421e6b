/**
 * Names for addresses, learned from DNS answers (A/AAAA, through CNAME chains
 * to the name that was asked): a later connection to the address carries the
 * name as server.address. Bounded (least recently learned out) and honouring
 * TTLs with a floor, so a short TTL does not forget a name mid-connection.
 *
 * Example:
 *   names.learn('93.184.216.34', 'example.com', 300);
 *   names.lookup('93.184.216.34'); // 'example.com'
 */
import type { NameSink } from '../protocols/context';

export class DnsNames implements NameSink {
  readonly #byAddr = new Map<string, { name: string; expiresMs: number }>();
  readonly #capacity: number;
  readonly #minTtlMs: number;
  learned = 0;

  constructor(o: { capacity?: number; minTtlSeconds?: number } = {}) {
    this.#capacity = o.capacity ?? 65536;
    this.#minTtlMs = (o.minTtlSeconds ?? 300) * 1000;
  }

  get size(): number {
    return this.#byAddr.size;
  }

  learn(address: string, name: string, ttlSeconds: number, nowMs: number = Date.now()): void {
    this.#byAddr.delete(address);
    if (this.#byAddr.size >= this.#capacity) this.#byAddr.delete(this.#byAddr.keys().next().value as string);
    this.#byAddr.set(address, { name, expiresMs: nowMs + Math.max(ttlSeconds * 1000, this.#minTtlMs) });
    this.learned++;
  }

  lookup(address: string, nowMs: number = Date.now()): string | undefined {
    const e = this.#byAddr.get(address);
    if (!e) return undefined;
    if (e.expiresMs < nowMs) {
      this.#byAddr.delete(address);
      return undefined;
    }
    return e.name;
  }
}
