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
import { OFF_COUNT, OFFCPU_CAUSES } from '../events/abi';
import type { SockEvent } from '../events/types';
import { StackStore } from '../profiling/stacks';
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

/** recent client calls kept per thread */
const RING = 64;
/** snapshots kept per thread: an event loop with hundreds of requests in flight needs its whole window */
const SNAPSHOTS_PER_THREAD = 1024;
/** numbers per snapshot: on, runq, off by cause, voluntary, involuntary (SockEvent.schedInto's layout) */
const WIDTH = 4 + OFF_COUNT;

/** One thread's recent snapshots: a ring that grows by doubling up to SNAPSHOTS_PER_THREAD. */
interface ThreadSnaps {
  ns: Float64Array;
  vals: Float64Array;
  /** next slot to write; the newest is at head - 1 */
  head: number;
  count: number;
  name: string;
  seenMs: number;
}

/**
 * Recent counter snapshots per thread, keyed by the timestamp they were taken
 * at (enter for ingress, exit for egress): the telemetry looks them up by a
 * span's start and end. Bounded: SNAPSHOTS_PER_THREAD per thread, `maxThreads`
 * threads. Noting a snapshot allocates nothing once a thread's ring is grown.
 */
export class SnapshotIndex {
  readonly #byTid = new Map<number, ThreadSnaps>();
  readonly #maxThreads: number;
  readonly #cur = new Float64Array(WIDTH);
  /** off-CPU ns by cause since the thread's previous snapshot, as of the last note() that returned true */
  readonly delta = new Float64Array(OFF_COUNT);
  /** a coarse clock for idleness, set by the caller once per batch */
  nowMs = Date.now();
  noted = 0;

  constructor(maxThreads = 16384) {
    this.#maxThreads = maxThreads;
  }

  /** Keep the event's snapshot; true when `delta` holds off-CPU time since the thread's previous one. */
  note(ev: SockEvent): boolean {
    const cur = this.#cur;
    if (!ev.schedInto(cur)) return false;
    let t = this.#byTid.get(ev.tid);
    if (!t) {
      if (this.#byTid.size >= this.#maxThreads) this.#byTid.delete(this.#byTid.keys().next().value as number);
      t = { ns: new Float64Array(16), vals: new Float64Array(16 * WIDTH), head: 0, count: 0, name: ev.comm, seenMs: 0 };
      this.#byTid.set(ev.tid, t);
    }
    let cap = t.ns.length;
    const hadPrev = t.count > 0;
    if (hadPrev) {
      const p = ((t.head - 1 + cap) % cap) * WIDTH;
      for (let i = 0; i < OFF_COUNT; i++) this.delta[i] = Math.max(0, (cur[2 + i] ?? 0) - (t.vals[p + 2 + i] ?? 0));
    }
    if (t.count === cap && cap < SNAPSHOTS_PER_THREAD) {
      grow(t);
      cap = t.ns.length;
    }
    t.ns[t.head] = ev.direction === 2 ? ev.enterNs : ev.exitNs;
    t.vals.set(cur, t.head * WIDTH);
    t.head = (t.head + 1) % cap;
    if (t.count < cap) t.count++;
    t.seenMs = this.nowMs;
    this.noted++;
    return hadPrev;
  }

  find(tid: number, ns: number): { snap: Snap; name: string } | undefined {
    const t = this.#byTid.get(tid);
    if (!t) return undefined;
    const cap = t.ns.length;
    // newest first: a span's snapshots are almost always among the last few
    for (let k = 1; k <= t.count; k++) {
      const slot = (t.head - k + cap) % cap;
      if (t.ns[slot] !== ns) continue;
      const v = t.vals.subarray(slot * WIDTH, slot * WIDTH + WIDTH);
      const off: number[] = [];
      for (let i = 0; i < OFF_COUNT; i++) off.push(v[2 + i] ?? 0);
      return { snap: { ns, on: v[0] ?? 0, runq: v[1] ?? 0, off, voluntary: v[2 + OFF_COUNT] ?? 0, involuntary: v[3 + OFF_COUNT] ?? 0 }, name: t.name };
    }
    return undefined;
  }

  get threads(): number {
    return this.#byTid.size;
  }

  sweep(nowMs: number, idleMs: number): void {
    for (const [tid, t] of this.#byTid) if (nowMs - t.seenMs > idleMs) this.#byTid.delete(tid);
  }

  forget(tid: number): void {
    this.#byTid.delete(tid);
  }
}

/** doubles a full ring, oldest first */
function grow(t: ThreadSnaps): void {
  const cap = t.ns.length;
  const ns = new Float64Array(cap * 2);
  const vals = new Float64Array(cap * 2 * WIDTH);
  for (let k = 0; k < t.count; k++) {
    const slot = (t.head + k) % cap;
    ns[k] = t.ns[slot] ?? 0;
    vals.set(t.vals.subarray(slot * WIDTH, slot * WIDTH + WIDTH), k * WIDTH);
  }
  t.ns = ns;
  t.vals = vals;
  t.head = t.count % (cap * 2);
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

  forget(tid: number): void {
    this.#clients.delete(tid);
    this.#inflight.delete(tid);
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
  slicesPerThread?: number;
  /** tier 3: keep stack records and put them on selected spans' children */
  stacks?: boolean;
}

export class Profiler {
  readonly index: SnapshotIndex;
  readonly activity: ThreadActivity;
  readonly timeline: SliceTimeline;
  readonly selector: SpanSelector;
  /** tier 3, when profiling.stacks is on */
  readonly stacks: StackStore | undefined;
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
    this.timeline = new SliceTimeline({
      ...(o.windowMs ? { windowMs: o.windowMs } : {}),
      ...(o.maxThreads ? { maxThreads: o.maxThreads } : {}),
      ...(o.slicesPerThread ? { perThread: o.slicesPerThread } : {}),
    });
    this.selector = new SpanSelector(o.selector);
    this.stacks = o.stacks ? new StackStore(o.maxThreads ? { maxThreads: o.maxThreads } : {}) : undefined;
    this.minChildNs = (o.minChildMs ?? 1) * 1e6;
    this.maxChildren = o.maxChildren ?? 64;
  }

  /** Forget threads with no snapshot for idleMs (threads end without telling): the state returns to its baseline. */
  sweep(nowMs: number = Date.now(), idleMs = 60_000): void {
    this.index.sweep(nowMs, idleMs);
    this.timeline.sweep(nowMs, idleMs);
    this.stacks?.sweep(nowMs, idleMs);
  }

  /** A tracked thread ended: its state goes now. */
  forgetThread(tid: number): void {
    this.index.forget(tid);
    this.timeline.forget(tid);
    this.activity.forget(tid);
    this.stacks?.forget(tid);
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
