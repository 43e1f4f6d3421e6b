// Redis end to end on the live kernel: a real redis-server, driven by redis-benchmark
// and by programs/redis-client.js (transactions, errors, pub/sub, a 10,000-command
// flood), each a process of its own; the agent captures them all with eBPF and every
// test asserts exact span counts per process and side (CLIENT from the clients, SERVER
// from redis-server), so a missing span and an extra one both fail.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Agent } from '../../src/agent';
import { loadConfig } from '../../src/config/config';
import { MemorySpanExporter } from '../../src/export/console-spans';
import { redisDetector } from '../../src/protocols/redis';
import { kernelTest } from '../helpers/kernel';
import { assertCount, attr, lostEvents, pidOf, program, runCommand, runProgram, scenario, sleep, waitForSpans } from './e2e';
import type { Cleanup, LiveAgent } from './e2e';
import { freePort } from '../helpers/ports';

const isServer = (s: ReadableSpan): boolean => s.kind === SpanKind.SERVER;
const isClient = (s: ReadableSpan): boolean => s.kind === SpanKind.CLIENT;
const op = (s: ReadableSpan): unknown => attr(s, 'db.operation.name');

/**
 * The agent with Redis parsing and a 4096-byte payload prefix: redis-benchmark -P 16
 * writes 16 SETs (720 bytes) in one syscall, more than the default 512 bytes hold, and
 * every command must be seen to be counted exactly. A big span queue: thousands of
 * spans arrive within a second.
 */
async function startRedisAgent(c: Cleanup): Promise<LiveAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-redis-agent-'));
  c.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'kindling.yaml');
  fs.writeFileSync(file, 'capture:\n  payload_bytes: 4096\ntraces:\n  batch:\n    max_queue_size: 200000\n    schedule_delay_ms: 200\n');
  const mem = new MemorySpanExporter();
  const agent = new Agent(loadConfig({ file, env: { OTEL_METRICS_EXPORTER: 'none' } }), { spanExporters: [mem], metricExporters: [], log: () => undefined, kubernetes: null, protocols: [redisDetector] });
  c.defer(() => agent.stop());
  await agent.start();
  return { agent, mem };
}


