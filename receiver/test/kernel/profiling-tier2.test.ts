// Trace profiling, tier 2 and the bounds: a selected slow span gets its timeline as child spans,
// selection keeps its rate limits, thousands of short-lived threads leave nothing behind, and a
// shrunken slice buffer drops (counted) without breaking tier 1.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { artifacts } from '../../src/util/paths';
import { kernelTest } from '../helpers/kernel';
import { Cleanup, attr, startAgent } from './e2e';
import { childrenOf, curl, servers, spansOf, startPeer } from './profiling-helpers';
import type { Peer } from './profiling-helpers';

/** profile-server (one thread per connection) with its delay upstream, real-time so other load cannot add run-queue time */
async function profileServer(c: Cleanup): Promise<Peer> {
  const bin = artifacts.program('profile-server');
  const upstream = await startPeer(c, [bin, '--delay']);
  return startPeer(c, ['chrt', '-f', '50', bin, '--upstream', String(upstream.port), '--dir', '/var/tmp']);
}

const startNs = (s: ReadableSpan): number => s.startTime[0] * 1e9 + s.startTime[1];

kernelTest('a selected /mixed request gets its timeline: lock, sleep and upstream wait as children, in that order', async () => {
  const c = new Cleanup();
  try {
    const { agent, mem } = await startAgent(c, { KINDLING_PROFILING_SLOW_THRESHOLD_MS: '30', KINDLING_PROFILING_P95_MIN_SAMPLES: '0' });
    const server = await profileServer(c);
    await curl(server.port, '/mixed');
    const spans = await spansOf(agent, mem, (all) => servers(all, server.pid, '/mixed').length === 1);
    const [span] = servers(spans, server.pid, '/mixed');
    assert.ok(span, 'the /mixed server span');
    assert.equal(attr(span, 'kindling.profile.selected'), true);
    const kids = childrenOf(spans, span).sort((a, b) => startNs(a) - startNs(b));
    const offcpu = kids.filter((k) => k.name.startsWith('offcpu ')).map((k) => k.name);
    const order = ['offcpu lock', 'offcpu sleep', 'offcpu net'];
    assert.deepEqual(offcpu.filter((n) => order.includes(n)), order, `children: ${kids.map((k) => k.name).join(', ')}`);
    for (const k of kids) {
      assert.ok(startNs(k) >= startNs(span) && k.endTime[0] * 1e9 + k.endTime[1] <= span.endTime[0] * 1e9 + span.endTime[1], `${k.name} inside its parent`);
      assert.ok(k.duration[0] * 1e9 + k.duration[1] >= 1e6, `${k.name} is at least 1 ms`);
      assert.equal(k.spanContext().traceId, span.spanContext().traceId);
    }
  } finally {
    await c.run();
  }
});

kernelTest('selection: 100 slow requests on one route with a 1-per-5-s limit get children once (twice across a 5 s boundary); all carry tier 1; fast ones never', async () => {
  const c = new Cleanup();
  try {
    const { agent, mem } = await startAgent(c, { KINDLING_PROFILING_SLOW_THRESHOLD_MS: '10', KINDLING_PROFILING_P95_MIN_SAMPLES: '0' });
    const server = await profileServer(c);
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) await curl(server.port, '/sleep?ms=12');
    const seconds = (Date.now() - t0) / 1000;
    for (let i = 0; i < 20; i++) await curl(server.port, '/spin?ms=1');
    const spans = await spansOf(agent, mem, (all) => servers(all, server.pid, '/sleep').length === 100 && servers(all, server.pid, '/spin').length === 20);
    const slow = servers(spans, server.pid, '/sleep');
    assert.equal(slow.length, 100);
    const selected = slow.filter((s) => attr(s, 'kindling.profile.selected') === true);
    assert.ok(selected.length === 1 || (selected.length === 2 && seconds > 5), `${selected.length} selected in ${seconds.toFixed(1)} s`);
    for (const s of selected) assert.ok(childrenOf(spans, s).some((k) => k.name === 'offcpu sleep'), 'a selected span has its sleep as a child');
    for (const s of slow.filter((x) => !selected.includes(x))) assert.equal(childrenOf(spans, s).length, 0, 'unselected spans have no children');
    assert.ok(slow.every((s) => typeof attr(s, 'kindling.cpu.on_ns') === 'number' && typeof attr(s, 'kindling.offcpu.sleep_ns') === 'number'), 'tier 1 on all of them');
    const fast = servers(spans, server.pid, '/spin');
    assert.equal(fast.length, 20);
    assert.ok(fast.every((s) => attr(s, 'kindling.profile.selected') === undefined && childrenOf(spans, s).length === 0), 'fast requests never get children');
  } finally {
    await c.run();
  }
});

/** n connections, `parallel` at a time: each is a thread of profile-server that does socket I/O and exits */
async function manyConnections(port: number, n: number, parallel: number): Promise<void> {
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.end('GET /spin?ms=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      s.on('data', () => undefined);
      s.once('close', () => resolve());
      s.once('error', reject);
    });
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
}

interface Dump {
  memory: { rss: number; heapUsed: number; heapTotal: number };
  profiledThreads: number;
}

/** SIGUSR2 makes `kindling run` collect garbage (with --expose-gc) and print its memory as one JSON line */
function dumpOf(child: ReturnType<typeof spawn>, lines: string[]): Promise<Dump> {
  const before = lines.length;
  child.kill('SIGUSR2');
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 5000;
    const poll = (): void => {
      const line = lines.slice(before).find((l) => l.startsWith('{"memory"'));
      if (line) return resolve(JSON.parse(line) as Dump);
      if (Date.now() > deadline) return reject(new Error('no memory dump'));
      setTimeout(poll, 20);
    };
    poll();
  });
}

