/**
 * pgbench-overhead: what a running agent costs a PostgreSQL workload, side by side
 * in one run. pgbench (default TPC-B-like script: 7 statements a transaction) runs
 * at a fixed rate (-R, about half the saturation rate measured without the agent)
 * against a throwaway PostgreSQL 15, without the agent and with it (`node
 * bin/kindling.js run`, its own process, every span exported over OTLP/gRPC to the
 * discarding bench/programs/otlp-trace-sink.js), alternated in rounds, in each
 * protocol mode (-M simple: a Query per statement; -M prepared: Bind/Execute/Sync).
 *
 * Per mode: latency average, p50, p99 (pgbench's per-transaction log, from each
 * transaction's scheduled start) with/without and their ratio; the agent's CPU per
 * operation (a statement pgbench ran, seen at both ends: pgbench's and the postgres
 * backend's): utime+stime (/proc/PID/stat) plus its BPF programs' run_time_ns
 * (kernel.bpf_stats_enabled=1 during with-agent runs, then restored), divided by
 * the statements run; and the events it took in per statement (about 4 when only
 * this load runs: more means other traffic on the machine, which it also pays for).
 * Targets: <= 10 us per operation; latency ratio <= 1.10.
 *
 * Usage (root, after npm run build and scripts/fetch-otel-proto.sh):
 *   node dist/bench/pgbench-overhead.js [--rounds 3] [--seconds 5] [--clients 2] [--threads 1]
 *        [--mode both|simple|prepared] [--rate TPS] [--scale 1] [--profile DIR]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres } from '../receiver/test/programs/postgres-cluster';
import type { PgCluster } from '../receiver/test/programs/postgres-cluster';
import { pgbench } from '../receiver/test/programs/postgres-pgbench';
import type { Pgbench, PgbenchMode } from '../receiver/test/programs/postgres-pgbench';
import { bpfTime, keepBpfStats, launch, metricsDelta, processCpuUs, scrape, setBpfStats, settle, startAgent, startSink } from './lib/agent-process';
import type { AgentProc, SelfMetrics, Sink } from './lib/agent-process';
import { count, fmt, max, median, min, table, yesNo } from './lib/report';
import { describeForeign, findExecutable, foreignAttachments } from './lib/system';

const CPU_TARGET_US = 10;
const LATENCY_TARGET = 1.1;
const STATEMENTS = 7;

type Mode = PgbenchMode;

interface Args {
  rounds: number;
  seconds: number;
  clients: number;
  threads: number;
  modes: Mode[];
  rate: number | undefined;
  scale: number;
  /** V8 CPU profiles of each with-agent run go here (DIR/PID.cpuprofile) */
  profileDir: string | undefined;
}