async function waitForPort(port: number, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`);
    await sleep(50);
  }
}

interface RedisPeer {
  pid: number;
  port: number;
}

/** redis-server in the foreground on a free loopback port, in a temp dir; stopped by the cleanup stack. */
async function startRedis(c: Cleanup): Promise<RedisPeer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-redis-'));
  c.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  c.defer(
    () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  );
  await waitForPort(port);
  return { pid: child.pid ?? 0, port };
}

kernelTest(
  'redis-benchmark -P 16 -c 4: exactly N SET and N GET spans from the client and from redis-server',
  async () => {
    await scenario(async (c) => {
      const redis = await startRedis(c);
      const { agent, mem } = await startRedisAgent(c);
      await sleep(200);
      const N = 2000;
      const bench = await runCommand(c, 'redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-n', String(N), '-t', 'set,get', '-P', '16', '-c', '4', '-q']);
      const mine = (s: ReadableSpan, kind: (s: ReadableSpan) => boolean, pid: number, name: string): boolean => kind(s) && pidOf(s) === pid && op(s) === name && attr(s, 'server.port') === redis.port;
      const got = await waitForSpans(
        agent,
        mem,
        {
          clientSet: { match: (s) => mine(s, isClient, bench.pid, 'SET'), count: N },
          clientGet: { match: (s) => mine(s, isClient, bench.pid, 'GET'), count: N },
          serverSet: { match: (s) => mine(s, isServer, redis.pid, 'SET'), count: N },
          serverGet: { match: (s) => mine(s, isServer, redis.pid, 'GET'), count: N },
        },
        { timeoutMs: 30_000, settleMs: 1000 },
      );
      assertCount(got.clientSet, N, 'redis-benchmark SET CLIENT spans');
      assertCount(got.clientGet, N, 'redis-benchmark GET CLIENT spans');
      assertCount(got.serverSet, N, 'redis-server SET SERVER spans');
      assertCount(got.serverGet, N, 'redis-server GET SERVER spans');
      for (const s of [got.clientSet[0], got.serverGet[0]]) {
        assert.equal(attr(s!, 'db.system.name'), 'redis');
        assert.equal(attr(s!, 'db.namespace'), '0');
        assert.match(String(attr(s!, 'db.query.text')), /^(SET \? \?|GET \?)$/);
        assert.equal(s!.status.code, SpanStatusCode.UNSET);
      }
      // every span of this run is one of the four kinds, or redis-benchmark's CONFIG GETs
      const others = mem.spans.filter((s) => (pidOf(s) === bench.pid || pidOf(s) === redis.pid) && op(s) !== 'SET' && op(s) !== 'GET');
      assert.ok(others.every((s) => op(s) === 'CONFIG GET'), `other spans: ${others.map((s) => String(op(s))).join(', ')}`);
      assert.equal(lostEvents(agent), 0, `kernel lost events: ${JSON.stringify(agent.source.stats().lost)}`);
    });
  },
  { timeout: 120_000 },
);

kernelTest('MULTI/EXEC, DISCARD and EXECABORT: every queued command reported with its own result; errors carry their prefix', async () => {
  await scenario(async (c) => {
    const redis = await startRedis(c);
    const { agent, mem } = await startRedisAgent(c);
    await sleep(200);
    const tx = await runProgram(c, 'redis-client.js', [redis.port, 'transaction']);
    const errors = await runProgram(c, 'redis-client.js', [redis.port, 'errors']);
    const clientPort = (pid: number) => (s: ReadableSpan) => isClient(s) && pidOf(s) === pid;
    // the server's spans of each client connection: the server sees the client's port as its peer
    const got = await waitForSpans(agent, mem, {
      tx: { match: clientPort(tx.pid), count: 17 },
      errors: { match: clientPort(errors.pid), count: 8 },
      server: { match: (s) => isServer(s) && pidOf(s) === redis.pid, count: 25 },
    });
    assertCount(got.tx, 17, 'transaction client spans');
    assertCount(got.errors, 8, 'errors client spans');
    assertCount(got.server, 25, 'redis-server spans');
    const names = (spans: ReadableSpan[]): string[] => spans.map((s) => `${String(op(s))}${attr(s, 'db.response.status_code') ? `:${String(attr(s, 'db.response.status_code'))}` : ''}${attr(s, 'error.type') && !attr(s, 'db.response.status_code') ? `!${String(attr(s, 'error.type'))}` : ''}`);
    const byStart = (spans: ReadableSpan[]): ReadableSpan[] => [...spans].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    assert.deepEqual(names(byStart(got.tx)), [
      'MULTI', 'SET', 'INCR', 'GET', 'EXEC',
      'MULTI', 'SET!discarded', 'DISCARD',
      'MULTI', 'SET!EXECABORT', 'NOSUCHCMD:ERR', 'EXEC:EXECABORT',
      'MULTI', 'SET', 'LPUSH:WRONGTYPE', 'EXEC',
      'QUIT',
    ]);
    const exec = got.tx.find((s) => op(s) === 'EXEC' && attr(s, 'db.operation.batch.size') === 3);
    assert.ok(exec, 'EXEC of three commands carries db.operation.batch.size 3');
    assert.deepEqual(names(byStart(got.errors)), ['SET', 'INCR:ERR', 'LPUSH:WRONGTYPE', 'NOSUCHCMD:ERR', 'SELECT', 'SET', 'GET', 'QUIT']);
    for (const s of got.errors.filter((x) => attr(x, 'db.response.status_code'))) {
      assert.equal(attr(s, 'error.type'), attr(s, 'db.response.status_code'));
      assert.equal(s.status.code, SpanStatusCode.ERROR);
    }
    assert.deepEqual(
      byStart(got.errors).map((s) => attr(s, 'db.namespace')),
      ['0', '0', '0', '0', '0', '3', '3', '3'],
    );
    assert.deepEqual(names(byStart(got.server)).sort(), [...names(got.tx), ...names(got.errors)].sort());
  });
});

kernelTest('pub/sub: SUBSCRIBE then PUBLISH from another client; the pushed messages are not spans, PUBLISH is', async () => {
  await scenario(async (c) => {
    const redis = await startRedis(c);
    const { agent, mem } = await startRedisAgent(c);
    await sleep(200);
    for (const proto of ['2', '3']) {
      const channel = `news-${proto}`;
      const sub = spawn(process.execPath, [program('redis-client.js'), String(redis.port), 'subscribe', channel, '3', proto], { stdio: ['ignore', 'pipe', 'inherit'] });
      c.defer(() => void sub.kill('SIGKILL'));
      const exited = new Promise<number | null>((r) => sub.once('exit', (code) => r(code)));
      await new Promise<void>((resolve, reject) => {
        sub.stdout.once('data', (d: Buffer) => (String(d).startsWith('ready') ? resolve() : reject(new Error(String(d)))));
        sub.once('exit', () => reject(new Error('subscriber exited early')));
      });
      const pub = await runProgram(c, 'redis-client.js', [redis.port, 'publish', channel, 3]);
      assert.equal(await exited, 0);
      const subPid = sub.pid ?? 0;
      const hello = proto === '3' ? 1 : 0;
      const got = await waitForSpans(agent, mem, {
        sub: { match: (s) => isClient(s) && pidOf(s) === subPid, count: 4 + hello },
        pub: { match: (s) => isClient(s) && pidOf(s) === pub.pid, count: 4 },
        server: { match: (s) => isServer(s) && pidOf(s) === redis.pid, count: 8 + hello },
      });
      assertCount(got.sub, 4 + hello, `RESP${proto} subscriber spans`);
      assert.deepEqual(got.sub.map((s) => op(s)).sort(), [...(hello ? ['HELLO'] : []), 'PING', 'QUIT', 'SUBSCRIBE', 'UNSUBSCRIBE'].sort());
      assertCount(got.pub, 4, 'publisher spans');
      assert.deepEqual(got.pub.map((s) => op(s)).sort(), ['PUBLISH', 'PUBLISH', 'PUBLISH', 'QUIT']);
      assertCount(got.server, 8 + hello, `redis-server spans, RESP${proto} round`);
      mem.spans.length = 0;
    }
  });
});

kernelTest('bad input: protocol-shaped garbage and a 10,000-command flood; counters rise, memory stays bounded, later traffic pairs exactly', async () => {
  await scenario(async (c) => {
    const redis = await startRedis(c);
    const { agent, mem } = await startRedisAgent(c);
    await sleep(200);
    const stats = (): { requests: number; parseErrors: number; unmatchedResponses: number } => ({ requests: 0, parseErrors: 0, unmatchedResponses: 0, ...agent.protocolStats.get('redis') });
    const before = stats();
    const rss0 = process.memoryUsage().rss;
    const garbage = [
      '*1\\r\\n$4\\r\\nPING\\r\\n*2\\r\\n:1\\r\\n:2\\r\\n',
      '*1\\r\\n$4\\r\\nPING\\r\\n*3\\r\\n$3\\r\\nSET\\r\\n$99999999999\\r\\nxx\\r\\n',
      // an empty array (ignored by Redis), an unknown command, an inline line, then a protocol error (Redis closes)
      '*1\\r\\n$4\\r\\nPING\\r\\n*-5\\r\\n*1\\r\\n$4\\r\\nPONG\\r\\n$3\\r\\n\\r\\n*1\\r\\n:1\\r\\n',
    ];
    for (const g of garbage) await runProgram(c, 'raw-client.js', [redis.port, 'text', g]);
    await runProgram(c, 'raw-client.js', [redis.port, 'random', 3000]);
    const flood = await runProgram(c, 'redis-client.js', [redis.port, 'flood', 10_000]);
    assert.equal(JSON.parse(flood.stdout).replies, 10_001, flood.stdout);
    const after = await runProgram(c, 'redis-client.js', [redis.port, 'errors']);
    const got = await waitForSpans(agent, mem, {
      after: { match: (s) => isClient(s) && pidOf(s) === after.pid, count: 8 },
    });
    assertCount(got.after, 8, 'spans of the well-behaved client after the bad input');
    const d = stats();
    assert.ok(d.requests - before.requests > 100, `requests counted: ${JSON.stringify(d)}`);
    assert.ok(d.parseErrors > before.parseErrors, `parse errors counted: ${JSON.stringify(d)}`);
    // the commands past the captured prefix are unknown: their replies are counted, not paired
    assert.ok(d.unmatchedResponses - before.unmatchedResponses > 5000, `replies to commands lost in the capture gap counted: ${JSON.stringify(d)}`);
    for (const conn of agent.pipeline.table.values()) {
      const pending = (conn.session as { pending?: number } | undefined)?.pending ?? 0;
      assert.ok(pending <= agent.config.http.maxPendingPerConnection + 1, `pending ${pending}`);
    }
    const growth = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(growth < 100, `rss grew ${growth.toFixed(1)} MiB`);
  });
});
