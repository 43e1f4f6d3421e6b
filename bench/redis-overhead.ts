/**
 * redis-overhead: what a running agent costs Redis, measured side by side in one run.
 * redis-benchmark drives redis-server at saturation (`-t set,get -P 16 -c 50` by
 * default), without the agent and with it, alternated in rounds. The agent runs in its
 * own process with Redis parsing on and a 4096-byte payload prefix (16 pipelined SETs
 * are 720 bytes: the default 512 would cut every pipeline), exporting every span over
 * OTLP/gRPC to the discarding receiver bench/programs/otlp-trace-sink.js, metrics on
 * its Prometheus endpoint only. Both ends are parsed: a SET makes a CLIENT span in
 * redis-benchmark and a SERVER span in redis-server.
 *
 * Printed: throughput with/without (target ratio >= 0.85), and the agent's CPU per
 * operation (target <= 10 us): its process's utime+stime (/proc/PID/stat) plus the
 * in-kernel time of its BPF programs (run_time_ns with kernel.bpf_stats_enabled=1,
 * turned on for the with-agent runs and restored), over the operations completed.
 *
 * Usage: node dist/bench/redis-overhead.js [--rounds 3] [--seconds 5] [--pipeline 16]
 *          [--clients 50] [--payload-bytes 4096]
 * (The agent is `node bin/kindling.js run` once DEFAULT_PROTOCOLS includes Redis; until
 * then this file starts it itself, the same way, with `--agent-child`.)
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../receiver/src/agent';
import { loadConfig } from '../receiver/src/config/config';
import { DEFAULT_PROTOCOLS } from '../receiver/src/protocols/index';
import { redisDetector } from '../receiver/src/protocols/redis';
import { packageRoot } from '../receiver/src/util/paths';
import { sleep } from './lib/capture';
import { onInterrupt } from './lib/cleanup';
import { count, fmt, max, median, min, table, yesNo } from './lib/report';
import { findExecutable } from './lib/system';

const CPU_TARGET_US = 10;
const THROUGHPUT_TARGET = 0.85;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
const CLK_TCK = 100;

interface Args {
  rounds: number;
  seconds: number;
  pipeline: number;
  clients: number;
  payloadBytes: number;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, pipeline: { type: 'string', default: '16' }, clients: { type: 'string', default: '50' }, 'payload-bytes': { type: 'string', default: '4096' } },
    strict: true,
  });
  const int = (k: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${k} must be a positive integer, got ${v}`);
    return n;
  };
  return { rounds: int('rounds', values.rounds), seconds: int('seconds', values.seconds), pipeline: int('pipeline', values.pipeline), clients: int('clients', values.clients), payloadBytes: int('payload-bytes', values['payload-bytes']) };
}

interface Child {
  proc: ChildProcess;
  pid: number;
  out: string;
  err: string;
  exited: Promise<number | null>;
}

function launch(file: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  const proc = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  const c: Child = { proc, pid: proc.pid ?? -1, out: '', err: '', exited: Promise.resolve(null) };
  const release = onInterrupt(() => void proc.kill('SIGKILL'));
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (c.out += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (c.err = (c.err + s).slice(-20_000)));
  c.exited = new Promise((resolve) => {
    proc.once('exit', (code) => {
      release();
      resolve(code);
    });
  });
  return c;
}

async function stop(c: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill(signal);
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
  await c.exited;
  clearTimeout(t);
}

async function until<T>(probe: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function cpuUs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

function progIds(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

function bpfNs(ids: Set<number>): number {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { id: number; run_time_ns?: number }[];
  return progs.filter((p) => ids.has(p.id)).reduce((a, p) => a + (p.run_time_ns ?? 0), 0);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

// ---- the agent ----

interface AgentProc {
  child: Child;
  metricsUrl: string;
  ids: Set<number>;
}

async function startAgent(sinkPort: number, configFile: string): Promise<AgentProc> {
  const env = { ...process.env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${sinkPort}`, OTEL_TRACES_EXPORTER: 'otlp', OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: '0' };
  const wired = DEFAULT_PROTOCOLS.includes(redisDetector);
  const args = wired ? [path.join(packageRoot(), 'bin', 'kindling.js'), 'run', '--config', configFile] : [__filename, '--agent-child', configFile];
  const child = launch(process.execPath, args, env);
  const metricsUrl = await until(
    () => {
      if (child.proc.exitCode !== null) throw new Error(`the agent exited: ${child.err}`);
      return /prometheus (http:\/\/\S+\/metrics)/.exec(child.err)?.[1];
    },
    30_000,
    "the agent's start line",
  );
  return { child, metricsUrl, ids: progIds(child.pid) };
}

/** `--agent-child FILE`: what `kindling run --config FILE` does, with Redis parsing on. */
async function agentChild(configFile: string): Promise<void> {
  const agent = new Agent(loadConfig({ file: configFile, env: process.env }), { protocols: [...DEFAULT_PROTOCOLS, redisDetector] });
  await agent.start();
  const keepAlive = setInterval(() => undefined, 1 << 30); // nothing else need hold the event loop open
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  clearInterval(keepAlive);
  await agent.stop();
}

