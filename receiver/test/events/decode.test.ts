import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Flag, Kind, SOCK_EVENT, STACK_EVENT, STACK_EVENT_SIZE, STACK_MAX_FRAMES, STACK_TRUNCATED } from '../../src/events/abi';
import { decodeBatch } from '../../src/events/decode';
import { SockEvent, SockStateEvent, StackEvent } from '../../src/events/types';
import { sockRecord, stateRecord } from '../helpers/records';

test('decodes data, connection and state records with every field', () => {
  const payload = Buffer.from('GET /x HTTP/1.1\r\n\r\n');
  const batch = Buffer.concat([
    sockRecord({ payload, pid: 42, tid: 43, fd: 9, enterNs: 5_000_000_000_123n, exitNs: 5_000_000_001_000n, sockId: 987n, offset: 77n }),
    sockRecord({ kind: Kind.SockConn, hook: 11, direction: 0, ret: -115n, len: 0n }),
    stateRecord({ oldState: 2, newState: 1 }),
  ]);
  const r = decodeBatch(batch);
  assert.equal(r.error, undefined);
  assert.equal(r.events.length, 3);
  const [data, conn, state] = r.events;
  assert.ok(data instanceof SockEvent && conn instanceof SockEvent && state instanceof SockStateEvent);
  assert.equal(data.kind, Kind.SockData);
  assert.equal(data.hookName, 'write');
  assert.equal(data.directionName, 'egress');
  assert.equal(data.pid, 42);
  assert.equal(data.tid, 43);
  assert.equal(data.fd, 9);
  assert.equal(data.enterNs, 5_000_000_000_123);
  assert.equal(data.exitNs, 5_000_000_001_000);
  assert.equal(data.sockId, 987);
  assert.equal(data.offset, 77);
  assert.equal(data.len, payload.length);
  assert.equal(data.localAddr, '127.0.0.1');
  assert.equal(data.remotePort, 80);
  assert.equal(data.comm, 'curl');
  assert.equal(data.sk, 0xffff888812345678n);
  assert.deepEqual(Buffer.from(data.payload), payload);
  assert.equal(conn.kind, Kind.SockConn);
  assert.equal(conn.hookName, 'connect');
  assert.equal(conn.ret, -115);
  assert.equal(state.toJSON()['newState'], 'ESTABLISHED');
  assert.equal(state.localAddr, '10.0.0.1');
  assert.equal(state.comm, 'ksoftirqd/0');
});

test('negative 64-bit return values and lengths above 2^32 decode exactly', () => {
  const r = decodeBatch(sockRecord({ ret: -104n, len: 6_000_000_000n }));
  const ev = r.events[0] as SockEvent;
  assert.equal(ev.ret, -104);
  assert.equal(ev.len, 6_000_000_000);
});

test('the payload follows the scheduler snapshot when KD_FLAG_SCHED is set', () => {
  const payload = Buffer.from('abc');
  const ev = decodeBatch(sockRecord({ payload, sched: true })).events[0] as SockEvent;
  assert.ok(ev.flags & Flag.Sched);
  assert.deepEqual(Buffer.from(ev.payload), payload);
  assert.equal(ev.sched?.onNs, 0);
});

test('a record that lies about its size stops the batch with the byte offset; earlier events are kept', () => {
  const good = sockRecord({ payload: Buffer.from('ok') });
  const bad = sockRecord({ payload: Buffer.from('xyz') });
  bad.writeUInt16LE(9999, SOCK_EVENT.size[0]);
  const r = decodeBatch(Buffer.concat([good, bad]));
  assert.equal(r.events.length, 1);
  assert.equal(r.error?.offset, good.length);
  assert.match(r.error?.reason ?? '', /runs past the end/);
});

test('a payload length beyond the record is refused, not read out of bounds', () => {
  const rec = sockRecord({ payload: Buffer.from('hello') });
  rec.writeUInt16LE(4000, SOCK_EVENT.payload_len[0]);
  const r = decodeBatch(rec);
  assert.equal(r.events.length, 0);
  assert.match(r.error?.reason ?? '', /cannot hold its 4000-byte payload/);
});