kernelTest('5,000 short-lived threads: per-thread state returns to its baseline, agent memory grows less than 5 MiB', async () => {
  const c = new Cleanup();
  try {
    // in this process: the per-thread tables fill, then empty once the threads are idle
    const { agent } = await startAgent(c);
    const server = await profileServer(c);
    const profiler = agent.profiler;
    assert.ok(profiler);
    const threads0 = profiler.index.threads;
    await manyConnections(server.port, 5000, 25);
    await new Promise((r) => setTimeout(r, 1000));
    // each tracked thread's exit is an event: its state is gone already
    assert.ok(profiler.index.threads <= threads0 + 25, `per-thread state back to its baseline (${profiler.index.threads} vs ${threads0})`);
    assert.ok(profiler.index.noted >= 10_000, 'the threads were tracked (a snapshot on each read and write)');
    assert.ok(profiler.timeline.threads <= 5, `slice timelines of the threads still alive only (${profiler.timeline.threads})`);
    const exits = agent.source.stats().hooks.process_exit.emitted;
    assert.ok(exits >= 5000, `thread exits reported (${exits})`);
    await agent.stop();

    // the agent as users run it, in its own process: its memory over the same churn
    // (with the allocator setting `npm start` and the compose file use: one malloc arena)
    const child = spawn(process.execPath, ['--expose-gc', require('node:path').join(__dirname, '..', '..', '..', '..', 'bin', 'kindling.js'), 'run'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { MALLOC_ARENA_MAX: '1', PATH: process.env['PATH'] ?? '', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', KINDLING_KUBERNETES: 'off' },
    });
    c.defer(() => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGKILL')))));
    const lines: string[] = [];
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        lines.push(...d.toString().split('\n'));
        if (/source ebpf/.test(err)) resolve();
      });
      child.once('exit', () => reject(new Error(`agent exited: ${err}`)));
    });
    // warm up first (code, caches, the heap's working size); then 5,000 more threads must leave nothing behind
    await manyConnections(server.port, 5000, 25);
    await new Promise((r) => setTimeout(r, 1500));
    // RSS after a collection still moves by a few MiB as V8 returns pages: the settled (lowest) of a few readings
    const settled = async (): Promise<Dump> => {
      const ds: Dump[] = [];
      for (let i = 0; i < 4; i++) {
        ds.push(await dumpOf(child, lines));
        await new Promise((r) => setTimeout(r, 300));
      }
      return ds.reduce((a, b) => (b.memory.rss < a.memory.rss ? b : a));
    };
    const d0 = await settled();
    await manyConnections(server.port, 5000, 25);
    await new Promise((r) => setTimeout(r, 1500));
    const d1 = await settled();
    const MiB = 1 << 20;
    const retained = (d1.memory.heapUsed - d0.memory.heapUsed) / MiB;
    const rss = (d1.memory.rss - d0.memory.rss) / MiB;
    const heap = (d1.memory.heapTotal - d0.memory.heapTotal) / MiB;
    console.log(`5,000 threads: RSS ${rss.toFixed(2)} MiB, heap total ${heap.toFixed(2)} MiB, heap used ${retained.toFixed(2)} MiB`);
    assert.ok(retained < 5, `the agent retained ${retained.toFixed(2)} MiB of heap over 5,000 threads (RSS ${rss.toFixed(1)} MiB)`);
    assert.ok(rss < 5, `agent RSS grew ${rss.toFixed(1)} MiB over 5,000 threads (after a GC; heap retained ${retained.toFixed(2)} MiB)`);
    assert.ok(d1.profiledThreads <= d0.profiledThreads + 25, 'its per-thread state is back to baseline');
  } finally {
    await c.run();
  }
});

kernelTest('a shrunken slice buffer under load: drops are counted, and tier 1 still adds up', async () => {
  const c = new Cleanup();
  try {
    const { agent, mem } = await startAgent(c, { KINDLING_PROFILING_SLICES_PER_THREAD: '1', KINDLING_PROFILING_SLOW_THRESHOLD_MS: '0', KINDLING_PROFILING_P95_MIN_SAMPLES: '0' });
    const server = await profileServer(c);
    // keep-alive would reuse threads; /mixed makes four waits per request on a fresh thread each
    for (let i = 0; i < 10; i++) await curl(server.port, '/mixed?ms=3');
    const spans = await spansOf(agent, mem, (all) => servers(all, server.pid, '/mixed').length === 10);
    const mixed = servers(spans, server.pid, '/mixed');
    assert.equal(mixed.length, 10);
    assert.ok((agent.profiler?.timeline.dropped ?? 0) > 0, 'slices dropped by the bound, and counted');
    for (const s of mixed) {
      const d = s.duration[0] * 1e9 + s.duration[1];
      const parts = ['kindling.cpu.on_ns', 'kindling.cpu.runq_ns', 'kindling.offcpu.lock_ns', 'kindling.offcpu.net_ns', 'kindling.offcpu.disk_ns', 'kindling.offcpu.idle_ns', 'kindling.offcpu.sleep_ns', 'kindling.offcpu.pipe_ns', 'kindling.offcpu.other_ns', 'kindling.offcpu.downstream_ns'];
      const sum = parts.reduce((a, k) => a + Number(attr(s, k) ?? 0), 0);
      assert.ok(Math.abs(sum - d) <= Math.max(0.5e6, 0.02 * d), `on + runq + off = duration (${sum} vs ${d})`);
    }
  } finally {
    await c.run();
  }
});
