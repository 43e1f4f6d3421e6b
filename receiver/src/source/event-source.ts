/**
 * Where decoded events come from. Two implementations yield identical batches:
 * the live eBPF source (ebpf-source.ts) and the replay of a recording
 * (replay-source.ts), so every later stage can be tested without root.
 *
 * Example:
 *   const source = new ReplaySource({ file: 'trace.kdcap' });
 *   await source.start((batch) => { for (const ev of batch.events) pipeline.push(ev); });
 *   await source.finished;
 */
import { COUNTER_NAMES, HOOK_NAMES } from '../events/abi';
import type { CounterName, HookName } from '../events/abi';
import type { KindlingEvent } from '../events/types';
import type { ProgramReport } from './native';

export interface SourceBatch {
  readonly events: readonly KindlingEvent[];
  /** the records exactly as the kernel wrote them (what a recording stores) */
  readonly raw: Uint8Array;
}

export type HookCounters = Record<CounterName, number>;

export interface SourceStats {
  /** decoded events delivered */
  events: number;
  /** record bytes delivered */
  bytes: number;
  batches: number;
  /** batches whose decoding stopped at a malformed record (the rest of such a batch is lost) */
  malformedBatches: number;
  /** records of unknown kind, skipped */
  unknownRecords: number;
  /** kernel counters per hook (zeros for a replay) */
  hooks: Record<HookName, HookCounters>;
  /** lost events by reason, all hooks together */
  lost: Record<string, number>;
  ring: { size: number; used: number };
}

export interface StartReport {
  /** per-program load and attach results (empty for a replay) */
  programs: ProgramReport[];
}

export interface EventSource {
  readonly name: string;
  /** starts delivery; rejects with a KindlingError when the source cannot run */
  start(onBatch: (batch: SourceBatch) => void): Promise<StartReport>;
  /** stops delivery and releases every kernel and file resource; idempotent */
  stop(): Promise<void>;
  /** settles when delivery is over: a replay reached its end, or stop() was called */
  readonly finished: Promise<void>;
  stats(): SourceStats;
}

export function emptyHookStats(): Record<HookName, HookCounters> {
  const out = {} as Record<HookName, HookCounters>;
  for (const hook of HOOK_NAMES) {
    const row = {} as HookCounters;
    for (const c of COUNTER_NAMES) row[c] = 0;
    out[hook] = row;
  }
  return out;
}

/** Kernel counters rows (hooks[hook][counter]) as named records, and the lost totals. */
export function namedHookStats(rows: number[][]): { hooks: Record<HookName, HookCounters>; lost: Record<string, number> } {
  const hooks = emptyHookStats();
  const lost: Record<string, number> = {};
  HOOK_NAMES.forEach((hook, h) => {
    COUNTER_NAMES.forEach((c, i) => {
      const v = rows[h]?.[i] ?? 0;
      hooks[hook][c] = v;
      if (c.startsWith('lost_')) lost[c.slice(5)] = (lost[c.slice(5)] ?? 0) + v;
    });
  });
  return { hooks, lost };
}

/** A promise with its settle functions, for `finished`. */
export function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // a consumer that never awaits `finished` must not see an unhandled rejection
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
