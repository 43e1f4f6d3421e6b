// The decoder's offsets (abi.ts) against the table bpf/tools/abi_dump.c prints from offsetof.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import * as abi from '../../src/events/abi';
import { artifacts } from '../../src/util/paths';

interface Table {
  [struct: string]: { size: number; fields: Record<string, [number, number]> } | Record<string, number>;
}

function table(): Table {
  const file = artifacts.abiTable();
  assert.ok(fs.existsSync(file), `${file} is missing: the build prints it (npm run build)`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Table;
}

const mirrors = [
  ['kd_sock_event', abi.SOCK_EVENT, abi.SOCK_EVENT_SIZE],
  ['kd_sched_snapshot', abi.SCHED_SNAPSHOT, abi.SCHED_SNAPSHOT_SIZE],
  ['kd_sock_state_event', abi.SOCK_STATE_EVENT, abi.SOCK_STATE_EVENT_SIZE],
  ['kd_proc_event', abi.PROC_EVENT, abi.PROC_EVENT_SIZE],
  ['kd_slice_event', abi.SLICE_EVENT, abi.SLICE_EVENT_SIZE],
  ['kd_stack_event', abi.STACK_EVENT, abi.STACK_EVENT_SIZE],
] as const;

for (const [struct, fields, size] of mirrors) {
  test(`${struct}: every offset and size matches the C header`, () => {
    const c = table()[struct] as { size: number; fields: Record<string, [number, number]> };
    assert.ok(c, `${struct} missing from the C table`);
    assert.equal(size, c.size, `${struct} size`);
    assert.deepEqual(Object.keys(fields).sort(), Object.keys(c.fields).sort(), `${struct}: the same fields`);
    for (const [name, [off, len]] of Object.entries(c.fields)) {
      assert.deepEqual((fields as Record<string, readonly [number, number]>)[name], [off, len], `${struct}.${name}`);
    }
  });
}

test('constants match the C header', () => {
  const k = table()['constants'] as Record<string, number>;
  assert.equal(abi.ABI_VERSION, k['KD_ABI_VERSION']);
  assert.equal(abi.PAYLOAD_MAX, k['KD_PAYLOAD_MAX']);
  assert.equal(abi.PAYLOAD_DEFAULT, k['KD_PAYLOAD_DEFAULT']);
  assert.equal(abi.MAX_IOV, k['KD_MAX_IOV']);
  assert.equal(abi.MAX_MMSG, k['KD_MAX_MMSG']);
  assert.equal(abi.HOOK_COUNT, k['KD_HOOK_COUNT']);
  assert.equal(abi.CNT_COUNT, k['KD_CNT_COUNT']);
  assert.equal(abi.OFF_COUNT, k['KD_OFF_COUNT']);
  assert.equal(abi.Kind.SockData, k['KD_KIND_SOCK_DATA']);
  assert.equal(abi.Kind.SockConn, k['KD_KIND_SOCK_CONN']);
  assert.equal(abi.Kind.SockState, k['KD_KIND_SOCK_STATE']);
  assert.equal(abi.Kind.Proc, k['KD_KIND_PROC']);
  assert.equal(abi.Kind.Slice, k['KD_KIND_SLICE']);
  assert.equal(abi.SLICE_RUNQ, k['KD_SLICE_RUNQ']);
  assert.equal(abi.Flag.Sched, k['KD_FLAG_SCHED']);
  assert.equal(abi.Kind.Stack, k['KD_KIND_STACK']);
  assert.equal(abi.STACK_MAX_FRAMES, k['KD_STACK_MAX_FRAMES']);
  assert.equal(abi.STACK_SCAN_WORDS, k['KD_STACK_SCAN_WORDS']);
  assert.equal(abi.STACK_HEADER_SIZE, k['KD_STACK_HEADER_SIZE']);
  assert.equal(abi.STACK_TRUNCATED, k['KD_STACK_TRUNCATED']);
});

test('enum values match the C header: hooks, counters, flags, directions, off-CPU causes', () => {
  const t = table() as unknown as Record<string, Record<string, number>>;
  for (const [cName, value] of Object.entries(t['hooks'] ?? {})) {
    assert.equal(abi.HOOK_NAMES[value], cName.replace(/^KD_HOOK_/, '').toLowerCase(), cName);
  }
  assert.equal(Object.keys(t['hooks'] ?? {}).length, abi.HOOK_NAMES.length);
  const counters: Record<string, string> = {
    KD_CNT_EMITTED: 'emitted',
    KD_CNT_LOST_RINGBUF: 'lost_ringbuf_full',
    KD_CNT_LOST_STASH: 'lost_no_task_storage',
    KD_CNT_LOST_MMSG: 'lost_mmsg_overflow',
    KD_CNT_LOST_SCRATCH: 'lost_no_scratch',
    KD_CNT_PAYLOAD_FAULT: 'payload_fault',
    KD_CNT_IOV_TRUNCATED: 'iov_truncated',
    KD_CNT_SKIPPED_EAGAIN: 'skipped_eagain',
    KD_CNT_THROTTLED: 'throttled',
  };
  assert.deepEqual(Object.keys(t['counters'] ?? {}).sort(), Object.keys(counters).sort());
  for (const [cName, value] of Object.entries(t['counters'] ?? {})) assert.equal(abi.COUNTER_NAMES[value], counters[cName], cName);
  const flags = t['flags'] ?? {};
  assert.equal(abi.Flag.PayloadTruncated, flags['KD_FLAG_PAYLOAD_TRUNCATED']);
  assert.equal(abi.Flag.PayloadFault, flags['KD_FLAG_PAYLOAD_FAULT']);
  assert.equal(abi.Flag.IovTruncated, flags['KD_FLAG_IOV_TRUNCATED']);
  assert.equal(abi.Flag.Sched, flags['KD_FLAG_SCHED']);
  assert.equal(abi.Flag.AddrFromMsg, flags['KD_FLAG_ADDR_FROM_MSG']);
  const dirs = t['directions'] ?? {};
  assert.equal(abi.Direction.None, dirs['KD_DIR_NONE']);
  assert.equal(abi.Direction.Egress, dirs['KD_DIR_EGRESS']);
  assert.equal(abi.Direction.Ingress, dirs['KD_DIR_INGRESS']);
  for (const [cName, value] of Object.entries(t['offcpu'] ?? {})) {
    assert.equal(abi.OFFCPU_CAUSES[value], cName.replace(/^KD_OFF_/, '').toLowerCase(), cName);
  }
});
