// Trace profiling (tier 1) end to end on the live kernel, thread-per-connection server
// (programs/profile-server.c): each endpoint spends its time in one known way and reports
// in the body its own measure of it (the time the thread did not run during the blocking
// part: wall clock minus the thread's CPU clock; or its CPU time for a busy loop). Every
// SERVER span's breakdown must put that time in the right bucket, within 2 ms, and
// on + runq + Σoff must equal the span's duration; /mixed puts each of its parts in its own.
import * as assert from 'node:assert/strict';
import { kernelTest } from '../helpers/kernel';
import { attr, scenario, startAgent, waitForSpans } from './e2e';
import { N, TOLERANCE_NS, checkBuckets, drive, f, invariantError, profileOf, serverSpanOf, startProfileServer } from './profiling-helpers';
import type { Case } from './profiling-helpers';

const C_CASES: readonly Case[] = [
  { path: '/spin', bucket: 'cpu' },
  { path: '/sleep', bucket: 'sleep' },
  { path: '/lock', bucket: 'lock' },
  // the MiB in 16 write+fsync rounds: more disk wait against the fixed HTTP work (1 fsync: 0.7 ms on disk here)
  { path: '/fsync', bucket: 'disk', query: '?fsyncs=16' },
  { path: '/upstream', bucket: 'net' },
  { path: '/epoll', bucket: 'idle' },
];

kernelTest('thread-per-connection server: each endpoint lands in its bucket, within 2 ms of its own measure; on + runq + off = duration', async (t) => {
  await scenario(async (c) => {
    const { agent, mem } = await startAgent(c);
    const server = await startProfileServer(c);
    const samples = await drive(server.port, C_CASES, N);
    const groups = Object.fromEntries(C_CASES.map((k) => [k.path, { match: serverSpanOf(server.pid, k.path), count: N }]));
    const got = await waitForSpans(agent, mem, groups);
    checkBuckets(t, C_CASES, samples, Object.values(got).flat());
  });
});

kernelTest('/mixed (spin, lock, sleep, upstream, 10 ms each): every part in its own bucket', async (t) => {
  const parts = [
    ['cpu', 'cpu_ns'],
    ['lock', 'lock_ns'],
    ['sleep', 'sleep_ns'],
    ['net', 'net_ns'],
  ] as const;
  await scenario(async (c) => {
    const { agent, mem } = await startAgent(c);
    const server = await startProfileServer(c);
    const samples = await drive(server.port, [{ path: '/mixed', bucket: 'cpu' }], N);
    const got = await waitForSpans(agent, mem, { mixed: { match: serverSpanOf(server.pid, '/mixed'), count: N } });
    const failures: string[] = [];
    for (const s of samples) {
      const span = got.mixed.find((x) => attr(x, 'client.port') === s.reply.localPort);
      if (!span) {
        failures.push(`no span for client port ${s.reply.localPort}`);
        continue;
      }
      const p = profileOf(span);
      const inv = invariantError(p);
      t.diagnostic(`/mixed ${parts.map(([b, k]) => `${b} ${f(p.buckets[b] ?? NaN)} vs ${f(Number(s.reply.body[k]))}`).join(', ')}; sum error ${f(inv.errNs)} of ${f(p.durationNs)} ms`);
      for (const [b, k] of parts) {
        const d = (p.buckets[b] ?? NaN) - Number(s.reply.body[k]);
        if (!(Math.abs(d) <= TOLERANCE_NS)) failures.push(`port ${s.reply.localPort}: ${b} off by ${f(d)} ms: ${JSON.stringify(p.buckets)} vs ${JSON.stringify(s.reply.body)}`);
      }
      if (!inv.ok) failures.push(`port ${s.reply.localPort}: on+runq+off ${f(p.sumNs)} ms vs duration ${f(p.durationNs)} ms`);
    }
    assert.deepEqual(failures, [], failures.join('\n'));
  });
});
