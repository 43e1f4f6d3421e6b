/**
 * What the overhead benchmarks share: child processes, the agent (`node
 * bin/kindling.js run`) exporting spans to a discarding OTLP sink, and what it
 * costs (CPU from /proc/PID/stat, its BPF programs' run_time_ns, self metrics).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../receiver/src/util/paths';
import { sleep } from './capture';
import { onInterrupt } from './cleanup';
import { findExecutable } from './system';

// ---- child processes ----

export interface Child {
  proc: ChildProcess;
  pid: number;
  stdout: string;
  /** the last 20,000 characters */
  stderr: string;
  /** the exit code; -1 when it could not start */
  exited: Promise<number | null>;
}

/** Spawn with output collected and a SIGKILL registered for interrupts. */
export function launch(file: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  const proc = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  const c: Child = { proc, pid: proc.pid ?? -1, stdout: '', stderr: '', exited: Promise.resolve(null) };
  const kill = (): void => void proc.kill('SIGKILL');
  const unregister = onInterrupt(kill);
  process.once('exit', kill);
  const release = (): void => {
    unregister();
    process.removeListener('exit', kill);
  };
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (c.stdout += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (c.stderr = (c.stderr + s).slice(-20_000)));
  c.exited = new Promise((resolve) => {
    proc.once('exit', (code) => {
      release();
      resolve(code);
    });
    proc.once('error', (e) => {
      release();
      c.stderr += `\n${e.message}`;
      resolve(-1);
    });
  });
  return c;
}

/** Signal, then SIGKILL after graceMs; resolves once it has exited. */
export async function stopChild(c: Child, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill(signal);
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(timer);
}

/** Poll probe every 20 ms until it returns a value (or throws). */
export async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(20);
  }
}

// ---- the discarding OTLP/gRPC trace receiver (bench/programs/otlp-trace-sink.js) ----

export interface Sink {
  port: number;
  stats(): Promise<{ requests: number; bytes: number }>;
  close(): Promise<void>;
}

/** The OTLP protos the sink needs; throws when they have not been fetched. */
export function sinkProtos(): string {
  const protos = path.join(packageRoot(), 'build', 'otel-proto');
  if (!fs.existsSync(path.join(protos, 'opentelemetry'))) throw new Error(`${protos} is missing: run scripts/fetch-otel-proto.sh`);
  return protos;
}

export async function startSink(): Promise<Sink> {
  const c = launch(process.execPath, [path.join(packageRoot(), 'bench', 'programs', 'otlp-trace-sink.js'), sinkProtos()]);
  const port = await waitFor(
    () => {
      const m = /\{"port":(\d+)\}/.exec(c.stdout);
      if (c.proc.exitCode !== null) throw new Error(`otlp-trace-sink exited: ${c.stderr}`);
      return m ? Number(m[1]) : undefined;
    },
    10_000,
    () => 'the trace sink to listen',
  );
  return {
    port,
    stats: async () => {
      const before = c.stdout.length;
      c.proc.stdin?.write('stats\n');
      return waitFor(
        () => {
          const m = /\{"requests":(\d+),"bytes":(\d+)\}\n/.exec(c.stdout.slice(before));
          return m ? { requests: Number(m[1]), bytes: Number(m[2]) } : undefined;
        },
        5_000,
        () => 'trace sink stats',
      );
    },
    close: async () => {
      c.proc.stdin?.end();
      await stopChild(c, 'SIGTERM', 3_000);
    },
  };
}

// ---- what a process costs ----

const CLK_TCK = 100; // USER_HZ: /proc/PID/stat reports utime/stime in these ticks on Linux

/** utime + stime of a process, all threads, in microseconds. */
export function processCpuUs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after the comm start at field 3 (state): utime is field 14, stime 15
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

/** The BPF program ids a process holds open (from its fds' fdinfo). */
export function bpfProgIds(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // fd closed meanwhile
    }
  }
  return ids;
}

export interface BpfTime {
  runNs: number;
  runs: number;
}

