import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EbpfSource } from '../../src/source/ebpf-source';
import { ReplaySource } from '../../src/source/replay-source';
import { RecordingWriter, countRecords } from '../../src/source/recording';
import { isKindlingError } from '../../src/errors';
import { test } from 'node:test';
import { SockEvent } from '../../src/events/types';
import type { KindlingEvent } from '../../src/events/types';
import { kernelTest } from '../helpers/kernel';
import { TrafficRun, assertMatchesManifest, captureTraffic, expectedEventCount, settleTraffic, socketEventsOf, waitFor } from '../helpers/traffic';
import { sourceContract } from './contract';
import type { ContractSubject } from './contract';
import type { EbpfSourceOptions } from '../../src/source/ebpf-source';
import { openCaptureProbe } from '../../src/source/loader';
import { artifacts } from '../../src/util/paths';

/** The live source, kernel-filtered to the traffic program's pid. */
function liveSubject(options: EbpfSourceOptions = {}): () => Promise<ContractSubject> {
  return async () => {
    const run = new TrafficRun();
    const source = new EbpfSource({ ...options, pid: await run.pid });
    return {
      source,
      payloadBytes: 512,
      drive: async () => {
        run.go();
        return run.manifest;
      },
      dispose: () => run.kill(),
      settle: settleTraffic,
    };
  };
}

sourceContract('live eBPF source', liveSubject(), true);
// the same contract on the object for kernels before 6.2 (helper reads instead of bpf_rdonly_cast)
sourceContract('live eBPF source, compat object', liveSubject({ objectPath: artifacts.bpfCompatObject() }), true);
// with trace profiling, every data record also carries the thread's scheduler counters
sourceContract('live eBPF source, profiling on', liveSubject({ profiling: true }), true);

kernelTest('with profiling, data records carry scheduler snapshots that only grow per thread', async () => {
  const { manifest, events } = await captureTraffic({ profiling: true });
  const data = socketEventsOf(events, manifest.pid).filter((e) => e.kind === 1);
  assert.ok(data.length > 0);
  const last = new Map<number, number>();
  for (const e of data.sort((a, b) => a.exitNs - b.exitNs)) {
    const s = e.sched;
    assert.ok(s, 'every data record has a snapshot');
    const total = s.onNs + s.runqNs + Object.values(s.offNs).reduce((a, b) => a + b, 0);
    assert.ok(total >= (last.get(e.tid) ?? 0), `thread ${e.tid}: counters never go back`);
    last.set(e.tid, total);
    assert.equal(s.sliceStartNs, e.direction === 2 ? e.enterNs : e.exitNs, 'taken at enter for reads, exit for writes');
  }
});

test('options are validated with precise messages', () => {
  const bad: [object, RegExp][] = [
    [{ payloadBytes: 500 }, /payloadBytes must be a power of two from 16 to 4096, got 500/],
    [{ payloadBytes: 8192 }, /payloadBytes must be a power of two/],
    [{ ringBytes: 1000 }, /ringBytes must be a power of two from 64 KiB to 1 GiB/],
    [{ port: 70000 }, /port must be 1..65535/],
    [{ pid: -1 }, /pid must be a process id/],
    [{ pollMs: 0 }, /pollMs must be 1..1000/],
  ];
  for (const [opts, msg] of bad) {
    assert.throws(() => new EbpfSource(opts), (e) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION') && msg.test((e as Error).message));
  }
});

kernelTest('live capture and the replay of its recording decode identically', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-live-')), 'live.kdcap');
  const writer = new RecordingWriter(file, { createdAt: new Date().toISOString(), host: os.hostname(), kernel: os.release(), payloadBytes: 512 });
  const { manifest, events: live } = await captureTraffic({}, (b) => writer.write(b.raw, countRecords(b.raw)));
  writer.close();

  const replayed: KindlingEvent[] = [];
  const replay = new ReplaySource({ file });
  await replay.start((b) => replayed.push(...b.events));
  await replay.finished;
  assert.ok(live.length >= expectedEventCount(manifest));
  assert.deepEqual(replayed.map((e) => e.toJSON()), live.map((e) => e.toJSON()));
  assertMatchesManifest(replayed, manifest, 512);
});

kernelTest('a payload cap below the message length keeps the true length and an exact prefix', async () => {
  for (const payloadBytes of [16, 64, 2048]) {
    const { manifest, events } = await captureTraffic({ payloadBytes });
    assertMatchesManifest(events, manifest, payloadBytes);
    const long = socketEventsOf(events, manifest.pid).filter((e) => e.len > payloadBytes);
    assert.ok(long.length > 0, `some messages exceed ${payloadBytes} bytes`);
  }
});

