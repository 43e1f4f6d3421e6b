// DNS end to end on the live kernel: dnsmasq answering dig (UDP and TCP) and
// glibc's resolver, an HTTP connection to an address a DNS answer named, garbage,
// and a flood nobody answers. Exact span counts per process.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Agent } from '../../src/agent';
import { loadConfig } from '../../src/config/config';
import { MemorySpanExporter } from '../../src/export/console-spans';
import { dnsDetector } from '../../src/protocols/dns-detector';
import { DnsSession } from '../../src/protocols/dns-session';
import { kernelTest } from '../helpers/kernel';
import { dig, freePort, programPath, run, runInNetns, startDnsmasq } from '../programs/dns-peers';
import type { Run } from '../programs/dns-peers';
import type { Cleanup, LiveAgent } from './e2e';
import { assertCount, attr, lostEvents, ms, pidOf, scenario, sleep, startAgent, startServerProgram, waitForSpans } from './e2e';

const { GARBAGE } = require(programPath('dns-garbage.js')) as { GARBAGE: unknown[] };

const isServer = (s: ReadableSpan): boolean => s.kind === SpanKind.SERVER;
const isClient = (s: ReadableSpan): boolean => s.kind === SpanKind.CLIENT;
const killOnCleanup = (c: Cleanup) => (child: { kill(sig: NodeJS.Signals): boolean; exitCode: number | null }) =>
  c.defer(() => void (child.exitCode === null && child.kill('SIGKILL')));

/** An agent parsing DNS; with YAML settings when given (loaded from a temp file, as users do). */
async function dnsAgent(c: Cleanup, yaml?: string): Promise<LiveAgent> {
  if (yaml === undefined) return startAgent(c, {}, [dnsDetector]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-dns-'));
  c.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'kindling.yaml');
  fs.writeFileSync(file, yaml);
  const mem = new MemorySpanExporter();
  const agent = new Agent(loadConfig({ file, env: { OTEL_METRICS_EXPORTER: 'none' } }), { spanExporters: [mem], metricExporters: [], log: () => undefined, kubernetes: null, protocols: [dnsDetector] });
  c.defer(() => agent.stop());
  await agent.start();
  return { agent, mem };
}

const dnsStats = (a: Agent): Record<string, number> => ({ ...(a.protocolStats.get('dns') ?? {}) });
const delta = (now: Record<string, number>, before: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]));

interface Asked {
  args: string[];
  name: string;
  type: string;
  rcode: string;
  answers?: string[];
  transport: 'udp' | 'tcp';
}

const ASKED: Asked[] = [
  { args: ['svc.test', 'A'], name: 'svc.test', type: 'A', rcode: 'NOERROR', answers: ['10.9.9.9'], transport: 'udp' },
  { args: ['+tcp', 'web.test', 'A'], name: 'web.test', type: 'A', rcode: 'NOERROR', answers: ['127.0.0.2'], transport: 'tcp' },
  { args: ['dual.test', 'AAAA'], name: 'dual.test', type: 'AAAA', rcode: 'NOERROR', answers: ['fd00::5'], transport: 'udp' },
  { args: ['chain.test', 'A'], name: 'chain.test', type: 'A', rcode: 'NOERROR', answers: ['alias.test', 'dual.test', '10.1.2.3'], transport: 'udp' },
  { args: ['nope.test', 'A'], name: 'nope.test', type: 'A', rcode: 'NXDOMAIN', transport: 'udp' },
];

