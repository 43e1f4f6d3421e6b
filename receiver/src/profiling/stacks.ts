/**
 * Trace profiling, tier 3: user stacks of long blocks (profiling.stacks). Each
 * thread keeps its last few stack records; when a selected span's child is
 * made for an off-CPU interval, the stack whose block overlaps it is
 * symbolized then (not before: symbolization reads files) and goes on the
 * child as `code.stacktrace`, one frame per line, innermost first.
 *
 * Example:
 *   store.add(stackEvent);                                    // every stack record
 *   Object.assign(child.attributes, store.attributes(tid, startNs, endNs));
 */
import type { Attributes } from '@opentelemetry/api';
import type { StackEvent } from '../events/types';
import { Symbolizer } from './symbolizer';
import type { SymbolizerStats } from './symbolizer';

export interface StackStats {
  /** stack records received from the kernel */
  received: number;
  /** put on a child span */
  attached: number;
  /** pushed out of a thread's buffer (or with a thread when the table was full) before any span used them */
  dropped: number;
  threads: number;
  symbolizer: SymbolizerStats;
}

export class StackStore {
  readonly #byTid = new Map<number, { stacks: StackEvent[]; seenMs: number }>();
  readonly #perThread: number;
  readonly #maxThreads: number;
  readonly symbolizer: Symbolizer;
  received = 0;
  attached = 0;
  dropped = 0;

  constructor(o: { perThread?: number; maxThreads?: number; symbolizer?: Symbolizer } = {}) {
    this.#perThread = o.perThread ?? 16;
    this.#maxThreads = o.maxThreads ?? 16384;
    this.symbolizer = o.symbolizer ?? new Symbolizer();
  }

  add(ev: StackEvent): void {
    this.received++;
    let t = this.#byTid.get(ev.tid);
    if (!t) {
      if (this.#byTid.size >= this.#maxThreads) {
        const [tid, old] = this.#byTid.entries().next().value as [number, { stacks: StackEvent[] }];
        this.dropped += old.stacks.length;
        this.#byTid.delete(tid);
      }
      t = { stacks: [], seenMs: 0 };
      this.#byTid.set(ev.tid, t);
    }
    t.stacks.push(ev);
    t.seenMs = Date.now();
    if (t.stacks.length > this.#perThread) {
      t.stacks.shift();
      this.dropped++;
    }
  }

  /** The stack of the thread's block that overlaps [startNs, endNs] most. */
  find(tid: number, startNs: number, endNs: number): StackEvent | undefined {
    let best: StackEvent | undefined;
    let bestOverlap = 0;
    for (const s of this.#byTid.get(tid)?.stacks ?? []) {
      const overlap = Math.min(endNs, s.blockEndNs) - Math.max(startNs, s.blockStartNs);
      if (overlap > bestOverlap) {
        best = s;
        bestOverlap = overlap;
      }
    }
    return best;
  }

  /** `code.stacktrace` (and `kindling.stack.truncated`) for an off-CPU interval of a thread, or nothing. */
  attributes(tid: number, startNs: number, endNs: number): Attributes {
    const s = this.find(tid, startNs, endNs);
    if (!s || s.frames.length === 0) return {};
    const { lines, partial } = this.symbolizer.resolve(s);
    this.attached++;
    // truncated: the kernel's walk filled its 32 frames, or it stopped at the leaf (no frame pointers)
    return { 'code.stacktrace': lines.join('\n'), ...(s.truncated || partial ? { 'kindling.stack.truncated': true } : {}) };
  }

  forget(tid: number): void {
    this.#byTid.delete(tid);
  }

  sweep(nowMs: number, idleMs: number): void {
    for (const [tid, t] of this.#byTid) if (nowMs - t.seenMs > idleMs) this.#byTid.delete(tid);
  }

  stats(): StackStats {
    return { received: this.received, attached: this.attached, dropped: this.dropped, threads: this.#byTid.size, symbolizer: { ...this.symbolizer.stats, failures: { ...this.symbolizer.stats.failures } } };
  }
}
