// Bad input on live connections: garbage, a 10 MB header line, a response nobody asked for.
import * as assert from 'node:assert/strict';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { kernelTest } from '../helpers/kernel';
import { startNginx } from '../helpers/nginx';
import { curl, startHttpServer } from '../helpers/peers';
import {
  assertCount,
  attr,
  lostEvents,
  pidOf,
  runProgram,
  scenario,
  sleep,
  startAgent,
  startServerProgram,
  statsDelta,
  statsSnapshot,
  waitForSpans,
} from './e2e';

const isServer = (s: ReadableSpan): boolean => s.kind === SpanKind.SERVER;
const isClient = (s: ReadableSpan): boolean => s.kind === SpanKind.CLIENT;
const byPath = (spans: readonly ReadableSpan[], p: string): ReadableSpan | undefined =>
  spans.find((s) => attr(s, 'url.path') === p || String(attr(s, 'url.full')).endsWith(p));

const FILES = { '1.txt': 'one', '2.txt': 'two', '3.txt': 'three', 'hello.txt': 'hello, world\n' };

kernelTest('garbage on raw connections to nginx and to Node: no spans, counted as undetected or as parse errors, later requests still traced', async () => {
  await scenario(async (c) => {
    const node = await startHttpServer();
    c.defer(() => node.close());
    const nginx = await startNginx({ upstreamPort: node.port, files: FILES });
    c.defer(() => nginx.close());
    const { agent, mem } = await startAgent(c);
    await sleep(200);
    const before = statsSnapshot(agent);

    const garbagePids = new Set<number>();
    for (const port of [nginx.port, node.port]) {
      // binary: no protocol detected on either end; the server's 400 answers nothing the agent saw asked
      const bin = await runProgram(c, 'raw-client.js', [port, 'random', 300]);
      // text with a request-like first word: detected as HTTP, then a bad request line
      const text = await runProgram(c, 'raw-client.js', [port, 'text', 'HELLO WORLD this is not http\\r\\n\\r\\n']);
      for (const r of [bin, text]) {
        garbagePids.add(r.pid);
        assert.match(JSON.parse(r.stdout).firstLine as string, /^HTTP\/1\.1 400 /, `port ${port} answers 400: ${r.stdout}`);
      }
    }
    const after = [await curl(`http://127.0.0.1:${nginx.port}/static/2.txt`), await curl(`http://127.0.0.1:${node.port}/users/7`)];
    const workers = new Set(nginx.workerPids);
    const got = await waitForSpans(agent, mem, {
      nginxServer: { match: (s) => isServer(s) && workers.has(pidOf(s)), count: 1 },
      nodeServer: { match: (s) => isServer(s) && pidOf(s) === node.pid, count: 1 },
      curlClient: { match: (s) => isClient(s) && after.some((r) => r.pid === pidOf(s)), count: 2 },
      garbage: { match: (s) => garbagePids.has(pidOf(s)), count: 0 },
    });
    assertCount(got.garbage, 0, 'spans of the garbage clients');
    assertCount(got.nginxServer, 1, 'nginx SERVER spans (the valid request only)');
    assertCount(got.nodeServer, 1, 'Node SERVER spans (the valid request only)');
    assertCount(got.curlClient, 2, 'curl CLIENT spans');
    assert.equal(attr(got.nginxServer[0]!, 'url.path'), '/static/2.txt');
    assert.equal(attr(got.nodeServer[0]!, 'url.path'), '/users/7');

    const d = statsDelta(agent, before);
    // lower bounds: the agent watches the whole node and others add to these counters
    assert.ok(d.undetectedSegments >= 4, `binary: client write and server read undetected, twice: ${JSON.stringify(d)}`);
    assert.ok(d.parseErrors >= 4, `request-like text: a parse error on each end, twice: ${JSON.stringify(d)}`);
    assert.ok(d.unmatchedResponses >= 8, `each 400 seen by both ends with no request: ${JSON.stringify(d)}`);
  });
});

