/**
 * Trace profiling, tier 1: where a server span's time went. Every data record
 * of a tracked thread carries the thread's cumulative scheduler counters
 * (ingress records as of the syscall's enter, egress ones as of its exit), so
 * a span's breakdown is the difference between the snapshot of the read that
 * carried the request's first byte and that of the write that carried the
 * response's last byte: on-CPU, run queue, and off-CPU by cause.
 *
 * Example:
 *   index.note(ev);                                   // every data event
 *   const b = profiler.breakdown(tid, startNs, endTid, endNs);
 *   Object.assign(span.attributes, profileAttributes(b));
 */
import type { Attributes } from '@opentelemetry/api';
import { OFFCPU_CAUSES } from '../events/abi';
import type { SockEvent } from '../events/types';
import { SliceTimeline, SpanSelector } from './slices';
import type { SelectorOptions, Slice } from './slices';

export type Cause = (typeof OFFCPU_CAUSES)[number];

/** Counters of one thread at one instant. */
interface Snap {
  ns: number;
  on: number;
  runq: number;
  off: number[];
  voluntary: number;
  involuntary: number;
}

/** The exported causes: nonsys folds into other */
const EXPORTED = ['lock', 'net', 'disk', 'idle', 'sleep', 'pipe', 'other'] as const;
export type ExportedCause = (typeof EXPORTED)[number];

export interface Breakdown {
  tid: number;
  threadName: string;
  durationNs: number;
  onNs: number;
  runqNs: number;
  offNs: Record<ExportedCause, number>;
  /** idle time of an event loop spent under this thread's own CLIENT calls */
  downstreamNs: number;
  voluntary: number;
  involuntary: number;
  dominant: string;
  /** requests in flight on this thread at once (event loops): > 1 means shared time */
  concurrency: number;
}

/** snapshots kept per thread: an event loop with hundreds of requests in flight needs its whole window */
const RING = 64;
const SNAPSHOTS_PER_THREAD = 1024;

/**
 * Recent counter snapshots per thread, keyed by the timestamp they were taken
 * at (enter for ingress, exit for egress): the telemetry looks them up by a
 * span's start and end. Bounded: RING per thread, `maxThreads` threads.
 */
export class SnapshotIndex {
  readonly #byTid = new Map<number, { snaps: Map<number, Snap>; last: Snap | undefined; name: string }>();
  readonly #maxThreads: number;
  noted = 0;

  constructor(maxThreads = 16384) {
    this.#maxThreads = maxThreads;
  }

  /** Keep the event's snapshot; returns off-CPU ns by cause since the thread's previous one. */
  note(ev: SockEvent): number[] | undefined {
    const s = ev.sched;
    if (!s) return undefined;
    let t = this.#byTid.get(ev.tid);
    if (!t) {
      if (this.#byTid.size >= this.#maxThreads) this.#byTid.delete(this.#byTid.keys().next().value as number);
      t = { snaps: new Map(), last: undefined, name: ev.comm };
      this.#byTid.set(ev.tid, t);
    }
    const off = OFFCPU_CAUSES.map((c) => s.offNs[c]);
    const prev = t.last;
    const snap = { ns: ev.direction === 2 ? ev.enterNs : ev.exitNs, on: s.onNs, runq: s.runqNs, off, voluntary: s.voluntary, involuntary: s.involuntary };
    t.snaps.set(snap.ns, snap);
    t.last = snap;
    if (t.snaps.size > SNAPSHOTS_PER_THREAD) t.snaps.delete(t.snaps.keys().next().value as number);
    this.noted++;
    return prev ? off.map((v, i) => Math.max(0, v - (prev.off[i] ?? 0))) : undefined;
  }

  find(tid: number, ns: number): { snap: Snap; name: string } | undefined {
    const t = this.#byTid.get(tid);
    const snap = t?.snaps.get(ns);
    return t && snap ? { snap, name: t.name } : undefined;
  }

  get threads(): number {
    return this.#byTid.size;
  }
}

/** In-flight server requests and recent client calls per thread (event-loop accounting). */
export class ThreadActivity {
  readonly #clients = new Map<number, [number, number][]>();
  /** per thread: in-flight server requests (by span id), each with the most that were in flight at once during it */
  readonly #inflight = new Map<number, Map<string, { max: number; traceId: string }>>();
  readonly #max: number;

