// memcached end to end on the live kernel: a real memcached driven by
// programs/memcached-client.js (a known mix of text, meta and binary operations) and
// by memcslap; the agent captures them with eBPF. Counts per operation must be exact
// on both sides: CLIENT spans from the client, SERVER spans from memcached.
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
import { memcachedDetector } from '../../src/protocols/memcached';
import { redisDetector } from '../../src/protocols/redis';
import { kernelTest } from '../helpers/kernel';
import { assertCount, attr, lostEvents, pidOf, runCommand, runProgram, scenario, sleep, waitForSpans } from './e2e';
import type { Cleanup, LiveAgent } from './e2e';
import { freePort } from '../helpers/ports';

const isServer = (s: ReadableSpan): boolean => s.kind === SpanKind.SERVER;
const isClient = (s: ReadableSpan): boolean => s.kind === SpanKind.CLIENT;
const op = (s: ReadableSpan): string => String(attr(s, 'db.operation.name'));

/** The agent with Redis and memcached parsing (both, as the defaults will have them), a 4096-byte prefix. */
async function startAgent(c: Cleanup): Promise<LiveAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-mc-agent-'));
  c.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'kindling.yaml');
  fs.writeFileSync(file, 'capture:\n  payload_bytes: 4096\ntraces:\n  batch:\n    max_queue_size: 100000\n    schedule_delay_ms: 200\n');
  const mem = new MemorySpanExporter();
  const agent = new Agent(loadConfig({ file, env: { OTEL_METRICS_EXPORTER: 'none' } }), { spanExporters: [mem], metricExporters: [], log: () => undefined, kubernetes: null, protocols: [redisDetector, memcachedDetector] });
  c.defer(() => agent.stop());
  await agent.start();
  return { agent, mem };
}


/** memcached in the foreground on a free loopback port (TCP only), as user memcache; stopped by the cleanup stack. */
async function startMemcached(c: Cleanup): Promise<{ pid: number; port: number }> {
  const port = await freePort();
  const child = spawn('memcached', ['-u', 'memcache', '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64'], { stdio: 'ignore' });
  c.defer(
    () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  );
  const end = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > end) throw new Error('memcached did not start');
    await sleep(50);
  }
  return { pid: child.pid ?? 0, port };
}

const countByOp = (spans: ReadableSpan[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of spans) out[op(s)] = (out[op(s)] ?? 0) + 1;
  return out;
};
const total = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);

kernelTest('text, meta and binary mixes: exact counts per operation from the client and from memcached', async () => {
  await scenario(async (c) => {
    const mc = await startMemcached(c);
    const { agent, mem } = await startAgent(c);
    await sleep(200);
    for (const [mode, args] of [
      ['text', [40, 15, 10, 8]],
      ['binary', [30, 20]],
    ] as const) {
      const run = await runProgram(c, 'memcached-client.js', [mc.port, mode, ...args]);
      const sent = (JSON.parse(run.stdout) as { sent: Record<string, number> }).sent;
      const n = total(sent);
      const got = await waitForSpans(agent, mem, {
        client: { match: (s) => isClient(s) && pidOf(s) === run.pid, count: n },
        server: { match: (s) => isServer(s) && pidOf(s) === mc.pid, count: n },
      });
      assert.deepEqual(countByOp(got.client), sent, `${mode}: client spans by operation`);
      assert.deepEqual(countByOp(got.server), sent, `${mode}: memcached SERVER spans by operation`);
      assertCount(got.client, n, `${mode} client spans`);
      for (const s of [...got.client, ...got.server]) {
        assert.equal(attr(s, 'db.system.name'), 'memcached');
        assert.equal(attr(s, 'server.port'), mc.port);
      }
      if (mode === 'text') {
        const gets = got.client.filter((s) => op(s) === 'get');
        assert.ok(gets.every((s) => attr(s, 'db.response.returned_rows') === 2 && attr(s, 'db.query.text') === 'get ? ? ?'));
        const errors = got.server.filter((s) => attr(s, 'db.response.status_code')).map((s) => `${op(s)}:${String(attr(s, 'db.response.status_code'))}`);
        assert.deepEqual(errors.sort(), ['incr:CLIENT_ERROR', 'unknown:ERROR']);
        const noreply = got.client.find((s) => attr(s, 'db.query.text') === 'set ? ? ? ? noreply');
        assert.ok(noreply && noreply.status.code === SpanStatusCode.UNSET, 'the noreply set completes at its request');
      } else {
        const errors = got.client.filter((s) => attr(s, 'db.response.status_code')).map((s) => `${op(s)}:${String(attr(s, 'db.response.status_code'))}`);
        assert.deepEqual(errors, ['incr:DELTA_BADVAL']);
        assert.equal(got.client.filter((s) => op(s) === 'get' && attr(s, 'db.response.returned_rows') === 0).length, 2, 'a miss and a quiet miss');
      }
      mem.spans.length = 0;
    }
    assert.equal(lostEvents(agent), 0, `kernel lost events: ${JSON.stringify(agent.source.stats().lost)}`);
  });
});

kernelTest('memcslap, text and binary: as many spans on the client as on memcached, operation by operation', async () => {
  await scenario(async (c) => {
    const mc = await startMemcached(c);
    const { agent, mem } = await startAgent(c);
    await sleep(200);
    for (const binary of [false, true]) {
      const run = await runCommand(c, 'memcslap', [`--servers=127.0.0.1:${mc.port}`, '--execute-number=200', '--concurrency=1', ...(binary ? ['--binary'] : [])]);
      const got = await waitForSpans(agent, mem, { client: { match: (s) => isClient(s) && pidOf(s) === run.pid, count: 200 } }, { settleMs: 1000 });
      const server = mem.spans.filter((s) => isServer(s) && pidOf(s) === mc.pid);
      assert.ok(got.client.length >= 200, `memcslap ${binary ? 'binary' : 'text'}: ${got.client.length} client spans`);
      assert.deepEqual(countByOp(server), countByOp(got.client), `memcslap ${binary ? 'binary' : 'text'}: server and client agree`);
      assert.ok(got.client.every((s) => s.status.code === SpanStatusCode.UNSET), 'no errors');
      mem.spans.length = 0;
    }
  });
});

kernelTest('bad input: garbage on the memcached port is counted; later traffic still pairs exactly', async () => {
  await scenario(async (c) => {
    const mc = await startMemcached(c);
    const { agent, mem } = await startAgent(c);
    await sleep(200);
    const before = { parseErrors: 0, ...agent.protocolStats.get('memcached') };
    for (const g of ['get a\\r\\nset k 0 0 3\\r\\nabcdefgh\\r\\nget b\\r\\n', 'get ok\\r\\nset k 0 0 99999999999999\\r\\n', 'version\\r\\n\\x80\\x01\\x00\\x01junk\\r\\n']) {
      await runProgram(c, 'raw-client.js', [mc.port, 'text', g]);
    }
    await runProgram(c, 'raw-client.js', [mc.port, 'random', 5000]);
    const run = await runProgram(c, 'memcached-client.js', [mc.port, 'text', 5, 2, 1, 1]);
    const sent = (JSON.parse(run.stdout) as { sent: Record<string, number> }).sent;
    const got = await waitForSpans(agent, mem, { client: { match: (s) => isClient(s) && pidOf(s) === run.pid, count: total(sent) } });
    assert.deepEqual(countByOp(got.client), sent);
    const after = { parseErrors: 0, ...agent.protocolStats.get('memcached') };
    assert.ok(after.parseErrors > before.parseErrors, `parse errors counted: ${JSON.stringify(after)}`);
  });
});