kernelTest('dig against dnsmasq on a high port, over UDP and TCP: exactly one CLIENT span per dig and one SERVER span per question', async () => {
  await scenario(async (c) => {
    const port = await freePort();
    const dns = await startDnsmasq({ port });
    c.defer(() => dns.close());
    const { agent, mem } = await dnsAgent(c);
    await sleep(200);
    const runs: Run[] = [];
    for (const q of ASKED) runs.push(await dig(port, q.args, killOnCleanup(c)));
    const groups: Record<string, { match: (s: ReadableSpan) => boolean; count: number }> = { server: { match: (s) => pidOf(s) === dns.pid, count: ASKED.length } };
    runs.forEach((r, i) => (groups[`dig${i}`] = { match: (s) => pidOf(s) === r.pid, count: 1 }));
    const got = await waitForSpans(agent, mem, groups);
    const servers: ReadableSpan[] = got.server ?? [];
    assertCount(servers, ASKED.length, 'dnsmasq SERVER spans');
    for (const [i, q] of ASKED.entries()) {
      const mine = got[`dig${i}`] ?? [];
      assertCount(mine, 1, `dig ${q.args.join(' ')}: CLIENT spans`);
      const s = mine[0] as ReadableSpan;
      const server: ReadableSpan | undefined = servers.find((x) => attr(x, 'dns.question.name') === q.name);
      assert.ok(server, `dnsmasq span for ${q.name}`);
      const pairs: [ReadableSpan, SpanKind][] = [
        [s, SpanKind.CLIENT],
        [server, SpanKind.SERVER],
      ];
      for (const [span, kind] of pairs) {
        const what = `${q.name} ${kind === SpanKind.CLIENT ? 'client' : 'server'}`;
        assert.equal(span.kind, kind, what);
        assert.equal(span.name, `DNS ${q.type}`, what);
        assert.equal(attr(span, 'dns.question.name'), q.name, what);
        assert.equal(attr(span, 'kindling.dns.question.type'), q.type, what);
        assert.equal(attr(span, 'kindling.dns.response.code'), q.rcode, what);
        assert.deepEqual(attr(span, 'dns.answers'), q.answers, what);
        assert.equal(attr(span, 'network.transport'), q.transport, what);
        assert.equal(attr(span, 'server.address'), '127.0.0.1', what);
        assert.equal(attr(span, 'server.port'), port, what);
        // NXDOMAIN is an answer, not an error (dns.nxdomain_is_error: false by default)
        assert.equal(attr(span, 'error.type'), undefined, what);
        assert.equal(span.status.code, SpanStatusCode.UNSET, what);
        assert.ok(ms(span) > 0 && ms(span) < 1000, `${what}: ${ms(span)} ms`);
      }
      assert.equal(attr(s, 'network.peer.port'), port);
      // over UDP the server's work sits inside the client's wait
      if (q.transport === 'udp') assert.ok(ms(server) <= ms(s), `${q.name}: server ${ms(server)} ms within client ${ms(s)} ms`);
    }
    assert.equal(agent.names.lookup('127.0.0.2'), 'web.test');
    assert.equal(agent.names.lookup('10.1.2.3'), 'chain.test', 'a CNAME chain names the address after the question');
    assert.equal(lostEvents(agent), 0);
  });
});

kernelTest('glibc resolver (getent, A and AAAA in one sendmmsg, read with recvfrom): both questions pair', async () => {
  await scenario(async (c) => {
    const { agent, mem } = await dnsAgent(c);
    await sleep(200);
    const r = await runInNetns([['getent', 'ahosts', 'dual.test']], { onSpawn: killOnCleanup(c) });
    const getent = r.steps[0];
    assert.ok(getent && getent.code === 0, JSON.stringify(r));
    assert.match(getent.stdout, /fd00::5/);
    const got = await waitForSpans(agent, mem, {
      client: { match: (s) => pidOf(s) === getent.pid, count: 2 },
      server: { match: (s) => pidOf(s) === r.dnsmasqPid, count: 2 },
    });
    assertCount(got.client, 2, 'getent CLIENT spans');
    assertCount(got.server, 2, 'dnsmasq SERVER spans');
    for (const spans of [got.client, got.server]) {
      assert.deepEqual(spans.map((s) => s.name).sort(), ['DNS A', 'DNS AAAA']);
      assert.deepEqual(spans.map((s) => attr(s, 'dns.answers')).flat().sort(), ['10.1.2.3', 'fd00::5']);
      assert.ok(spans.every((s) => attr(s, 'dns.question.name') === 'dual.test' && attr(s, 'server.port') === 53 && attr(s, 'kindling.dns.response.code') === 'NOERROR'));
    }
    assert.ok(got.client.every(isClient) && got.server.every(isServer));
    // one sendmmsg carried both questions: both spans start at its enter
    assert.deepEqual(got.client[0]?.startTime, got.client[1]?.startTime);
  });
});