kernelTest('fd reuse: the same fd number on a new socket gets a new socket id', async () => {
  const { manifest: m, events } = await captureTraffic();
  const pid = m.pid;
  const { fd, first_inode, second_inode } = m.fd_reuse;
  const onFd = socketEventsOf(events, pid).filter((e) => e.fd === fd && (e.sockId === first_inode || e.sockId === second_inode));
  const ids = [...new Set(onFd.map((e) => e.sockId))];
  assert.deepEqual(ids.sort(), [first_inode, second_inode].sort(), 'both sockets seen on the one fd number');
  assert.notEqual(first_inode, second_inode);
  const writes = onFd.filter((e) => e.hookName === 'write');
  assert.equal(writes.length, 2);
  assert.notEqual(writes[0]?.remotePort, writes[1]?.remotePort, 'the two sockets talk to different peers');
});

kernelTest('the agent never captures itself, and non-socket I/O makes no events', async () => {
  const http = await import('node:http');
  const server = http.createServer((_q, s) => s.end('self'));
  server.keepAliveTimeout = 1;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const events: KindlingEvent[] = [];
  const source = new EbpfSource({ port });
  await source.start((b) => events.push(...b.events));
  try {
    // our own client and server, in this process
    await new Promise<void>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/`, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    // a separate process talking to our server must be seen, on its side only
    // (async: this process must keep serving while curl waits)
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) => execFile('curl', ['-s', `http://127.0.0.1:${port}/`], (e) => (e ? reject(e) : resolve())));
    await waitFor(() => events.filter((e) => e instanceof SockEvent && e.pid !== process.pid && e.hookName === 'recvfrom').length, 1);
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    await source.stop();
    server.close();
  }
  const sock = events.filter((e): e is SockEvent => e instanceof SockEvent);
  assert.equal(sock.filter((e) => e.pid === process.pid).length, 0, 'no socket events from the agent itself');
  const curl = sock.filter((e) => e.pid !== process.pid);
  assert.ok(curl.some((e) => e.hookName === 'sendto' && Buffer.from(e.payload).toString().startsWith('GET / HTTP/1.1')), 'curl request seen');
  assert.ok(curl.some((e) => e.hookName === 'recvfrom' && Buffer.from(e.payload).toString().startsWith('HTTP/1.1 200')), 'curl response seen');
});

kernelTest('the cgroup id is the traffic process cgroup v2 id', async () => {
  const mount = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => fs.existsSync(path.join(d, 'cgroup.procs')));
  assert.ok(mount, 'a cgroup v2 hierarchy');
  // the traffic program runs in this process's cgroup
  const cg = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  assert.ok(cg, 'a cgroup v2 membership');
  const expected = fs.statSync(path.join(mount, cg.slice(3))).ino;
  const { manifest, events } = await captureTraffic();
  assert.deepEqual([...new Set(socketEventsOf(events, manifest.pid).map((e) => e.cgroupId))], [expected]);
});

kernelTest('kernel counters account for every event and nothing is lost at this rate', async () => {
  const { manifest: m, events, stats: st } = await captureTraffic();
  const emitted = Object.values(st.hooks).reduce((s, h) => s + h.emitted, 0);
  assert.equal(emitted, events.length, 'kernel emitted == delivered');
  assert.equal(st.events, events.length);
  assert.deepEqual(Object.values(st.lost).filter((v) => v > 0), []);
  assert.equal(st.hooks.sendmmsg.emitted, m.ops.filter((o) => o.op === 'sendmmsg').length);
});

kernelTest('when the kernel refuses the default object, the compat object loads and the reason is kept', () => {
  const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-obj-')), 'broken.bpf.o');
  fs.writeFileSync(broken, 'not an ELF object');
  const opened = openCaptureProbe({ objects: { main: broken, compat: artifacts.bpfCompatObject() }, rodata: { self_tgid: process.pid } });
  try {
    assert.equal(opened.object, artifacts.bpfCompatObject());
    assert.match(opened.fallback ?? '', /cannot open BPF object .*broken\.bpf\.o/);
    assert.equal(opened.programs.filter((p) => p.loaded).length, opened.programs.length);
    assert.ok(opened.programs.length >= 29);
  } finally {
    opened.probe.close();
  }
  assert.throws(
    () => openCaptureProbe({ objects: { main: broken, compat: broken }, rodata: {} }),
    (e) => isKindlingError(e, 'KINDLING_ERR_BPF_OPEN') && /the compat object broken\.bpf\.o failed too/.test((e as Error).message),
  );
});
