/**
 * Trace profiling, tier 2: the timeline of a selected slow span. Slice records
 * (long off-CPU intervals by cause, long run-queue waits) are kept per thread
 * for the last `windowMs`; when a selected server span ends, those of its
 * thread inside it (>= `minChildNs`) become its child INTERNAL spans, in time
 * order. Selection: over a threshold, over the endpoint's p95, or armed; at
 * most one per endpoint per `perEndpointMs`, `globalPerSec` overall, and
 * `maxChildren` children each. Everything is bounded and every drop counted.
 *
 * Example:
 *   timeline.add(sliceEvent);
 *   if (selector.select(endpoint, durationNs, nowMs)) for (const c of timeline.within(tid, start, end)) ...
 */
import type { SliceEvent } from '../events/types';

export interface Slice {
  cause: string;
  startNs: number;
  endNs: number;
}

export class SliceTimeline {
  readonly #byTid = new Map<number, Slice[]>();
  readonly #seen = new Map<number, number>();
  readonly #windowNs: number;
  readonly #perThread: number;
  readonly #maxThreads: number;
  /** slices pushed out by the per-thread bound */
  dropped = 0;
  added = 0;

  constructor(o: { windowMs?: number; perThread?: number; maxThreads?: number } = {}) {
    this.#windowNs = (o.windowMs ?? 2000) * 1e6;
    this.#perThread = o.perThread ?? 1024;
    this.#maxThreads = o.maxThreads ?? 16384;
  }

  add(ev: SliceEvent): void {
    let l = this.#byTid.get(ev.tid);
    if (!l) {
      if (this.#byTid.size >= this.#maxThreads) this.#byTid.delete(this.#byTid.keys().next().value as number);
      l = [];
      this.#byTid.set(ev.tid, l);
    }
    l.push({ cause: ev.cause, startNs: ev.startNs, endNs: ev.endNs });
    this.added++;
    this.#seen.set(ev.tid, Date.now());
    // older than the window, or past the bound: out
    let cut = 0;
    while (cut < l.length && (l[cut] as Slice).endNs < ev.endNs - this.#windowNs) cut++;
    if (l.length - cut > this.#perThread) {
      this.dropped += l.length - cut - this.#perThread;
      cut = l.length - this.#perThread;
    }
    if (cut) l.splice(0, cut);
  }

  /** slices of a thread inside [startNs, endNs] of at least minNs, in time order */
  within(tid: number, startNs: number, endNs: number, minNs: number): Slice[] {
    return (this.#byTid.get(tid) ?? [])
      .filter((s) => s.startNs >= startNs - 1000 && s.endNs <= endNs + 1000 && s.endNs - s.startNs >= minNs)
      .sort((a, b) => a.startNs - b.startNs);
  }

  get threads(): number {
    return this.#byTid.size;
  }

  forget(tid: number): void {
    this.#seen.delete(tid);
    this.#byTid.delete(tid);
  }

  sweep(nowMs: number, idleMs: number): void {
    for (const [tid, at] of this.#seen) {
      if (nowMs - at <= idleMs) continue;
      this.#seen.delete(tid);
      this.#byTid.delete(tid);
    }
  }
}

export interface SelectorOptions {
  /** select every span at least this long (0: off) */
  thresholdMs?: number;
  /** also select spans over their endpoint's p95, once it has this many samples (0: off) */
  p95MinSamples?: number;
  perEndpointMs?: number;
  globalPerSec?: number;
}

interface Endpoint {
  lastSelectedMs: number;
  samples: number[];
  next: number;
  p95: number;
  seen: number;
}

const RESERVOIR = 256;

export class SpanSelector {
  readonly #o: Required<SelectorOptions>;
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #armed = new Map<string, number>();
  #tokens: number;
  #refillMs = 0;
  selected = 0;
  /** spans that qualified but a rate limit said no */
  limited = 0;

  constructor(o: SelectorOptions = {}) {
    this.#o = { thresholdMs: o.thresholdMs ?? 500, p95MinSamples: o.p95MinSamples ?? 50, perEndpointMs: o.perEndpointMs ?? 5000, globalPerSec: o.globalPerSec ?? 20 };
    this.#tokens = this.#o.globalPerSec;
  }

  /** the next `count` spans of an endpoint are selected regardless of duration (still rate-limited) */
  arm(endpoint: string, count = 1): void {
    if (this.#armed.size >= 1024 && !this.#armed.has(endpoint)) return;
    this.#armed.set(endpoint, (this.#armed.get(endpoint) ?? 0) + count);
  }

  #endpoint(key: string): Endpoint {
    let e = this.#endpoints.get(key);
    if (!e) {
      if (this.#endpoints.size >= 10_000) this.#endpoints.delete(this.#endpoints.keys().next().value as string);
      e = { lastSelectedMs: -Infinity, samples: [], next: 0, p95: Infinity, seen: 0 };
      this.#endpoints.set(key, e);
    }
    return e;
  }

  select(endpoint: string, durationNs: number, nowMs: number = Date.now()): boolean {
    const e = this.#endpoint(endpoint);
    const ms = durationNs / 1e6;
    // p95 of the endpoint before this sample
    const overP95 = this.#o.p95MinSamples > 0 && e.seen >= this.#o.p95MinSamples && ms > e.p95;
    if (e.samples.length < RESERVOIR) e.samples.push(ms);
    else e.samples[e.next] = ms;
    e.next = (e.next + 1) % RESERVOIR;
    e.seen++;
    // the p95 moves slowly: recompute it every 64 samples (a typed-array sort is cheap)
    if (e.seen % 64 === 0 || e.seen === this.#o.p95MinSamples) {
      const sorted = Float64Array.from(e.samples).sort();
      e.p95 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? Infinity;
    }
    const armed = (this.#armed.get(endpoint) ?? 0) > 0;
    const slow = this.#o.thresholdMs > 0 && ms >= this.#o.thresholdMs;
    if (!armed && !slow && !overP95) return false;
    if (nowMs - e.lastSelectedMs < this.#o.perEndpointMs || !this.#take(nowMs)) {
      this.limited++;
      return false;
    }
    e.lastSelectedMs = nowMs;
    if (armed) {
      const left = (this.#armed.get(endpoint) ?? 1) - 1;
      if (left > 0) this.#armed.set(endpoint, left);
      else this.#armed.delete(endpoint);
    }
    this.selected++;
    return true;
  }

  #take(nowMs: number): boolean {
    const refill = ((nowMs - this.#refillMs) / 1000) * this.#o.globalPerSec;
    if (refill >= 1) {
      this.#tokens = Math.min(this.#o.globalPerSec, this.#tokens + Math.floor(refill));
      this.#refillMs = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
