// The per-thread stack buffer: bounded with counted drops, matched to a child's interval by overlap,
// forgotten with its thread; symbolized only when a span asks.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kind, STACK_EVENT, STACK_EVENT_SIZE, STACK_TRUNCATED } from '../../src/events/abi';
import { StackEvent } from '../../src/events/types';
import { StackStore } from '../../src/profiling/stacks';
import { Symbolizer } from '../../src/profiling/symbolizer';

function stack(tid: number, startNs: number, endNs: number, frames: number[], flags = 0): StackEvent {
  const F = STACK_EVENT;
  const b = Buffer.alloc(STACK_EVENT_SIZE);
  b.writeUInt16LE(Kind.Stack, F.kind[0]);
  b.writeUInt16LE(STACK_EVENT_SIZE, F.size[0]);
  b.writeUInt8(flags, F.flags[0]);
  b.writeUInt16LE(frames.length, F.nframes[0]);
  b.writeUInt32LE(999999, F.pid[0]); // no such process: frames print as addresses
  b.writeUInt32LE(tid, F.tid[0]);
  b.writeBigUInt64LE(BigInt(startNs), F.block_start_ns[0]);
  b.writeBigUInt64LE(BigInt(endNs), F.block_end_ns[0]);
  frames.forEach((f, i) => b.writeBigUInt64LE(BigInt(f), F.frames[0] + 8 * i));
  return new StackEvent(b, new DataView(b.buffer, b.byteOffset, b.byteLength), 0);
}

test('the stack whose block overlaps the interval most is attached; truncation is marked', () => {
  const store = new StackStore({ symbolizer: new Symbolizer({ perfMapPaths: () => [] }) });
  store.add(stack(7, 1_000, 5_000_000, [0x1000, 0x2000]));
  store.add(stack(7, 6_000_000, 9_000_000, [0x3000], STACK_TRUNCATED));
  store.add(stack(8, 1_000, 9_000_000, [0x4000]));
  assert.deepEqual(store.attributes(7, 1_000, 5_000_000), { 'code.stacktrace': '0x1000\n0x2000' });
  assert.deepEqual(store.attributes(7, 5_500_000, 9_500_000), { 'code.stacktrace': '0x3000', 'kindling.stack.truncated': true });
  assert.deepEqual(store.attributes(8, 1_000, 9_000_000), { 'code.stacktrace': '0x4000', 'kindling.stack.truncated': true }, 'a walk that stopped at the leaf is partial');
  assert.deepEqual(store.attributes(7, 10_000_000, 11_000_000), {}, 'no overlap, no stack');
  assert.deepEqual(store.attributes(9, 1_000, 9_000_000), {}, 'a thread with no stacks');
  const s = store.stats();
  assert.equal(s.received, 3);
  assert.equal(s.attached, 3);
  assert.equal(s.symbolizer.stacks, 3, 'symbolized only when attached');
  assert.equal(s.symbolizer.failures.maps, 3, 'the process is gone: counted, addresses kept');
});

test('each thread keeps its last N stacks; the rest and forgotten threads are counted as dropped', () => {
  const store = new StackStore({ perThread: 2, maxThreads: 2 });
  for (let i = 0; i < 5; i++) store.add(stack(1, i * 10, i * 10 + 5, [0x10 + i]));
  assert.equal(store.dropped, 3);
  assert.equal(store.find(1, 0, 5), undefined, 'the oldest went');
  assert.equal(store.find(1, 40, 45)?.frames[0], 0x14);
  store.add(stack(2, 0, 5, [1]));
  store.add(stack(3, 0, 5, [1]));
  assert.equal(store.stats().threads, 2);
  assert.equal(store.dropped, 5, "thread 1's two stacks went with it");
  store.forget(3);
  assert.equal(store.find(3, 0, 5), undefined);
  store.sweep(Date.now() + 120_000, 60_000);
  assert.equal(store.stats().threads, 0);
});