async function scrape(url: string): Promise<Record<string, number>> {
  const out: Record<string, number> = { kindling_spans_exported_total: 0, kindling_spans_dropped_total: 0, kindling_source_lost_total: 0 };
  for (const line of (await (await fetch(url)).text()).split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] !== undefined && m[1] in out) out[m[1]] = (out[m[1]] ?? 0) + Number(m[3]);
  }
  return out;
}

/** Waits until the agent's CPU stops moving: it has drained and exported what the load made. */
async function settle(pid: number): Promise<void> {
  const start = Date.now();
  let last = cpuUs(pid);
  let quiet = Date.now();
  while (Date.now() - start < 8000) {
    await sleep(100);
    const now = cpuUs(pid);
    if (now - last > 1e4) quiet = Date.now();
    last = now;
    if (Date.now() - start >= 1200 && Date.now() - quiet >= 300) return;
  }
}

// ---- the load ----

interface Load {
  ops: number;
  seconds: number;
  opsPerSec: number;
}

async function benchmark(a: Args, port: number, n: number): Promise<Load> {
  const c = launch('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-n', String(n), '-t', 'set,get', '-P', String(a.pipeline), '-c', String(a.clients), '-q']);
  c.proc.stdin?.end();
  if ((await c.exited) !== 0) throw new Error(`redis-benchmark failed: ${c.err}`);
  let seconds = 0;
  for (const t of ['SET', 'GET']) {
    const m = [...c.out.matchAll(new RegExp(`${t}: ([\\d.]+) requests per second`, 'g'))].pop();
    if (!m) throw new Error(`cannot read redis-benchmark's output: ${c.out}`);
    seconds += n / Number(m[1]);
  }
  return { ops: 2 * n, seconds, opsPerSec: (2 * n) / seconds };
}

interface Run {
  load: Load;
  cpuUs?: number;
  bpfUs?: number;
  self?: Record<string, number>;
}

async function runMode(a: Args, withAgent: boolean, port: number, n: number, sinkPort: number, configFile: string): Promise<Run> {
  let agent: AgentProc | undefined;
  try {
    if (withAgent) {
      agent = await startAgent(sinkPort, configFile);
      fs.writeFileSync(STATS_SYSCTL, '1');
    }
    await benchmark(a, port, Math.min(n, 50_000)); // warm-up: the agent's JIT, redis' allocations
    if (!agent) return { load: await benchmark(a, port, n) };
    await settle(agent.child.pid);
    const cpu0 = cpuUs(agent.child.pid);
    const bpf0 = bpfNs(agent.ids);
    const self0 = await scrape(agent.metricsUrl);
    const load = await benchmark(a, port, n);
    await settle(agent.child.pid);
    const self1 = await scrape(agent.metricsUrl);
    const self: Record<string, number> = {};
    for (const k of Object.keys(self1)) self[k] = (self1[k] ?? 0) - (self0[k] ?? 0);
    return { load, cpuUs: cpuUs(agent.child.pid) - cpu0, bpfUs: (bpfNs(agent.ids) - bpf0) / 1e3, self };
  } finally {
    if (agent) {
      fs.writeFileSync(STATS_SYSCTL, '0');
      await stop(agent.child);
    }
  }
}

function describe(mode: string, r: Run): string {
  let s = `  ${mode.padEnd(7)} ${count(r.load.opsPerSec)} ops/s (${count(r.load.ops)} in ${fmt(r.load.seconds, 2)} s)`;
  if (r.cpuUs !== undefined && r.bpfUs !== undefined && r.self) {
    const per = (x: number): string => fmt(x / r.load.ops, 2);
    s += `; agent ${per(r.cpuUs)} + BPF ${per(r.bpfUs)} = ${per(r.cpuUs + r.bpfUs)} us/op; spans exported ${count(r.self['kindling_spans_exported_total'] ?? 0)} (${fmt((r.self['kindling_spans_exported_total'] ?? 0) / r.load.ops, 2)} per op: 2.00 = both ends), dropped ${count(r.self['kindling_spans_dropped_total'] ?? 0)}, lost events ${count(r.self['kindling_source_lost_total'] ?? 0)}`;
  }
  return s;
}

