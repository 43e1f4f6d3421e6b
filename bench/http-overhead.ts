/**
 * http-overhead: what a running agent costs an HTTP server, measured side by
 * side in one run. nginx serves one static file over keep-alive connections,
 * without the agent and with it (`node bin/kindling.js run` in its own process,
 * exporting every span over OTLP/gRPC to a discarding receiver in another
 * process, metrics on its Prometheus endpoint only), alternated in rounds:
 *
 *  (a) saturation: `wrk -c 50 -t 2 -d 5s` — throughput with/without;
 *  (b) fixed rate: build/programs/http-rate at about half the saturation
 *      throughput measured without the agent — p50 and p99 latency with/without
 *      (latency from each request's scheduled time: no coordinated omission).
 *
 * In both, the agent's CPU per request: its process's utime+stime
 * (/proc/PID/stat) plus the in-kernel time of its BPF programs (run_time_ns
 * with kernel.bpf_stats_enabled=1, which this benchmark turns on for the
 * with-agent runs and restores), divided by the requests the load completed.
 *
 * Usage: node dist/bench/http-overhead.js [--rounds 3] [--seconds 5] [--connections 50]
 *          [--threads 2] [--rate R] [--rate-seconds 5] [--rate-connections 50]
 *          [--workers 1] [--file-bytes 1024] [--sendfile] [--profile DIR]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { artifacts, packageRoot } from '../receiver/src/util/paths';
import { bpfTime, keepBpfStats, launch, metricsDelta, processCpuUs, scrape, setBpfStats, settle, startAgent, startSink, STATS_SYSCTL } from './lib/agent-process';
import type { AgentProc, SelfMetrics, Sink } from './lib/agent-process';
import { startNginx } from './lib/nginx';
import type { Nginx } from './lib/nginx';
import { count, fmt, max, median, min, table, yesNo } from './lib/report';
import { describeForeign, findExecutable, foreignAttachments } from './lib/system';

const CPU_TARGET_US = 10;
const P99_TARGET = 1.1;
const THROUGHPUT_TARGET = 0.85;

export interface OverheadArgs {
  rounds: number;
  seconds: number;
  connections: number;
  threads: number;
  rate: number | undefined;
  rateSeconds: number;
  rateConnections: number;
  workers: number;
  fileBytes: number;
  sendfile: boolean;
  profile: string | undefined;
}

export function parseOverheadArgs(argv: string[]): OverheadArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '50' },
      threads: { type: 'string', default: '2' },
      rate: { type: 'string' },
      'rate-seconds': { type: 'string', default: '5' },
      'rate-connections': { type: 'string', default: '50' },
      workers: { type: 'string', default: '1' },
      'file-bytes': { type: 'string', default: '1024' },
      sendfile: { type: 'boolean', default: false },
      profile: { type: 'string' },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  return {
    rounds: int('rounds', values.rounds),
    seconds: int('seconds', values.seconds),
    connections: int('connections', values.connections),
    threads: int('threads', values.threads),
    rate: values.rate === undefined ? undefined : int('rate', values.rate),
    rateSeconds: int('rate-seconds', values['rate-seconds']),
    rateConnections: int('rate-connections', values['rate-connections']),
    workers: int('workers', values.workers),
    fileBytes: int('file-bytes', values['file-bytes']),
    sendfile: values.sendfile ?? false,
    profile: values.profile,
  };
}

/** Run to completion; rejects on a non-zero exit (unless okCodes allows it). */
async function runToEnd(file: string, args: string[], okCodes: number[] = [0]): Promise<string> {
  const c = launch(file, args);
  c.proc.stdin?.end();
  const code = await c.exited;
  if (code === null || !okCodes.includes(code)) throw new Error(`${path.basename(file)} ${args.join(' ')} failed (exit ${code}): ${c.stderr.trim()}`);
  return c.stdout;
}

// ---- what the agent costs ----

const SELF_METRICS = [
  'kindling_source_events_total',
  'kindling_source_lost_total',
  'kindling_requests_total',
  'kindling_exchanges_total',
  'kindling_spans_exported_total',
  'kindling_spans_dropped_total',
  'kindling_spans_export_failed_total',
  'kindling_pairing_expired_total',
  'kindling_parse_errors_total',
] as const;

interface AgentCost {
  userUs: number;
  bpfNs: number;
  bpfRuns: number;
  self: SelfMetrics;
}

