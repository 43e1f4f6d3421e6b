import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Flag, SCHED_SNAPSHOT_SIZE, SOCK_EVENT_SIZE } from '../../src/events/abi';
import { decodeBatch } from '../../src/events/decode';
import type { SockEvent } from '../../src/events/types';
import { Profiler, profileAttributes } from '../../src/telemetry/profile';
import { SpanSelector } from '../../src/telemetry/slices';
import { sockRecord } from '../helpers/records';

/** a data event of thread `tid` whose snapshot says on/runq/off (off by cause index) */
function ev(tid: number, direction: 1 | 2, atNs: number, on: number, runq: number, off: Partial<Record<number, number>> = {}): SockEvent {
  const rec = sockRecord({ tid, direction, enterNs: BigInt(atNs), exitNs: BigInt(atNs), sched: true });
  const base = SOCK_EVENT_SIZE;
  rec.writeBigUInt64LE(BigInt(on), base);
  rec.writeBigUInt64LE(BigInt(runq), base + 8);
  for (const [i, v] of Object.entries(off)) rec.writeBigUInt64LE(BigInt(v ?? 0), base + 16 + 8 * Number(i));
  rec.writeBigUInt64LE(BigInt(atNs), base + 80);
  assert.ok(rec.readUInt8(7) & Flag.Sched);
  assert.equal(SCHED_SNAPSHOT_SIZE, 128);
  return decodeBatch(rec).events[0] as SockEvent;
}

const LOCK = 1;
const IDLE = 3;
const NONSYS = 6;

test('a span breakdown is the difference of its two snapshots; nonsys folds into other; the biggest bucket dominates', () => {
  const p = new Profiler();
  p.index.note(ev(7, 2, 1_000_000, 100, 50, { [LOCK]: 10 }));
  p.index.note(ev(7, 1, 31_000_000, 2_100, 950, { [LOCK]: 20_000_010, [NONSYS]: 5_000 }));
  const b = p.breakdown(7, 1_000_000, 7, 31_000_000);
  assert.ok(b && b !== 'handoff');
  assert.equal(b.onNs, 2000);
  assert.equal(b.runqNs, 900);
  assert.equal(b.offNs.lock, 20_000_000);
  assert.equal(b.offNs.other, 5000);
  assert.equal(b.dominant, 'lock');
  assert.equal(b.durationNs, 30_000_000);
  const a = profileAttributes(b);
  assert.equal(a['kindling.offcpu.lock_ns'], 20_000_000);
  assert.equal(a['kindling.profile.dominant'], 'lock');
});

test('read on one thread and answered on another: flagged as a hand-off, no breakdown', () => {
  const p = new Profiler();
  assert.equal(p.breakdown(1, 0, 2, 10), 'handoff');
  assert.deepEqual(profileAttributes('handoff'), { 'kindling.profile.thread_handoff': true });
  assert.equal(p.breakdown(3, 0, 3, 10), undefined, 'no snapshots: nothing to say');
  assert.equal(p.missing, 1);
});

test('on an event loop, idle time under the thread own client calls is downstream; overlapping requests are flagged', () => {
  const p = new Profiler();
  p.activity.begin(9, 's1', 't1');
  p.activity.begin(9, 's2', 't2');
  assert.equal(p.activity.sole(9), undefined, 'two in flight: a call cannot be attributed');
  assert.equal(p.activity.end(9, 's2'), 2);
  assert.deepEqual(p.activity.sole(9), { traceId: 't1', spanId: 's1' });
  p.activity.client(9, 10_000_000, 40_000_000);
  p.index.note(ev(9, 2, 0, 0, 0));
  p.index.note(ev(9, 1, 50_000_000, 5_000_000, 0, { [IDLE]: 45_000_000 }));
  const b = p.breakdown(9, 0, 9, 50_000_000, p.activity.end(9, 's1'));
  assert.ok(b && b !== 'handoff');
  assert.equal(b.downstreamNs, 30_000_000);
  assert.equal(b.offNs.idle, 15_000_000);
  assert.equal(b.dominant, 'downstream');
  assert.equal(b.concurrency, 2);
  assert.equal(profileAttributes(b)['kindling.profile.concurrency'], 2);
});