kernelTest('a later HTTP connection to an address a DNS answer named carries the name', async () => {
  await scenario(async (c) => {
    const port = await freePort();
    const dns = await startDnsmasq({ port });
    c.defer(() => dns.close());
    const web = await startServerProgram(c, 'dns-web.js', ['127.0.0.2']);
    const { agent, mem } = await dnsAgent(c);
    await sleep(200);
    const asked = await dig(port, ['web.test', 'A'], killOnCleanup(c));
    await waitForSpans(agent, mem, { dig: { match: (s) => pidOf(s) === asked.pid, count: 1 } }, { settleMs: 0 });
    // no Host header: the request names no server, so the address is all the span has
    const client = await run(process.execPath, [programPath('dns-client.js'), 'http', '127.0.0.2', String(web.port), '/hello'], killOnCleanup(c));
    assert.equal(JSON.parse(client.stdout).firstLine, 'HTTP/1.1 200 OK', client.stdout);
    const got = await waitForSpans(agent, mem, {
      http: { match: (s) => isClient(s) && pidOf(s) === Number(JSON.parse(client.stdout).pid), count: 1 },
      webServer: { match: (s) => pidOf(s) === web.pid, count: 1 },
    });
    assertCount(got.http, 1, 'HTTP CLIENT spans');
    assertCount(got.webServer, 1, 'HTTP SERVER spans');
    const span = got.http[0] as ReadableSpan;
    assert.equal(attr(span, 'http.response.status_code'), 200);
    assert.equal(attr(span, 'network.peer.address'), '127.0.0.2');
    assert.equal(attr(span, 'kindling.peer.name'), 'web.test');
    // no Host header names the server: the name the DNS answer gave the address does
    assert.equal(attr(span, 'server.address'), 'web.test');
  });
});

kernelTest('DNS-shaped garbage over UDP and TCP: no spans for it, parse errors counted, real questions still traced', async (t) => {
  await scenario(async (c) => {
    const port = await freePort();
    const dns = await startDnsmasq({ port });
    c.defer(() => dns.close());
    const { agent, mem } = await dnsAgent(c);
    await sleep(200);
    // a real question first: dnsmasq's UDP socket is known to be DNS before the garbage comes
    const first = await dig(port, ['svc.test', 'A'], killOnCleanup(c));
    await waitForSpans(agent, mem, { first: { match: (s) => pidOf(s) === first.pid, count: 1 } }, { settleMs: 0 });
    const before = dnsStats(agent);
    const client = (mode: string): Promise<Run> => run(process.execPath, [programPath('dns-client.js'), mode, String(port)], killOnCleanup(c));
    const udp = await client('udp-garbage');
    const tcp = await client('tcp-garbage');
    const udpOut = JSON.parse(udp.stdout) as { answered: boolean; replies: number };
    assert.equal(udpOut.answered, true, udp.stdout);
    const got = await waitForSpans(agent, mem, {
      udp: { match: (s) => pidOf(s) === udp.pid, count: 1 },
      tcp: { match: (s) => pidOf(s) === tcp.pid, count: 1 },
      server: { match: (s) => pidOf(s) === dns.pid, count: 3 },
    });
    // each garbage client made one real query (on a fresh socket / connection): only those are spans
    assertCount(got.udp, 1, 'UDP garbage client: the valid query only');
    assertCount(got.tcp, 1, 'TCP garbage client: the valid query only');
    assertCount(got.server, 3, 'dnsmasq SERVER spans: dig and the two valid queries');
    assert.deepEqual([...got.udp, ...got.tcp].map((s) => [attr(s, 'dns.question.name'), attr(s, 'network.transport'), attr(s, 'kindling.dns.response.code')]), [
      ['svc.test', 'udp', 'NOERROR'],
      ['svc.test', 'tcp', 'NOERROR'],
    ]);
    const d = delta(dnsStats(agent), before);
    // dnsmasq's socket sees each garbage datagram; the TCP prefix of 3 is an error on both ends
    assert.ok((d.parseErrors ?? 0) >= GARBAGE.length + 2, `parse errors: ${JSON.stringify(d)} (dnsmasq replied to ${udpOut.replies} garbage datagrams)`);
    // lower bounds: the agent watches the whole node, and other processes may ask too
    assert.ok((d.exchanges ?? 0) >= 4, JSON.stringify(d));
    t.diagnostic(`dns counters during the garbage: ${JSON.stringify(d)}; dnsmasq replied to ${udpOut.replies} of ${GARBAGE.length} garbage datagrams; tcp: ${tcp.stdout.trim()}`);
    assert.equal(lostEvents(agent), 0);
  });
});

