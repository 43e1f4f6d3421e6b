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
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { bpfTime, keepBpfStats, launch, metricsDelta, processCpuUs, scrape, setBpfStats, settle, sinkProtos, startAgent, startSink, stopChild } from './lib/agent-process';
import type { AgentProc, Sink } from './lib/agent-process';
import { sleep } from './lib/capture';
import { count, fmt, max, median, min, table, yesNo } from './lib/report';
import { findExecutable } from './lib/system';

const CPU_TARGET_US = 10;
const THROUGHPUT_TARGET = 0.85;

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

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const SELF_METRICS = ['kindling_spans_exported_total', 'kindling_spans_dropped_total', 'kindling_source_lost_total'];

// ---- the load ----

interface Load {
  ops: number;
  seconds: number;
  opsPerSec: number;
}

async function benchmark(a: Args, port: number, n: number): Promise<Load> {
  const c = launch('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-n', String(n), '-t', 'set,get', '-P', String(a.pipeline), '-c', String(a.clients), '-q']);
  c.proc.stdin?.end();
  if ((await c.exited) !== 0) throw new Error(`redis-benchmark failed: ${c.stderr}`);
  let seconds = 0;
  for (const t of ['SET', 'GET']) {
    const m = [...c.stdout.matchAll(new RegExp(`${t}: ([\\d.]+) requests per second`, 'g'))].pop();
    if (!m) throw new Error(`cannot read redis-benchmark's output: ${c.stdout}`);
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
      agent = await startAgent({ sinkPort, args: ['--config', configFile] });
      setBpfStats(true);
    }
    await benchmark(a, port, Math.min(n, 50_000)); // warm-up: the agent's JIT, redis' allocations
    if (!agent) return { load: await benchmark(a, port, n) };
    await settle(agent.child.pid, 1200, 8000);
    const cpu0 = processCpuUs(agent.child.pid);
    const bpf0 = bpfTime(agent.progIds).runNs;
    const self0 = await scrape(agent.metricsUrl, SELF_METRICS);
    const load = await benchmark(a, port, n);
    await settle(agent.child.pid, 1200, 8000);
    const self = metricsDelta(self0, await scrape(agent.metricsUrl, SELF_METRICS));
    return { load, cpuUs: processCpuUs(agent.child.pid) - cpu0, bpfUs: (bpfTime(agent.progIds).runNs - bpf0) / 1e3, self };
  } finally {
    if (agent) {
      setBpfStats(false);
      await agent.stop();
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
  sinkProtos();
  console.log(`redis-overhead: redis-benchmark -t set,get -P ${a.pipeline} -c ${a.clients}, about ${a.seconds} s per run, ${a.rounds} rounds; agent payload prefix ${a.payloadBytes} bytes; load average ${fmt(os.loadavg()[0] ?? NaN, 2)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-redis-bench-'));
  const configFile = path.join(dir, 'kindling.yaml');
  fs.writeFileSync(configFile, `capture:\n  payload_bytes: ${a.payloadBytes}\n`);
  const stats = keepBpfStats();
  const port = await freePort();
  const redis = launch('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no']);
  let sink: Sink | undefined;
  try {
    sink = await startSink();
    const sinkPort = sink.port;
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
    await sink?.close();
    await stopChild(redis);
    stats.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  await runRedisOverhead(parse(argv));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`redis-overhead failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  });
}