/** Summed run_time_ns and run_cnt of these programs (`bpftool prog show`; NaN without bpftool). */
export function bpfTime(ids: Set<number>): BpfTime {
  const bpftool = findExecutable('bpftool');
  if (bpftool === null) return { runNs: NaN, runs: NaN };
  const progs = JSON.parse(execFileSync(bpftool, ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { id: number; run_time_ns?: number; run_cnt?: number }[];
  let runNs = 0;
  let runs = 0;
  for (const p of progs) {
    if (!ids.has(p.id)) continue;
    runNs += p.run_time_ns ?? 0;
    runs += p.run_cnt ?? 0;
  }
  return { runNs, runs };
}

export const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** Turn kernel.bpf_stats_enabled (run_time_ns accounting) on or off. */
export function setBpfStats(on: boolean): void {
  fs.writeFileSync(STATS_SYSCTL, on ? '1' : '0');
}

/** Remember kernel.bpf_stats_enabled: restore() puts it back (also on interrupt), close() restores and unhooks. */
export function keepBpfStats(): { restore(): void; close(): void } {
  const before = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
  const restore = (): void => fs.writeFileSync(STATS_SYSCTL, before);
  const release = onInterrupt(restore);
  return {
    restore,
    close: () => {
      restore();
      release();
    },
  };
}

// ---- the agent ----

export interface AgentProc {
  child: Child;
  metricsUrl: string;
  progIds: Set<number>;
  /** SIGTERM and wait; returns its stderr */
  stop(): Promise<string>;
}

export interface AgentOptions {
  /** the OTLP trace sink's port on 127.0.0.1 */
  sinkPort: number;
  /** after `run`, e.g. ['--config', file] */
  args?: string[];
  /** profile the agent from start-up to exit into DIR/PID.cpuprofile (bench/programs/cpu-profile-preload.js) */
  profileDir?: string;
}

/** Start the agent; a failed start (e.g. attach failing while another process remounts tracefs) is retried twice. */
export async function startAgent(o: AgentOptions): Promise<AgentProc> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAgentOnce(o);
    } catch (e) {
      if (attempt >= 3) throw e;
      console.log(`  [!] the agent did not start (attempt ${attempt}): ${(e as Error).message.trim().split('\n').slice(-2).join(' ')}; retrying`);
      await sleep(2000);
    }
  }
}

async function startAgentOnce(o: AgentOptions): Promise<AgentProc> {
  const bin = path.join(packageRoot(), 'bin', 'kindling.js');
  // not --cpu-prof: its SIGPROF interrupts the BPF verifier (EAGAIN); the preload profiles from SIGUSR2 on
  const nodeArgs = o.profileDir ? ['-r', path.join(packageRoot(), 'bench', 'programs', 'cpu-profile-preload.js')] : [];
  const env = {
    ...process.env,
    ...(o.profileDir ? { KINDLING_CPU_PROFILE_DIR: o.profileDir } : {}),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${o.sinkPort}`,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: '0',
  };
  const child = launch(process.execPath, [...nodeArgs, bin, 'run', ...(o.args ?? [])], env);
  let metricsUrl: string;
  try {
    metricsUrl = await waitFor(
      () => {
        if (child.proc.exitCode !== null) throw new Error(`the agent exited (${child.proc.exitCode}): ${child.stderr}`);
        return /prometheus (http:\/\/\S+\/metrics)/.exec(child.stderr)?.[1];
      },
      30_000,
      () => `the agent's start line (stderr so far: ${child.stderr})`,
    );
  } catch (e) {
    await stopChild(child, 'SIGKILL');
    throw e;
  }
  if (o.profileDir) child.proc.kill('SIGUSR2');
  return {
    child,
    metricsUrl,
    progIds: bpfProgIds(child.pid),
    stop: async () => {
      await stopChild(child);
      return child.stderr;
    },
  };
}

/** Wait until the agent's CPU stops moving (it has drained and exported what the load made). */
export async function settle(pid: number, minMs = 1200, maxMs = 5000): Promise<void> {
  const start = Date.now();
  let last = processCpuUs(pid);
  let quietSince = Date.now();
  for (;;) {
    await sleep(100);
    const now = processCpuUs(pid);
    // at most one tick (10 ms) per 100 ms is idle: timers, not work
    if (now - last > 1e4) quietSince = Date.now();
    last = now;
    if ((Date.now() - start >= minMs && Date.now() - quietSince >= 300) || Date.now() - start > maxMs) return;
  }
}

/** Self metrics by name. */
export type SelfMetrics = Record<string, number>;

/**
 * These of the agent's self metrics (job="kindling") from its Prometheus text,
 * summed over label sets; with protocol, per-protocol series count for that protocol only.
 */
export async function scrape(url: string, names: readonly string[], protocol?: string): Promise<SelfMetrics> {
  const text = await (await fetch(url)).text();
  const out: SelfMetrics = {};
  for (const name of names) out[name] = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    const labels = m?.[2] ?? '';
    if (!m || !m[1] || !(m[1] in out) || !labels.includes('job="kindling"')) continue;
    if (protocol !== undefined && labels.includes('protocol=') && !labels.includes(`protocol="${protocol}"`)) continue;
    out[m[1]] = (out[m[1]] ?? 0) + Number(m[3]);
  }
  return out;
}

/** after - before, name by name. */
export function metricsDelta(before: SelfMetrics, after: SelfMetrics): SelfMetrics {
  const d: SelfMetrics = {};
  for (const k of Object.keys(after)) d[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return d;
}