kernelTest(
  '10,000 queries to a port where nothing answers: all expire as timeouts, memory bounded',
  async (t) => {
    await scenario(async (c) => {
      const port = await freePort();
      const timeoutMs = 1000;
      const { agent, mem } = await dnsAgent(c, `http:\n  request_timeout_ms: ${timeoutMs}\ntraces:\n  batch:\n    max_queue_size: 65536\n`);
      await sleep(200);
      const rss0 = process.memoryUsage().rss;
      const before = dnsStats(agent);
      const n = 10_000;
      // ten unconnected sockets of 1000 queries each (under the 1024 pending per socket), kept open past the timeout
      const flood = await run(process.execPath, [programPath('dns-client.js'), 'flood', String(port), String(n), '10', String(timeoutMs * 3)], killOnCleanup(c));
      assert.equal(JSON.parse(flood.stdout).sent, n);
      const got = await waitForSpans(agent, mem, { flood: { match: (s) => pidOf(s) === flood.pid, count: n } }, { timeoutMs: 30_000, settleMs: 500 });
      assert.equal(got.flood.length, n, 'one span per query, no more');
      const names = new Set<unknown>();
      for (const s of got.flood) {
        names.add(attr(s, 'dns.question.name'));
        assert.ok(isClient(s) && s.name === 'DNS A' && attr(s, 'error.type') === 'timeout' && s.status.code === SpanStatusCode.ERROR, `${s.name} ${String(attr(s, 'error.type'))}`);
        assert.ok(ms(s) >= timeoutMs - 1 && ms(s) < timeoutMs + 2500, `expired after ${ms(s)} ms`);
      }
      assert.equal(names.size, n, 'every query, once');
      const d = delta(dnsStats(agent), before);
      assert.ok((d.requests ?? 0) >= n && (d.expired ?? 0) >= n, JSON.stringify(d));
      for (const conn of agent.pipeline.table.values()) if (conn.session instanceof DnsSession) assert.ok(conn.session.pending <= agent.config.http.maxPendingPerConnection);
      assert.equal(lostEvents(agent), 0, `kernel lost events: ${JSON.stringify(agent.source.stats().lost)}`);
      const growth = (process.memoryUsage().rss - rss0) / 2 ** 20;
      assert.ok(growth < 150, `rss grew ${growth.toFixed(1)} MiB for ${n} spans held in memory`);
      const durations = got.flood.map(ms).sort((a, b) => a - b);
      t.diagnostic(`flood: ${JSON.stringify(d)}; span durations ${durations[0]?.toFixed(0)}..${durations.at(-1)?.toFixed(0)} ms; rss +${growth.toFixed(1)} MiB`);
    });
  },
  { timeout: 120_000 },
);