test('records of an unknown kind are skipped and counted', () => {
  const unknown = Buffer.alloc(16);
  unknown.writeUInt16LE(99, 0);
  unknown.writeUInt16LE(16, 2);
  const r = decodeBatch(Buffer.concat([unknown, sockRecord()]));
  assert.equal(r.unknown, 1);
  assert.equal(r.events.length, 1);
  assert.equal(r.error, undefined);
});

test('every truncation of a valid batch decodes a prefix and never throws', () => {
  const records = [sockRecord({ payload: Buffer.from('a'.repeat(40)) }), stateRecord(), sockRecord()];
  const batch = Buffer.concat(records);
  const boundaries = [0, records[0]!.length, records[0]!.length + records[1]!.length, batch.length];
  for (let cut = 0; cut <= batch.length; cut++) {
    const r = decodeBatch(batch.subarray(0, cut));
    for (const ev of r.events) JSON.stringify(ev);
    // only a cut at a record boundary decodes cleanly; any other cut reports where it broke
    assert.equal(r.error === undefined, boundaries.includes(cut), `cut at ${cut}`);
    assert.equal(r.events.length, boundaries.filter((b) => b > 0 && b <= cut).length, `events at cut ${cut}`);
  }
});

test('random and mutated bytes never throw', () => {
  const base = Buffer.concat([sockRecord({ payload: Buffer.from('payload') }), stateRecord()]);
  for (let i = 0; i < 3000; i++) {
    const input = i % 2 === 0 ? randomBytes(1 + (i % 700)) : Buffer.from(base);
    if (i % 2 === 1) for (let k = 0; k < 1 + (i % 5); k++) input[(i * 31 + k * 17) % input.length] = (i * k) & 0xff;
    const r = decodeBatch(input);
    for (const ev of r.events) JSON.stringify(ev.toJSON());
  }
});

test('stack records: frames, stack words and flags decode; counts beyond the arrays are refused', () => {
  const F = STACK_EVENT;
  const b = Buffer.alloc(STACK_EVENT_SIZE);
  b.writeUInt16LE(Kind.Stack, F.kind[0]);
  b.writeUInt16LE(STACK_EVENT_SIZE, F.size[0]);
  b.writeUInt8(1, F.cause[0]); // lock
  b.writeUInt8(STACK_TRUNCATED, F.flags[0]);
  b.writeUInt16LE(3, F.nframes[0]);
  b.writeUInt32LE(10, F.pid[0]);
  b.writeUInt32LE(11, F.tid[0]);
  b.writeInt32LE(202, F.syscall_nr[0]);
  b.writeUInt16LE(2, F.nscan[0]);
  b.writeBigUInt64LE(1_000n, F.block_start_ns[0]);
  b.writeBigUInt64LE(3_000_000n, F.block_end_ns[0]);
  b.writeBigUInt64LE(0x7ffc0000n, F.user_sp[0]);
  b.writeBigUInt64LE(0x7ffc0040n, F.user_bp[0]);
  [0x7f0012345678n, 0x55aa00001234n, 0x7f0000000001n].forEach((v, i) => b.writeBigUInt64LE(v, F.frames[0] + 8 * i));
  b.writeBigUInt64LE(0x55aa00009999n, F.scan[0] + 8);
  const r = decodeBatch(b);
  assert.equal(r.error, undefined);
  const ev = r.events[0];
  assert.ok(ev instanceof StackEvent);
  assert.deepEqual(ev.frames, [0x7f0012345678, 0x55aa00001234, 0x7f0000000001]);
  assert.deepEqual(ev.scan, [0, 0x55aa00009999]);
  assert.equal(ev.cause, 'lock');
  assert.equal(ev.truncated, true);
  assert.equal(ev.syscallNr, 202);
  assert.equal(ev.tid, 11);
  assert.equal(ev.blockEndNs - ev.blockStartNs, 2_999_000);
  assert.equal(ev.sp, 0x7ffc0000);
  assert.equal(ev.bp, 0x7ffc0040);
  b.writeUInt16LE(STACK_MAX_FRAMES + 1, F.nframes[0]);
  assert.match(decodeBatch(b).error?.reason ?? '', /stack record claims 33 frames/);
  b.writeUInt16LE(3, F.nframes[0]);
  b.writeUInt16LE(STACK_EVENT_SIZE - 8, F.size[0]);
  assert.match(decodeBatch(b.subarray(0, STACK_EVENT_SIZE - 8)).error?.reason ?? '', /stack record of \d+ bytes is shorter/);
});
