// What the trace-profiling kernel tests share: the C test server's processes, real-time
// curl, and finding spans and their children; for the tier 1 tests, one GET with its
// reply, a server span's breakdown read back, and the per-endpoint bucket checks.
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { artifacts } from '../../src/util/paths';
import { attr, pidOf } from './e2e';
import type { Cleanup } from './e2e';

export interface Peer {
  pid: number;
  port: number;
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** A program that prints its port on stdout, killed by the cleanup stack; argv[0] execs argv[1..] (chrt, taskset) or is the program. */
export function startPeer(c: Cleanup, argv: readonly string[]): Promise<Peer> {
  const [file = '', ...args] = argv;
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  c.defer(() => stopChild(child));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code} before listening`)));
    child.stdout.once('data', (d: Buffer) => resolve({ pid: child.pid ?? 0, port: Number(d.toString().trim()) }));
  });
}

export function curl(port: number, target: string): Promise<void> {
  return new Promise((resolve, reject) => execFile('chrt', ['-f', '50', 'curl', '-sS', '-o', '/dev/null', '--max-time', '10', `http://127.0.0.1:${port}${target}`], (e) => (e ? reject(e) : resolve())));
}

export async function spansOf(agent: { spans: { flush(): Promise<void> } }, mem: { spans: ReadableSpan[] }, want: (s: ReadableSpan[]) => boolean, ms = 15_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await agent.spans.flush();
    if (want(mem.spans)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return mem.spans;
}

export const serverSpanOf = (pid: number, p: string) => (s: ReadableSpan): boolean => s.kind === SpanKind.SERVER && pidOf(s) === pid && attr(s, 'url.path') === p;
export const servers = (spans: ReadableSpan[], pid: number, path: string): ReadableSpan[] => spans.filter(serverSpanOf(pid, path));
export const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] =>
  spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId && s.kind === SpanKind.INTERNAL);

// ---------------------------------------------------------------- tier 1: servers and GETs

/**
 * Servers and clients run at real-time priority (SCHED_FIFO): other load on the
 * machine (CI neighbours, another test run) then cannot make them wait for a
 * CPU, which would add run-queue time to the spans (a correct profile, but not
 * the bucket under test) and delay the client's request (net time in the span,
 * which starts at the enter of the server's read). The run-queue test runs its
 * server at normal priority on purpose.
 */
export const REALTIME = ['chrt', '-f', '50'];

/**
 * profile-server with a delay upstream of its own; real-time unless pinned to
 * `cpu` (chrt and taskset exec the program: the pid stays the server's).
 */
export async function startProfileServer(c: Cleanup, o: { cpu?: number } = {}): Promise<Peer> {
  const bin = artifacts.program('profile-server');
  const upstream = await startPeer(c, [bin, '--delay']);
  const args = [bin, '--upstream', String(upstream.port), '--dir', '/var/tmp'];
  return startPeer(c, o.cpu === undefined ? [...REALTIME, ...args] : ['taskset', '-c', String(o.cpu), ...args]);
}

export interface Reply {
  /** curl's local port: the span's client.port */
  localPort: number;
  status: number;
  body: Record<string, number | string>;
}

/**
 * One GET by curl, real-time like the servers: a process of its own (the
 * agent never captures this one), on a fresh connection (profile-server
 * answers with Connection: close).
 */
export function get(port: number, target: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '10', '-w', '\n%{local_port} %{http_code}', `http://127.0.0.1:${port}${target}`], (err, stdout) => {
      if (err) return reject(err);
      const nl = stdout.lastIndexOf('\n');
      const [localPort = '0', status = '0'] = stdout.slice(nl + 1).split(' ');
      try {
        resolve({ localPort: Number(localPort), status: Number(status), body: JSON.parse(stdout.slice(0, nl)) as Reply['body'] });
      } catch (e) {
        reject(new Error(`GET ${target}: ${String(e)}: ${stdout}`));
      }
    });
  });
}

// ---------------------------------------------------------------- tier 1: a span's breakdown

export const MS = 1e6;
/** the dominant bucket must hold the server's own measure within this */
export const TOLERANCE_NS = 2 * MS;

const BUCKET_ATTR: Record<string, string> = {
  cpu: 'kindling.cpu.on_ns',
  runq: 'kindling.cpu.runq_ns',
  downstream: 'kindling.offcpu.downstream_ns',
  lock: 'kindling.offcpu.lock_ns',
  net: 'kindling.offcpu.net_ns',
  disk: 'kindling.offcpu.disk_ns',
  idle: 'kindling.offcpu.idle_ns',
  sleep: 'kindling.offcpu.sleep_ns',
  pipe: 'kindling.offcpu.pipe_ns',
  other: 'kindling.offcpu.other_ns',
};

/** A server span's breakdown, read back from its attributes. */
export interface Profile {
  durationNs: number;
  buckets: Record<string, number>;
  /** on + runq + every off-CPU bucket, downstream included */
  sumNs: number;
  dominant: string;
  tid: number;
  threadName: string;
  involuntary: number;
}