kernelTest('a 10 MB header line: the agent stays bounded, counts the parse error and keeps tracing', async () => {
  await scenario(async (c) => {
    const node = await startHttpServer();
    c.defer(() => node.close());
    const sink = await startServerProgram(c, 'raw-server.js', ['sink']);
    const { agent, mem } = await startAgent(c);
    await sleep(200);
    const rss0 = process.memoryUsage().rss;
    const before = statsSnapshot(agent);

    // one write, as most clients do: only the head's first bytes are captured, so the
    // request is reported cut short, not as a parse error; Node answers 431 and resets
    const oneWrite = await runProgram(c, 'raw-client.js', [node.port, 'big-header', 10_000_000]);
    // 512-byte writes, each captured whole, to a server that reads it all: the client's
    // parser sees every header byte and must give up at maxHeaderBytes (64 KiB)
    const pieces = await runProgram(c, 'raw-client.js', [sink.port, 'big-header-pieces', 10_000_000, 512]);
    assert.match(JSON.parse(pieces.stdout).firstLine as string, /^HTTP\/1\.1 431 /, pieces.stdout);
    const valid = await curl(`http://127.0.0.1:${node.port}/users/8`);

    const got = await waitForSpans(agent, mem, {
      nodeServer: { match: (s) => isServer(s) && pidOf(s) === node.pid, count: 2 },
      // its span, if any, ends before the valid request starts: waiting for that one is enough
      sinkServer: { match: (s) => isServer(s) && pidOf(s) === sink.pid, count: 0 },
      oneWriteClient: { match: (s) => pidOf(s) === oneWrite.pid, count: 1 },
      piecesClient: { match: (s) => pidOf(s) === pieces.pid, count: 0 },
      valid: { match: (s) => isClient(s) && pidOf(s) === valid.pid, count: 1 },
    });
    assertCount(got.nodeServer, 2, 'Node SERVER spans: /big and /users/8');
    assert.equal(attr(byPath(got.nodeServer, '/big')!, 'http.response.status_code'), 431);
    assert.equal(attr(byPath(got.nodeServer, '/users/8')!, 'http.response.status_code'), 200);
    // The sink's side depends on how it happened to read: reads larger than the capture cut
    // the head (a truncated request, answered 431: one span); reads it captured whole fill
    // the parser up to maxHeaderBytes (a parse error, and the 431 is unmatched: no span).
    assert.ok(got.sinkServer.length <= 1, `sink SERVER spans: ${got.sinkServer.length}`);
    for (const s of got.sinkServer) assert.equal(attr(s, 'http.response.status_code'), 431);
    assertCount(got.oneWriteClient, 1, 'CLIENT span of the one-write client');
    // the 431 may or may not be read before the reset: either outcome is a finished span
    const ow = got.oneWriteClient[0]!;
    assert.ok(attr(ow, 'http.response.status_code') === 431 || attr(ow, 'error.type') === 'connection_closed', `one-write client: 431 or connection_closed`);
    assertCount(got.piecesClient, 0, 'spans of the client whose head failed to parse');
    assertCount(got.valid, 1, 'CLIENT span of the valid request after');

    const d = statsDelta(agent, before);
    assert.ok(d.parseErrors >= 1, `head exceeds maxHeaderBytes: ${JSON.stringify(d)}`);
    assert.equal(lostEvents(agent), 0, `kernel lost events: ${JSON.stringify(agent.source.stats().lost)}`);
    const growth = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(growth < 50, `rss grew ${growth.toFixed(1)} MiB`);
  });
});

kernelTest('a response nobody asked for is counted as unmatched and makes no span', async () => {
  await scenario(async (c) => {
    const eager = await startServerProgram(c, 'raw-server.js', ['eager']);
    const { agent, mem } = await startAgent(c);
    await sleep(200);
    const before = statsSnapshot(agent);
    const clients = [await runProgram(c, 'raw-client.js', [eager.port, 'none']), await runProgram(c, 'raw-client.js', [eager.port, 'none'])];
    for (const r of clients) assert.equal(JSON.parse(r.stdout).firstLine, 'HTTP/1.1 200 OK', r.stdout);
    const pids = new Set([eager.pid, ...clients.map((r) => r.pid)]);
    // nothing to wait for: give the events time to arrive, then expect no span at all
    const got = await waitForSpans(agent, mem, { any: { match: (s) => pids.has(pidOf(s)), count: 0 } }, { settleMs: 1000 });
    assertCount(got.any, 0, 'spans of the eager server and its clients');
    const d = statsDelta(agent, before);
    assert.ok(d.unmatchedResponses >= 4, `both ends of both connections saw a response without a request: ${JSON.stringify(d)}`);
  });
});
