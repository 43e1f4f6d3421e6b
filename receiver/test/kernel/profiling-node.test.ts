// Trace profiling (tier 1) end to end on the live kernel, event-loop server
// (programs/profile-node-server.js): its /fsync lands in disk, and its /upstream, waited
// for under its own CLIENT call, in downstream; within 2 ms of the server's own measure,
// with on + runq + Σoff equal to the span's duration.
import { kernelTest } from '../helpers/kernel';
import { program, scenario, startAgent, waitForSpans } from './e2e';
import { N, REALTIME, checkBuckets, drive, serverSpanOf, startPeer, startProfileServer } from './profiling-helpers';
import type { Case } from './profiling-helpers';

kernelTest('event-loop server (Node): /fsync is disk, /upstream is downstream (idle under its own CLIENT call)', async (t) => {
  await scenario(async (c) => {
    const { agent, mem } = await startAgent(c);
    const upstream = await startProfileServer(c);
    const node = await startPeer(c, [...REALTIME, process.execPath, program('profile-node-server.js'), `http://127.0.0.1:${upstream.port}/sleep`, '/var/tmp']);
    const cases: Case[] = [
      { path: '/fsync', bucket: 'disk', query: '?fsyncs=16' },
      { path: '/upstream', bucket: 'downstream' },
    ];
    const samples = await drive(node.port, cases, N);
    const got = await waitForSpans(agent, mem, {
      fsync: { match: serverSpanOf(node.pid, '/fsync'), count: N },
      upstream: { match: serverSpanOf(node.pid, '/upstream'), count: N },
    });
    checkBuckets(t, cases, samples, [...got.fsync, ...got.upstream]);
  });
});