  constructor(maxThreads = 16384) {
    this.#max = maxThreads;
  }

  client(tid: number, startNs: number, endNs: number): void {
    let l = this.#clients.get(tid);
    if (!l) {
      if (this.#clients.size >= this.#max) this.#clients.delete(this.#clients.keys().next().value as number);
      l = [];
      this.#clients.set(tid, l);
    }
    l.push([startNs, endNs]);
    if (l.length > RING) l.shift();
  }

  /** time within [start, end] covered by this thread's client calls (overlaps merged) */
  clientCover(tid: number, start: number, end: number): number {
    const spans = (this.#clients.get(tid) ?? []).map(([a, b]) => [Math.max(a, start), Math.min(b, end)] as const).filter(([a, b]) => b > a);
    spans.sort((x, y) => x[0] - y[0]);
    let cover = 0;
    let at = start;
    for (const [a, b] of spans) {
      const from = Math.max(a, at);
      if (b > from) {
        cover += b - from;
        at = b;
      }
    }
    return cover;
  }

  /** a server request (its span) started on this thread */
  begin(tid: number, spanId: string, traceId: string): void {
    let m = this.#inflight.get(tid);
    if (!m) {
      if (this.#inflight.size >= this.#max) this.#inflight.delete(this.#inflight.keys().next().value as number);
      m = new Map();
      this.#inflight.set(tid, m);
    }
    if (m.size >= 4096) m.delete(m.keys().next().value as string);
    m.set(spanId, { max: 0, traceId });
    const n = m.size;
    for (const v of m.values()) if (v.max < n) v.max = n;
  }

  /** the request ended: how many were in flight on its thread at most while it ran (1 = alone) */
  end(tid: number, spanId: string): number {
    const m = this.#inflight.get(tid);
    const n = m?.get(spanId)?.max;
    m?.delete(spanId);
    if (m && m.size === 0) this.#inflight.delete(tid);
    return n ?? 1;
  }

  /** the one server request in flight on this thread, if exactly one is: a call it makes is made for it */
  sole(tid: number): { traceId: string; spanId: string } | undefined {
    const m = this.#inflight.get(tid);
    if (!m || m.size !== 1) return undefined;
    const [spanId, v] = m.entries().next().value as [string, { traceId: string }];
    return { traceId: v.traceId, spanId };
  }
}

export interface ProfilerOptions {
  maxThreads?: number;
  selector?: SelectorOptions;
  /** children of a selected span: off-CPU and run-queue slices at least this long */
  minChildMs?: number;
  maxChildren?: number;
  windowMs?: number;
}

export class Profiler {
  readonly index: SnapshotIndex;
  readonly activity: ThreadActivity;
  readonly timeline: SliceTimeline;
  readonly selector: SpanSelector;
  readonly minChildNs: number;
  readonly maxChildren: number;
  /** children beyond maxChildren, not made */
  childrenDropped = 0;
  /** spans whose start or end snapshot was missing */
  missing = 0;
  /** spans read on one thread and answered on another */
  handoffs = 0;

  constructor(o: ProfilerOptions = {}) {
    this.index = new SnapshotIndex(o.maxThreads);
    this.activity = new ThreadActivity(o.maxThreads);
    this.timeline = new SliceTimeline({ ...(o.windowMs ? { windowMs: o.windowMs } : {}), ...(o.maxThreads ? { maxThreads: o.maxThreads } : {}) });
    this.selector = new SpanSelector(o.selector);
    this.minChildNs = (o.minChildMs ?? 1) * 1e6;
    this.maxChildren = o.maxChildren ?? 64;
  }

  /** The timeline of a selected span: its thread's slices inside it, bounded. */
  children(tid: number, startNs: number, endNs: number): Slice[] {
    const all = this.timeline.within(tid, startNs, endNs, this.minChildNs);
    if (all.length > this.maxChildren) this.childrenDropped += all.length - this.maxChildren;
    return all.slice(0, this.maxChildren);
  }

  /**
   * The breakdown of a server span from its request's first read (startTid,
   * startNs = that read's enter) to its response's last write (endTid, endNs =
   * that write's exit); undefined when the thread changed or a snapshot is missing.
   */
  breakdown(startTid: number, startNs: number, endTid: number, endNs: number, concurrency = 1): Breakdown | 'handoff' | undefined {
    if (startTid !== endTid) {
      this.handoffs++;
      return 'handoff';
    }
    const a = this.index.find(startTid, startNs);
    const b = this.index.find(endTid, endNs);
    if (!a || !b) {
      this.missing++;
      return undefined;
    }
    const d = (x: number, y: number): number => Math.max(0, y - x);
    const offAll = OFFCPU_CAUSES.map((_, i) => d(a.snap.off[i] ?? 0, b.snap.off[i] ?? 0));
    const byCause = Object.fromEntries(OFFCPU_CAUSES.map((c, i) => [c, offAll[i] ?? 0])) as Record<Cause, number>;
    const offNs: Record<ExportedCause, number> = {
      lock: byCause.lock,
      net: byCause.net,
      disk: byCause.disk,
      idle: byCause.idle,
      sleep: byCause.sleep,
      pipe: byCause.pipe,
      other: byCause.other + byCause.nonsys,
    };
    const durationNs = d(startNs, endNs);
    // on an event loop, waiting in epoll while this thread's own client call is out is waiting for that call
    const downstreamNs = Math.min(offNs.idle, this.activity.clientCover(startTid, startNs, endNs));
    offNs.idle -= downstreamNs;
    const onNs = d(a.snap.on, b.snap.on);
    const runqNs = d(a.snap.runq, b.snap.runq);
    const buckets: [string, number][] = [['cpu', onNs], ['runq', runqNs], ['downstream', downstreamNs], ...EXPORTED.map((c) => [c, offNs[c]] as [string, number])];
    const dominant = buckets.reduce((best, x) => (x[1] > best[1] ? x : best), ['cpu', -1] as [string, number])[0];
    return {
      tid: startTid,
      threadName: a.name,
      durationNs,
      onNs,
      runqNs,
      offNs,
      downstreamNs,
      voluntary: b.snap.voluntary - a.snap.voluntary,
      involuntary: b.snap.involuntary - a.snap.involuntary,
      dominant,
      concurrency,
    };
  }
}

/** Span attributes of a breakdown (integers, ns). */
export function profileAttributes(b: Breakdown | 'handoff' | undefined): Attributes {
  if (b === 'handoff') return { 'kindling.profile.thread_handoff': true };
  if (!b) return {};
  const a: Attributes = {
    'kindling.cpu.on_ns': b.onNs,
    'kindling.cpu.runq_ns': b.runqNs,
    'kindling.offcpu.lock_ns': b.offNs.lock,
    'kindling.offcpu.net_ns': b.offNs.net,
    'kindling.offcpu.disk_ns': b.offNs.disk,
    'kindling.offcpu.idle_ns': b.offNs.idle,
    'kindling.offcpu.sleep_ns': b.offNs.sleep,
    'kindling.offcpu.pipe_ns': b.offNs.pipe,
    'kindling.offcpu.other_ns': b.offNs.other,
    'kindling.offcpu.downstream_ns': b.downstreamNs,
    'kindling.sched.voluntary': b.voluntary,
    'kindling.sched.involuntary': b.involuntary,
    'kindling.profile.dominant': b.dominant,
    'thread.name': b.threadName,
  };
  if (b.concurrency > 1) a['kindling.profile.concurrency'] = b.concurrency;
  return a;
}
