// Trace profiling (tier 1) end to end on the live kernel: run-queue time under CPU
// contention. Concurrent busy requests to a profile-server pinned to one CPU (at normal
// priority, on purpose) wait for it: that wait is the run-queue bucket, while on-CPU
// stays the thread's own CPU clock and on + runq + Σoff the span's duration.
import * as assert from 'node:assert/strict';
import { kernelTest } from '../helpers/kernel';
import { attr, scenario, startAgent, waitForSpans } from './e2e';
import { TOLERANCE_NS, f, get, invariantError, profileOf, serverSpanOf, startProfileServer } from './profiling-helpers';

kernelTest('4 concurrent CPU-bound requests on one CPU: run-queue time is at least 40% of each span', async (t) => {
  const CONCURRENT = 4;
  await scenario(async (c) => {
    const { agent, mem } = await startAgent(c);
    const server = await startProfileServer(c, { cpu: 0 });
    const replies = await Promise.all(Array.from({ length: CONCURRENT }, () => get(server.port, '/spin?ms=20')));
    const got = await waitForSpans(agent, mem, { spin: { match: serverSpanOf(server.pid, '/spin'), count: CONCURRENT } });
    const failures: string[] = [];
    for (const r of replies) {
      const span = got.spin.find((x) => attr(x, 'client.port') === r.localPort);
      if (!span) {
        failures.push(`no span for client port ${r.localPort}`);
        continue;
      }
      const p = profileOf(span);
      const share = (p.buckets['runq'] ?? 0) / p.durationNs;
      const inv = invariantError(p);
      t.diagnostic(`tid ${p.tid}: duration ${f(p.durationNs)} ms, on ${f(p.buckets['cpu'] ?? NaN)} (server: ${f(Number(r.body['measured_ns']))}), runq ${f(p.buckets['runq'] ?? NaN)} = ${(100 * share).toFixed(1)}%, involuntary ${p.involuntary}, sum error ${f(inv.errNs)} ms`);
      if (!(share >= 0.4)) failures.push(`tid ${p.tid}: run-queue share ${(100 * share).toFixed(1)}% < 40%: ${JSON.stringify(p.buckets)}`);
      if (!inv.ok) failures.push(`tid ${p.tid}: on+runq+off ${f(p.sumNs)} ms vs duration ${f(p.durationNs)} ms`);
      if (!(Math.abs((p.buckets['cpu'] ?? NaN) - Number(r.body['measured_ns'])) <= TOLERANCE_NS)) failures.push(`tid ${p.tid}: on-CPU ${f(p.buckets['cpu'] ?? NaN)} ms vs the thread's CPU clock ${f(Number(r.body['measured_ns']))} ms`);
    }
    assert.deepEqual(failures, [], failures.join('\n'));
  });
});