function parse(argv: string[]): Args {
  const o = { type: 'string' } as const;
  const { values: v } = parseArgs({ args: argv, options: { rounds: o, seconds: o, clients: o, threads: o, mode: o, rate: o, scale: o, profile: o }, strict: true });
  const int = (name: keyof typeof v, dflt: number): number => {
    const n = v[name] === undefined ? dflt : Number(v[name]);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v[name]}`);
    return n;
  };
  const mode = v.mode ?? 'both';
  if (!['both', 'simple', 'prepared'].includes(mode)) throw new Error(`--mode must be both, simple or prepared, got ${mode}`);
  return {
    rounds: int('rounds', 3),
    seconds: int('seconds', 5),
    clients: int('clients', 2),
    threads: int('threads', 1),
    modes: mode === 'both' ? ['simple', 'prepared'] : [mode as Mode],
    rate: v.rate === undefined ? undefined : int('rate', 0),
    scale: int('scale', 1),
    profileDir: v.profile,
  };
}

/** Self metrics read; the per-protocol ones for PostgreSQL only. */
const SELF_METRICS = ['kindling_requests_total', 'kindling_source_events_total', 'kindling_source_lost_total', 'kindling_spans_exported_total', 'kindling_parse_errors_total'];
const selfMetrics = (url: string): Promise<SelfMetrics> => scrape(url, SELF_METRICS, 'postgresql');

// ---- rounds ----

interface Run {
  bench: Pgbench;
  userUs?: number;
  bpfUs?: number;
  self?: Record<string, number>;
}

async function runOnce(a: Args, pg: PgCluster, mode: Mode, rate: number, agent: AgentProc | undefined, logDir: string): Promise<Run> {
  const load = (seconds: number, r?: number): Promise<Pgbench> => pgbench({ port: pg.port, mode, clients: a.clients, threads: a.threads, seconds, rate: r, logDir });
  await load(1); // warm-up: connections, caches, the agent's JIT
  if (!agent) return { bench: await load(a.seconds, rate) };
  const cpu0 = processCpuUs(agent.child.pid);
  const bpf0 = bpfTime(agent.progIds).runNs;
  const self0 = await selfMetrics(agent.metricsUrl);
  const bench = await load(a.seconds, rate);
  await settle(agent.child.pid);
  const self = metricsDelta(self0, await selfMetrics(agent.metricsUrl));
  return { bench, userUs: processCpuUs(agent.child.pid) - cpu0, bpfUs: (bpfTime(agent.progIds).runNs - bpf0) / 1e3, self };
}

/** Statements pgbench ran: 7 per transaction, plus its 2 set-up queries. */
const ops = (b: Pgbench): number => b.transactions * STATEMENTS + 2;

function line(mode: Mode, with_: boolean, r: Run): string {
  const b = r.bench;
  let s = `  ${mode.padEnd(8)} ${with_ ? 'with   ' : 'without'} ${count(b.tps)} tps, ${count(b.transactions)} tx${b.failed !== '0' ? ` (${b.failed} failed)` : ''}: avg ${fmt(b.avgMs, 3)} ms, p50 ${fmt(b.p50Ms, 3)} ms, p99 ${fmt(b.p99Ms, 3)} ms`;
  if (r.userUs !== undefined && r.bpfUs !== undefined && r.self) {
    const n = ops(b);
    s += `; agent ${fmt(r.userUs / n, 2)} + BPF ${fmt(r.bpfUs / n, 2)} = ${fmt((r.userUs + r.bpfUs) / n, 2)} us/op`;
    const x = (k: string): number => r.self?.[`kindling_${k}_total`] ?? 0;
    s += `; per op: ${fmt(x('requests') / n, 2)} parsed (2 = both ends), ${fmt(x('source_events') / n, 1)} events; spans ${count(x('spans_exported'))}, lost ${count(x('source_lost'))}, parse errors ${count(x('parse_errors'))}`;
  }
  return s;
}

function summarize(a: Args, rate: number, runs: Map<string, Run[]>): void {
  const rows: string[][] = [];
  const med = (xs: number[]): string => `${fmt(median(xs), 3)} [${fmt(min(xs), 3)}..${fmt(max(xs), 3)}]`;
  for (const mode of a.modes) {
    const w = runs.get(`${mode} with`) ?? [];
    const wo = runs.get(`${mode} without`) ?? [];
    for (const k of ['avgMs', 'p50Ms', 'p99Ms'] as const) {
      const [x, y] = [wo, w].map((rs) => rs.map((r) => r.bench[k])) as [number[], number[]];
      const ratio = median(y) / median(x);
      const scored = k !== 'p50Ms';
      rows.push([`${mode}: latency ${k.slice(0, 3)}, ms`, med(x), med(y), fmt(ratio, 3), scored ? `<= ${LATENCY_TARGET}` : '-', scored ? yesNo(ratio <= LATENCY_TARGET) : '']);
    }
    const per = (f: (r: Run) => number): number[] => w.map((r) => f(r) / ops(r.bench));
    const total = per((r) => (r.userUs ?? NaN) + (r.bpfUs ?? NaN));
    rows.push([`${mode}: agent CPU per op, user space, us`, '', med(per((r) => r.userUs ?? NaN)), '', '', '']);
    rows.push([`${mode}: agent CPU per op, BPF in kernel, us`, '', med(per((r) => r.bpfUs ?? NaN)), '', '', '']);
    rows.push([`${mode}: agent CPU per op, total, us`, '', med(total), '', `<= ${CPU_TARGET_US}`, yesNo(median(total) <= CPU_TARGET_US)]);
  }
  console.log(`\npgbench-overhead summary (medians over ${a.rounds} rounds, [min..max]; -R ${rate} tps, -c ${a.clients} -j ${a.threads}, ${STATEMENTS} statements per transaction)`);
  console.log(table(['measure', 'without agent', 'with agent', 'ratio', 'target', 'met'], rows));
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const a = parse(argv);
  const t0 = Date.now();
  if (process.getuid?.() !== 0) throw new Error('needs root (BPF, kernel.bpf_stats_enabled)');
  for (const tool of ['pgbench', 'bpftool']) if (findExecutable(tool) === null) throw new Error(`${tool} is not installed`);
  const foreign = foreignAttachments();
  if (foreign?.length) console.log(`  [!] other processes have BPF programs on the hooked tracepoints: ${describeForeign(foreign)}; every mode pays for them`);
  const [l1] = os.loadavg();
  console.log(`pgbench-overhead: ${a.rounds} rounds x ${a.modes.join(', ')}, ${a.seconds} s each; load average ${fmt(l1 ?? NaN, 2)} on ${os.cpus().length} CPUs${(l1 ?? 0) > 0.5 ? ' [!] not idle: expect noise' : ''}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-pgbench-'));
  const stats = keepBpfStats();
  const pg = await startPostgres();
  let sink: Sink | undefined;
  try {
    const init = launch('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-i', '-q', '-s', String(a.scale), 'postgres']);
    if ((await init.exited) !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    sink = await startSink();
    const logs = path.join(tmp, 'log');
    let rate = a.rate;
    if (rate === undefined) {
      const cal = await pgbench({ port: pg.port, mode: a.modes[0] as Mode, clients: a.clients, threads: a.threads, seconds: 5, logDir: logs });
      rate = Math.max(50, Math.round(cal.tps / 2 / 10) * 10);
      console.log(`  calibration without the agent (${a.modes[0]}): ${count(cal.tps)} tps at saturation -> -R ${rate}`);
    }
    const runs = new Map<string, Run[]>();
    for (let round = 1; round <= a.rounds; round++) {
      console.log(`\nround ${round}/${a.rounds}`);
      for (const withAgent of round % 2 === 1 ? [false, true] : [true, false]) {
        const agent = withAgent ? await startAgent({ sinkPort: sink.port, ...(a.profileDir ? { profileDir: a.profileDir } : {}) }) : undefined;
        if (agent) setBpfStats(true);
        try {
          for (const mode of a.modes) {
            const r = await runOnce(a, pg, mode, rate, agent, logs);
            const k = `${mode} ${withAgent ? 'with' : 'without'}`;
            runs.set(k, [...(runs.get(k) ?? []), r]);
            console.log(line(mode, withAgent, r));
          }
        } finally {
          if (agent) {
            stats.restore();
            await agent.stop();
          }
        }
      }
    }
    summarize(a, rate, runs);
  } finally {
    await sink?.close();
    await pg.close();
    stats.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`\npgbench-overhead took ${fmt((Date.now() - t0) / 1000)} s`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`pgbench-overhead failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  });
}