async function measured<T>(agent: AgentProc | undefined, load: () => Promise<T>): Promise<{ result: T; cost: AgentCost | undefined }> {
  if (!agent) return { result: await load(), cost: undefined };
  const cpu0 = processCpuUs(agent.child.pid);
  const bpf0 = bpfTime(agent.progIds);
  const self0 = await scrape(agent.metricsUrl, SELF_METRICS);
  const result = await load();
  await settle(agent.child.pid);
  const cpu1 = processCpuUs(agent.child.pid);
  const bpf1 = bpfTime(agent.progIds);
  const self1 = await scrape(agent.metricsUrl, SELF_METRICS);
  return { result, cost: { userUs: cpu1 - cpu0, bpfNs: bpf1.runNs - bpf0.runNs, bpfRuns: bpf1.runs - bpf0.runs, self: metricsDelta(self0, self1) } };
}

// ---- the loads ----

interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  errors: string;
}

async function wrk(a: OverheadArgs, url: string, seconds: number): Promise<WrkResult> {
  const out = await runToEnd('wrk', ['-c', String(a.connections), '-t', String(a.threads), '-d', `${seconds}s`, url]);
  const m = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!m || !rps) throw new Error(`cannot read wrk's output:\n${out}`);
  const errors = [/Socket errors:.*/.exec(out)?.[0], /Non-2xx.*/.exec(out)?.[0]].filter(Boolean).join('; ');
  return { requests: Number(m[1]), seconds: Number(m[2]) / (m[3] === 'ms' ? 1000 : 1), rps: Number(rps[1]), errors };
}

