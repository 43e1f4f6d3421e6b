// The addon's contract: stable error codes, per-instance state, bounded hand-off, and a close() that leaves nothing behind.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { loadAddon } from '../../src/source/native';
import type { NativeProbe } from '../../src/source/native';
import { artifacts } from '../../src/util/paths';
import { decodeBatch } from '../../src/events/decode';
import { kernelTest } from '../helpers/kernel';
import { runTraffic } from '../helpers/traffic';

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => (e as { code?: string }).code === code, `expected ${code}`);
}

function openProbe(rodata: Record<string, number> = {}): NativeProbe {
  const p = new (loadAddon().Probe)();
  p.open(artifacts.bpfObject(), { rodata: { self_tgid: process.pid, ...rodata } });
  return p;
}

const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;
const threadCount = (): number => fs.readdirSync('/proc/self/task').length;

kernelTest('errors carry stable codes', () => {
  const { Probe } = loadAddon();
  const p = new Probe();
  expectCode(() => p.attach(), 'KINDLING_ERR_NOT_OPEN');
  expectCode(() => p.start(() => undefined), 'KINDLING_ERR_NOT_OPEN');
  expectCode(() => p.open('/nonexistent/kindling.bpf.o'), 'KINDLING_ERR_BPF_OPEN');
  expectCode(() => p.open(artifacts.bpfObject(), { rodata: { no_such_setting: 1 } }), 'KINDLING_ERR_BPF_OPTION');
  expectCode(() => p.open(artifacts.bpfObject(), { rodata: { self_tgid: -5 } }), 'KINDLING_ERR_INVALID_OPTION');
  p.open(artifacts.bpfObject(), { rodata: { self_tgid: process.pid } });
  p.attach();
  expectCode(() => p.attach(), 'KINDLING_ERR_ALREADY_ATTACHED');
  p.start(() => undefined);
  expectCode(() => p.start(() => undefined), 'KINDLING_ERR_ALREADY_STARTED');
  p.close();
  p.close();
});

kernelTest('open, attach, start and close leak no fds and no threads', async () => {
  const fds = fdCount();
  const threads = threadCount();
  for (let i = 0; i < 5; i++) {
    const p = openProbe();
    p.attach();
    p.start(() => undefined, { pollMs: 5 });
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(threadCount() > threads, 'the poll thread runs while started');
    p.close();
  }
  assert.equal(fdCount(), fds, 'fds back to baseline');
  assert.equal(threadCount(), threads, 'poll threads joined');
});

kernelTest('two probes are independent: each sees the traffic, closing one leaves the other running', async () => {
  const counts = [0, 0];
  const probes = [openProbe(), openProbe()];
  let pid = 0;
  probes.forEach((p, i) => {
    p.attach();
    p.start((buf) => {
      for (const e of decodeBatch(buf).events) if (e.pid === pid && 'hook' in e) counts[i]!++;
    });
  });
  let m = await runTraffic((p) => {
    pid = p;
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(counts[0], m.ops.length);
  assert.equal(counts[1], m.ops.length);
  probes[0]!.close();
  m = await runTraffic((p) => {
    pid = p;
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(counts[1], 2 * m.ops.length, 'the second probe still delivers');
  probes[1]!.close();
});

kernelTest('a slow consumer fills the ring: the kernel counts every drop, and emitted = delivered', async () => {
  // the writer waits for a line on stdin, so the probe can be filtered to it (other processes stay out of the ring)
  const writer = spawn(process.execPath, [
    '-e',
    `process.stdin.once('data',()=>{const net=require('net');const s=net.createServer(c=>c.resume()).listen(0,'127.0.0.1',()=>{const c=net.connect(s.address().port,'127.0.0.1',()=>{c.setNoDelay(true);let i=0;const go=()=>{while(i<20000){i++;if(!c.write('x'.repeat(32)))return c.once('drain',go);}c.end();s.close();process.stdin.destroy();};go();});});});`,
  ]);
  const writerPid = writer.pid ?? 0;
  // a 64 KiB ring and a JS thread that stops reading for a while
  const p = new (loadAddon().Probe)();
  p.open(artifacts.bpfObject(), { ringBytes: 65536, rodata: { self_tgid: process.pid, filter_tgid: writerPid, wakeup_bytes: 16384 } });
  p.attach();
  let delivered = 0;
  p.start((buf) => {
    for (const e of decodeBatch(buf).events) if ('hook' in e && e.pid === writerPid) delivered++;
  }, { queueBatches: 1, batchBytes: 8192 });
  writer.stdin.write('go\n');
  // block the JS thread: the hand-off queue fills, the poll thread waits, the ring overflows
  const until = Date.now() + 1500;
  while (Date.now() < until) {
    /* busy */
  }
  await new Promise<void>((r) => writer.once('exit', () => r()));
  // drained: everything the kernel wrote has been handed to JS
  const sum = (st: ReturnType<NativeProbe['stats']>, c: number): number => st.hooks.reduce((s, row) => s + (row[c] ?? 0), 0);
  let st = p.stats();
  for (let i = 0; i < 100 && (st.records !== sum(st, 0) || st.ring.used > 0); i++) {
    await new Promise((r) => setTimeout(r, 20));
    st = p.stats();
  }
  p.close();
  const emitted = sum(st, 0);
  const lostFull = sum(st, 1);
  assert.ok(lostFull > 0, `ring-full drops counted (${lostFull})`);
  assert.ok(delivered > 0, 'events still flow after the stall');
  assert.equal(st.records, emitted, 'every record the kernel wrote reached JS');
  assert.ok(st.handoffWaits > 0, 'the poll thread waited for JS instead of buffering without bound');
});