export function profileOf(s: ReadableSpan): Profile {
  const buckets: Record<string, number> = {};
  for (const [b, name] of Object.entries(BUCKET_ATTR)) {
    const v = attr(s, name);
    assert.equal(typeof v, 'number', `span ${s.name} (client.port ${String(attr(s, 'client.port'))}) has no ${name}: ${JSON.stringify(s.attributes)}`);
    buckets[b] = v as number;
  }
  return {
    durationNs: s.duration[0] * 1e9 + s.duration[1],
    buckets,
    sumNs: Object.values(buckets).reduce((a, b) => a + b, 0),
    dominant: String(attr(s, 'kindling.profile.dominant')),
    tid: Number(attr(s, 'thread.id')),
    threadName: String(attr(s, 'thread.name')),
    involuntary: Number(attr(s, 'kindling.sched.involuntary')),
  };
}

/** on + runq + Σoff = duration within max(0.5 ms, 2%): the error (sum - duration) in ns, and whether it is within */
export function invariantError(p: Profile): { errNs: number; ok: boolean } {
  const errNs = p.sumNs - p.durationNs;
  return { errNs, ok: Math.abs(errNs) <= Math.max(0.5 * MS, 0.02 * p.durationNs) };
}

/** ns as ms, 3 decimals */
export const f = (ns: number): string => (ns / MS).toFixed(3);

// ---------------------------------------------------------------- tier 1: bucket checks

export interface Case {
  path: string;
  /** the dominant bucket expected */
  bucket: string;
  query?: string;
}

export interface Sample {
  path: string;
  reply: Reply;
}

/** requests per case */
export const N = 5;

/**
 * n sequential requests per case, after one warm-up request that is not
 * checked: a first request pays one-time costs on CPU (Node compiling the
 * handler, the first upstream connection, page faults) that the server's own
 * measure of the blocking part includes.
 */
export async function drive(port: number, cases: readonly Case[], n: number): Promise<Sample[]> {
  const out: Sample[] = [];
  for (const k of cases) {
    await get(port, `${k.path}${k.query ?? ''}`);
    for (let i = 0; i < n; i++) {
      const reply = await get(port, `${k.path}${k.query ?? ''}`);
      assert.equal(reply.status, 200, `${k.path}: ${JSON.stringify(reply.body)}`);
      out.push({ path: k.path, reply });
    }
  }
  return out;
}

/** the largest off-CPU bucket (downstream included) */
function offLeader(p: Profile): string {
  const off = Object.entries(p.buckets).filter(([b]) => b !== 'cpu' && b !== 'runq');
  return off.reduce((best, x) => (x[1] > best[1] ? x : best), ['none', -1] as [string, number])[0];
}

/**
 * Each sample's span: dominant is the expected bucket, that bucket is within
 * TOLERANCE of measured_ns, and the invariant holds. One allowance: when the
 * server's own clocks say the part ran on CPU at least half as long as it
 * waited (fsync on a fast disk: block allocation and writeback submission are
 * the thread's CPU work), CPU may rightly dominate, and the expected bucket
 * must then lead the off-CPU ones. Every number goes to the diagnostics;
 * failures are gathered so one run shows them all.
 */
export function checkBuckets(t: TestContext, cases: readonly Case[], samples: readonly Sample[], spans: readonly ReadableSpan[]): void {
  const failures: string[] = [];
  t.diagnostic('path        dominant(expected)  bucket_ms  measured_ms  diff_ms  part_cpu_ms  duration_ms  sum_err_ms');
  for (const s of samples) {
    const k = cases.find((c) => c.path === s.path) as Case;
    const span = spans.find((x) => attr(x, 'client.port') === s.reply.localPort && attr(x, 'url.path') === s.path);
    if (!span) {
      failures.push(`${s.path}: no SERVER span for client port ${s.reply.localPort}`);
      continue;
    }
    const p = profileOf(span);
    const measured = Number(s.reply.body['measured_ns']);
    const partCpu = Number(s.reply.body['cpu_ns']);
    const got = p.buckets[k.bucket] ?? NaN;
    const inv = invariantError(p);
    const cpuHeavy = k.bucket !== 'cpu' && partCpu >= measured / 2;
    const dominantOk = p.dominant === k.bucket || (cpuHeavy && p.dominant === 'cpu' && offLeader(p) === k.bucket);
    t.diagnostic(
      `${s.path.padEnd(10)}  ${`${p.dominant}(${k.bucket})`.padEnd(18)}  ${f(got).padStart(9)}  ${f(measured).padStart(11)}  ${f(got - measured).padStart(7)}  ${f(partCpu).padStart(11)}  ${f(p.durationNs).padStart(11)}  ${f(inv.errNs).padStart(10)}${p.dominant !== k.bucket && dominantOk ? '  (cpu-heavy part: cpu may lead)' : ''}`,
    );
    const where = `${s.path} (port ${s.reply.localPort}, tid ${p.tid})`;
    if (!dominantOk) failures.push(`${where}: dominant ${p.dominant}, expected ${k.bucket}: ${JSON.stringify(p.buckets)} vs ${JSON.stringify(s.reply.body)}`);
    if (!(Math.abs(got - measured) <= TOLERANCE_NS)) failures.push(`${where}: ${k.bucket} ${f(got)} ms vs measured ${f(measured)} ms`);
    if (!inv.ok) failures.push(`${where}: on+runq+off ${f(p.sumNs)} ms vs duration ${f(p.durationNs)} ms`);
    if (p.tid !== Number(s.reply.body['tid'])) failures.push(`${where}: thread.id ${p.tid}, the server says ${String(s.reply.body['tid'])}`);
  }
  assert.deepEqual(failures, [], failures.join('\n'));
}