interface RateResult {
  completed: number;
  recorded: number;
  errors: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

async function httpRate(a: OverheadArgs, nginx: Nginx, rate: number): Promise<RateResult> {
  const program = artifacts.program('http-rate');
  if (!fs.existsSync(program)) throw new Error(`${program} is not built: run npm run build`);
  const out = await runToEnd(program, [String(nginx.port), '/index.html', String(rate), String(a.rateSeconds), '--connections', String(a.rateConnections), '--warmup', '1'], [0, 3]);
  const j = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
  const n = (k: string): number => j[k] ?? NaN;
  return { completed: n('completed'), recorded: n('recorded'), errors: n('errors') + n('non_2xx'), achievedRate: n('achieved_rate'), p50: n('p50_us'), p90: n('p90_us'), p99: n('p99_us'), p999: n('p999_us'), max: n('max_us') };
}

// ---- rounds ----

type Mode = 'without' | 'with';

interface ModeRun {
  sat: WrkResult;
  satCost: AgentCost | undefined;
  fixed: RateResult;
  fixedCost: AgentCost | undefined;
}

function costText(c: AgentCost | undefined, requests: number): string {
  if (!c) return '';
  return `agent ${fmt(c.userUs / requests, 2)} + BPF ${fmt(c.bpfNs / 1e3 / requests, 2)} = ${fmt(perRequest(c, requests), 2)} us/req`;
}

function perRequest(c: AgentCost, requests: number): number {
  return (c.userUs + c.bpfNs / 1e3) / requests;
}

/** Requests the agent parsed per request made: 2.00 means it saw both ends (the client's and nginx's) of every one. */
function seen(c: AgentCost, requests: number): string {
  return fmt((c.self['kindling_requests_total'] ?? 0) / requests, 2);
}

async function runMode(mode: Mode, a: OverheadArgs, nginx: Nginx, sink: Sink, rate: number): Promise<ModeRun> {
  let agent: AgentProc | undefined;
  try {
    if (mode === 'with') {
      agent = await startAgent({ sinkPort: sink.port, profileDir: a.profile });
      setBpfStats(true);
    }
    await wrk(a, nginx.url, 1); // warm-up: connections, caches, the agent's JIT
    const sat = await measured(agent, () => wrk(a, nginx.url, a.seconds));
    const fixed = await measured(agent, () => httpRate(a, nginx, rate));
    if (agent && fs.readFileSync(STATS_SYSCTL, 'utf8').trim() !== '1') console.log('  [!] kernel.bpf_stats_enabled was turned off by someone else during the run: BPF times are short');
    return { sat: sat.result, satCost: sat.cost, fixed: fixed.result, fixedCost: fixed.cost };
  } finally {
    if (agent) {
      setBpfStats(false);
      await agent.stop();
      const code = agent.child.proc.exitCode;
      if (code !== 0) console.log(`  [!] the agent exited with ${code ?? agent.child.proc.signalCode}:\n${agent.child.stderr.trim().split('\n').slice(-10).join('\n')}`);
    }
  }
}

function describeRun(mode: Mode, r: ModeRun): string[] {
  const lines = [
    `  ${mode.padEnd(7)} saturation ${count(r.sat.rps)} req/s (${count(r.sat.requests)} in ${fmt(r.sat.seconds, 2)} s${r.sat.errors ? `; ${r.sat.errors}` : ''})${r.satCost ? `; ${costText(r.satCost, r.sat.requests)}` : ''}`,
    `  ${' '.repeat(7)} fixed ${count(r.fixed.achievedRate)} req/s: p50 ${fmt(r.fixed.p50)} us, p99 ${fmt(r.fixed.p99)} us, p99.9 ${fmt(r.fixed.p999)} us, max ${fmt(r.fixed.max)} us${r.fixed.errors ? `, ${r.fixed.errors} errors` : ''}${r.fixedCost ? `; ${costText(r.fixedCost, r.fixed.completed)}` : ''}`,
  ];
  for (const [what, c, n] of [
    ['saturation', r.satCost, r.sat.requests],
    ['fixed', r.fixedCost, r.fixed.completed],
  ] as const) {
    if (!c) continue;
    const s = c.self;
    lines.push(
      `  ${' '.repeat(7)} agent (${what}): requests parsed per request made ${seen(c, n)} (2.00 = both ends), events ${count(s['kindling_source_events_total'] ?? 0)}, lost ${count(s['kindling_source_lost_total'] ?? 0)}, ` +
        `spans exported ${count(s['kindling_spans_exported_total'] ?? 0)}, dropped ${count(s['kindling_spans_dropped_total'] ?? 0)}, failed ${count(s['kindling_spans_export_failed_total'] ?? 0)}, ` +
        `BPF runs ${count(c.bpfRuns)} (${fmt(c.bpfNs / Math.max(c.bpfRuns, 1), 0)} ns each), user-space CPU per exchange parsed ${fmt(c.userUs / Math.max(s['kindling_exchanges_total'] ?? 0, 1), 2)} us`,
    );
  }
  return lines;
}

function summarize(a: OverheadArgs, rate: number, runs: Record<Mode, ModeRun[]>): void {
  const w = runs.with;
  const wo = runs.without;
  const med = (xs: number[]): string => `${fmt(median(xs), 1)} [${fmt(min(xs), 1)}..${fmt(max(xs), 1)}]`;
  const thr = (rs: ModeRun[]): number[] => rs.map((r) => r.sat.rps);
  const p = (rs: ModeRun[], k: 'p50' | 'p99'): number[] => rs.map((r) => r.fixed[k]);
  const satCost = w.map((r) => (r.satCost ? perRequest(r.satCost, r.sat.requests) : NaN));
  const satUser = w.map((r) => (r.satCost ? r.satCost.userUs / r.sat.requests : NaN));
  const satBpf = w.map((r) => (r.satCost ? r.satCost.bpfNs / 1e3 / r.sat.requests : NaN));
  const fixCost = w.map((r) => (r.fixedCost ? perRequest(r.fixedCost, r.fixed.completed) : NaN));
  const fixUser = w.map((r) => (r.fixedCost ? r.fixedCost.userUs / r.fixed.completed : NaN));
  const fixBpf = w.map((r) => (r.fixedCost ? r.fixedCost.bpfNs / 1e3 / r.fixed.completed : NaN));
  const thrRatio = median(thr(w)) / median(thr(wo));
  const p50Ratio = median(p(w, 'p50')) / median(p(wo, 'p50'));
  const p99Ratio = median(p(w, 'p99')) / median(p(wo, 'p99'));
  // per-round ratios: less sensitive to drift between rounds
  const perRound = (f: (r: ModeRun) => number): number => median(w.map((r, i) => f(r) / f(wo[i] as ModeRun)));
  console.log(`\nhttp-overhead summary (medians over ${a.rounds} rounds, [min..max]; fixed rate ${count(rate)} req/s)`);
  console.log(
    table(
      ['measure', 'without agent', 'with agent', 'ratio', 'ratio (per-round)', 'target', 'met'],
      [
        ['(a) saturation throughput, req/s', med(thr(wo)), med(thr(w)), fmt(thrRatio, 3), fmt(perRound((r) => r.sat.rps), 3), `>= ${THROUGHPUT_TARGET}`, yesNo(thrRatio >= THROUGHPUT_TARGET)],
        ['(a) agent CPU per request: user space, us', '', med(satUser), '', '', '', ''],
        ['(a) agent CPU per request: BPF in kernel, us', '', med(satBpf), '', '', '', ''],
        ['(a) agent CPU per request: total, us', '', med(satCost), '', '', `<= ${CPU_TARGET_US}`, yesNo(median(satCost) <= CPU_TARGET_US)],
        ['(b) fixed rate p50 latency, us', med(p(wo, 'p50')), med(p(w, 'p50')), fmt(p50Ratio, 3), fmt(perRound((r) => r.fixed.p50), 3), '-', ''],
        ['(b) fixed rate p99 latency, us', med(p(wo, 'p99')), med(p(w, 'p99')), fmt(p99Ratio, 3), fmt(perRound((r) => r.fixed.p99), 3), `<= ${P99_TARGET}`, yesNo(p99Ratio <= P99_TARGET)],
        ['(b) agent CPU per request: user space, us', '', med(fixUser), '', '', '', ''],
        ['(b) agent CPU per request: BPF in kernel, us', '', med(fixBpf), '', '', '', ''],
        ['(b) agent CPU per request: total, us', '', med(fixCost), '', '', `<= ${CPU_TARGET_US}`, yesNo(median(fixCost) <= CPU_TARGET_US)],
      ],
    ),
  );
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('needs root (BPF, kernel.bpf_stats_enabled)');
  for (const tool of ['nginx', 'wrk', 'bpftool']) if (findExecutable(tool) === null) throw new Error(`${tool} is not installed (apt-get install -y ${tool})`);
  if (!fs.existsSync(path.join(packageRoot(), 'dist', 'receiver', 'src', 'cli', 'main.js'))) throw new Error('not built: npm run build');
  const foreign = foreignAttachments();
  if (foreign && foreign.length > 0) console.log(`  [!] other processes have BPF programs on the hooked tracepoints: ${describeForeign(foreign)}; every mode pays for them`);
  const [l1] = os.loadavg();
  console.log(`  load average ${fmt(l1 ?? NaN, 2)} on ${os.cpus().length} CPUs before the start${(l1 ?? 0) > 0.5 ? ' [!] the machine is not idle: expect noise' : ''}`);
}

export async function runHttpOverhead(a: OverheadArgs): Promise<void> {
  const started = Date.now();
  console.log(
    `http-overhead: nginx (${a.workers} worker${a.workers > 1 ? 's' : ''}, ${a.fileBytes}-byte file, sendfile ${a.sendfile ? 'on' : 'off'}), ` +
      `${a.rounds} rounds; (a) wrk -c ${a.connections} -t ${a.threads} -d ${a.seconds}s; (b) http-rate ${a.rateConnections} connections for ${a.rateSeconds} s + 1 s warm-up`,
  );
  preflight();
  const stats = keepBpfStats();
  const nginx = await startNginx({ workers: a.workers, fileBytes: a.fileBytes, sendfile: a.sendfile });
  let sink: Sink | undefined;
  try {
    sink = await startSink();
    let rate = a.rate;
    if (rate === undefined) {
      await wrk(a, nginx.url, 1);
      const cal = await wrk(a, nginx.url, 3);
      rate = Math.max(100, Math.round(cal.rps / 2 / 100) * 100);
      console.log(`  calibration without the agent: ${count(cal.rps)} req/s at saturation -> fixed rate ${count(rate)} req/s`);
    }
    const runs: Record<Mode, ModeRun[]> = { without: [], with: [] };
    for (let round = 1; round <= a.rounds; round++) {
      const order: Mode[] = round % 2 === 1 ? ['without', 'with'] : ['with', 'without'];
      console.log(`\nround ${round}/${a.rounds}`);
      for (const mode of order) {
        const r = await runMode(mode, a, nginx, sink, rate);
        runs[mode].push(r);
        for (const line of describeRun(mode, r)) console.log(line);
      }
    }
    summarize(a, rate, runs);
    const s = await sink.stats();
    console.log(`\n  trace sink received ${count(s.requests)} export calls, ${fmt(s.bytes / 1048576, 1)} MiB of OTLP protobuf in all`);
    if (a.profile) console.log(`  agent CPU profiles (PID.cpuprofile, one per with-agent run, from start-up to exit) in ${a.profile}`);
  } finally {
    await sink?.close();
    await nginx.close();
    stats.close();
  }
  console.log(`\nhttp-overhead took ${fmt((Date.now() - started) / 1000)} s`);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  await runHttpOverhead(parseOverheadArgs(argv));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`http-overhead failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