export async function runRedisOverhead(a: Args): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (BPF, kernel.bpf_stats_enabled)');
  for (const tool of ['redis-server', 'redis-benchmark', 'bpftool']) if (findExecutable(tool) === null) throw new Error(`${tool} is not installed`);
  const protos = path.join(packageRoot(), 'build', 'otel-proto');
  if (!fs.existsSync(path.join(protos, 'opentelemetry'))) throw new Error(`${protos} is missing: run scripts/fetch-otel-proto.sh`);
  console.log(`redis-overhead: redis-benchmark -t set,get -P ${a.pipeline} -c ${a.clients}, about ${a.seconds} s per run, ${a.rounds} rounds; agent payload prefix ${a.payloadBytes} bytes; load average ${fmt(os.loadavg()[0] ?? NaN, 2)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-redis-bench-'));
  const configFile = path.join(dir, 'kindling.yaml');
  fs.writeFileSync(configFile, `capture:\n  payload_bytes: ${a.payloadBytes}\n`);
  const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
  const restore = (): void => fs.writeFileSync(STATS_SYSCTL, statsBefore);
  const releaseRestore = onInterrupt(restore);
  const port = await freePort();
  const redis = launch('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no']);
  const sink = launch(process.execPath, [path.join(packageRoot(), 'bench', 'programs', 'otlp-trace-sink.js'), protos]);
  try {
    const sinkPort = Number(await until(() => /\{"port":(\d+)\}/.exec(sink.out)?.[1], 10_000, 'the trace sink'));
    await sleep(300);
    const cal = await benchmark(a, port, 200_000);
    const n = Math.max(10_000, Math.round((cal.opsPerSec * a.seconds) / 2 / 1000) * 1000);
    console.log(`  calibration without the agent: ${count(cal.opsPerSec)} ops/s -> ${count(n)} SETs and ${count(n)} GETs per run`);
    const runs: { with: Run[]; without: Run[] } = { with: [], without: [] };
    for (let round = 1; round <= a.rounds; round++) {
      console.log(`\nround ${round}/${a.rounds}`);
      for (const withAgent of round % 2 ? [false, true] : [true, false]) {
        const r = await runMode(a, withAgent, port, n, sinkPort, configFile);
        (withAgent ? runs.with : runs.without).push(r);
        console.log(describe(withAgent ? 'with' : 'without', r));
      }
    }
    const thr = (rs: Run[]): number[] => rs.map((r) => r.load.opsPerSec);
    const per = (rs: Run[], f: (r: Run) => number): number[] => rs.map((r) => f(r) / r.load.ops);
    const med = (xs: number[], d = 1): string => `${fmt(median(xs), d)} [${fmt(min(xs), d)}..${fmt(max(xs), d)}]`;
    const ratio = median(thr(runs.with)) / median(thr(runs.without));
    const total = per(runs.with, (r) => (r.cpuUs ?? NaN) + (r.bpfUs ?? NaN));
    console.log(`\nredis-overhead summary (medians over ${a.rounds} rounds, [min..max])`);
    console.log(
      table(
        ['measure', 'without agent', 'with agent', 'ratio', 'target', 'met'],
        [
          ['saturation throughput, ops/s', med(thr(runs.without), 0), med(thr(runs.with), 0), fmt(ratio, 3), `>= ${THROUGHPUT_TARGET}`, yesNo(ratio >= THROUGHPUT_TARGET)],
          ['agent CPU per operation: user space, us', '', med(per(runs.with, (r) => r.cpuUs ?? NaN), 2), '', '', ''],
          ['agent CPU per operation: BPF in kernel, us', '', med(per(runs.with, (r) => r.bpfUs ?? NaN), 2), '', '', ''],
          ['agent CPU per operation: total, us', '', med(total, 2), '', `<= ${CPU_TARGET_US}`, yesNo(median(total) <= CPU_TARGET_US)],
        ],
      ),
    );
  } finally {
    sink.proc.stdin?.end();
    await stop(sink);
    await stop(redis);
    restore();
    releaseRestore();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  if (argv[0] === '--agent-child') return agentChild(argv[1] ?? '');
  await runRedisOverhead(parse(argv));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`redis-overhead failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  });
}