test('selection: 100 slow requests in 2 s on one route with a 1-per-5-s limit select exactly one; fast ones never', () => {
  const s = new SpanSelector({ thresholdMs: 100, perEndpointMs: 5000, globalPerSec: 20 });
  let picked = 0;
  for (let i = 0; i < 100; i++) if (s.select('svc GET /slow', 200e6, 1_000_000 + i * 20)) picked++;
  assert.equal(picked, 1);
  assert.equal(s.limited, 99);
  for (let i = 0; i < 100; i++) assert.equal(s.select('svc GET /fast', 1e6, 1_000_000 + i), false);
  assert.equal(s.select('svc GET /slow', 200e6, 1_006_000), true, 'after 5 s the route may be selected again');
});

test('selection by p95, arming, and the global limit', () => {
  const s = new SpanSelector({ thresholdMs: 0, p95MinSamples: 50, perEndpointMs: 0, globalPerSec: 2 });
  for (let i = 0; i < 100; i++) s.select('e', (10 + (i % 10)) * 1e6, 0);
  assert.equal(s.select('e', 19e6, 10_000), false, 'not over the p95');
  assert.equal(s.select('e', 500e6, 10_000), true, 'over the p95');
  s.arm('other', 5);
  let armed = 0;
  for (let i = 0; i < 5; i++) if (s.select('other', 1e6, 10_000)) armed++;
  assert.equal(armed, 1, 'the global limit (2/s) still holds: one token was left');
});

test('the slice timeline keeps a window per thread, bounded, and gives the slices inside a span', () => {
  const p = new Profiler({ windowMs: 100 });
  const slice = (tid: number, cause: number, start: number, end: number) => {
    const b = Buffer.alloc(32);
    b.writeUInt16LE(5, 0);
    b.writeUInt16LE(32, 2);
    b.writeUInt8(cause, 4);
    b.writeUInt32LE(1, 8);
    b.writeUInt32LE(tid, 12);
    b.writeBigUInt64LE(BigInt(start), 16);
    b.writeBigUInt64LE(BigInt(end), 24);
    return decodeBatch(b).events[0] as never;
  };
  p.timeline.add(slice(4, LOCK, 10e6, 20e6));
  p.timeline.add(slice(4, 255, 20e6, 20.5e6));
  p.timeline.add(slice(4, IDLE, 30e6, 45e6));
  p.timeline.add(slice(5, LOCK, 10e6, 20e6));
  const kids = p.children(4, 5e6, 50e6);
  assert.deepEqual(kids.map((k) => k.cause), ['lock', 'idle'], 'the 0.5 ms run-queue wait is below the 1 ms floor');
  p.timeline.add(slice(4, IDLE, 300e6, 301e6));
  assert.deepEqual(p.children(4, 0, 400e6).map((k) => k.cause), ['idle'], 'older than the window: gone');
});

test('the snapshot index: a ring per thread that grows to 1024, finds by timestamp, forgets the oldest, and reports off-CPU deltas', () => {
  const p = new Profiler();
  const idx = p.index;
  assert.equal(idx.note(ev(5, 2, 1000, 0, 0, { [LOCK]: 100 })), false, 'no delta for the first snapshot of a thread');
  assert.equal(idx.note(ev(5, 1, 2000, 10, 0, { [LOCK]: 350, [IDLE]: 7 })), true);
  assert.equal(idx.delta[LOCK], 250);
  assert.equal(idx.delta[IDLE], 7);
  // counters never run backwards in the kernel; a smaller value (a reused tid) is no negative time
  idx.note(ev(5, 1, 3000, 10, 0, { [LOCK]: 300 }));
  assert.equal(idx.delta[LOCK], 0);
  for (let i = 0; i < 1500; i++) idx.note(ev(5, 1, 10_000 + i, i, 2 * i, { [NONSYS]: i }));
  assert.equal(idx.find(5, 1000), undefined, 'the oldest snapshots leave once 1024 are kept');
  assert.equal(idx.find(5, 10_000 + 1500 - 1025), undefined);
  const oldest = idx.find(5, 10_000 + 1500 - 1024);
  assert.equal(oldest?.snap.on, 1500 - 1024);
  const newest = idx.find(5, 10_000 + 1499);
  assert.equal(newest?.snap.runq, 2 * 1499);
  assert.equal(newest?.snap.off[NONSYS], 1499);
  assert.equal(newest?.name, oldest?.name);
  assert.equal(idx.find(6, 10_000), undefined, 'another thread has none');
  idx.forget(5);
  assert.equal(idx.threads, 0);
});
