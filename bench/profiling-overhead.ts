/**
 * profiling-overhead: what trace profiling (tier 1) adds to every context
 * switch, in the kernel.
 *
 * The load is build/programs/pingpong: two threads handing a byte back and
 * forth over two pipes, pinned to one CPU and run at SCHED_FIFO, so every
 * hand-off is exactly one wake-up and one context switch (the program checks:
 * its threads' voluntary switch counts). One run alternates four modes, in
 * rounds whose order rotates so slow drift spreads over all of them:
 *   none       no programs attached
 *   capture    build/bpf/kindling.bpf.o through EbpfSource with profiling off:
 *              the socket-syscall hooks only (the pipe read/write calls of the
 *              loop pay their rejection, as in every mode below)
 *   untracked  the same object with profiling on: the sched programs run at
 *              every switch and wake-up, but the pingpong threads made no socket
 *              syscall, own no task storage, and are rejected at once
 *   tracked    profiling on, pingpong --track: both threads did a socket
 *              syscall first, so every switch closes a slice, classifies the
 *              block and adds to their counters
 *
 * Reported: median ns per hand-off per mode, then the ns each mode adds over
 * "none" and over "capture". The profiling cost is the latter for untracked
 * and tracked (same object, same hooks, profiling on instead of off), checked
 * against the targets: <= 300 ns with nothing tracked, <= 600 ns on tracked
 * threads. Per-round differences (modes of one round ran back to back) are
 * shown beside the differences of the medians. Runs during which another
 * process (an agent, a test run) had programs on the same hooks are marked and
 * left out when enough clean ones remain. In tracked mode the agent's
 * records of the threads' socket writes before and after the loop carry their
 * counters: the voluntary switches they saw are checked against the loop's.
 *
 * Usage: node dist/bench/profiling-overhead.js [--rounds 9] [--iterations 100000]
 *          [--cpu N (default: the last CPU)] [--no-rt (SCHED_OTHER: wake-ups may
 *          preempt, other load on the CPU adds its own switches)]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { execFileSync, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Kind } from '../receiver/src/events/abi';
import type { SockEvent } from '../receiver/src/events/types';
import type { SourceBatch } from '../receiver/src/source/event-source';
import { artifacts } from '../receiver/src/util/paths';
import { attachFailures, CountingCapture, sleep } from './lib/capture';
import { onInterrupt } from './lib/cleanup';
import { findTaskset } from './lib/loop';
import { count, fmt, max, median, min, table, yesNo } from './lib/report';
import { findExecutable, foreignAttachments } from './lib/system';

const MODES = ['none', 'capture', 'untracked', 'tracked'] as const;
type Mode = (typeof MODES)[number];

/** ns per context switch that profiling may add: the design's budget */
const TARGET: Partial<Record<Mode, number>> = { untracked: 300, tracked: 600 };
/** pingpong's untimed round trips before the loop (see pingpong.c) */
const WARMUP = 2000;

export interface ProfilingOverheadArgs {
  rounds: number;
  iterations: number;
  cpu?: number;
  realtime: boolean;
}

interface PingPong {
  pid: number;
  tids: [number, number];
  tracked: boolean;
  iterations: number;
  elapsed_ns: number;
  ns_per_switch: number;
  voluntary_switches: [number, number];
  involuntary_switches: [number, number];
}

/** What the agent's records said about the tracked threads: voluntary switches between each thread's first and last socket write. */
interface TrackedCheck {
  seen: number[];
}

interface ModeRun {
  pp: PingPong;
  check?: TrackedCheck;
  /** other processes' programs on the hooks we time, seen before or after the run */
  foreign?: string;
}

export function parseProfilingOverheadArgs(argv: string[]): ProfilingOverheadArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '9' },
      iterations: { type: 'string', default: '100000' },
      cpu: { type: 'string' },
      'no-rt': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const positive = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  const a: ProfilingOverheadArgs = { rounds: positive('rounds', values.rounds), iterations: positive('iterations', values.iterations), realtime: !values['no-rt'] };
  if (values.cpu !== undefined) {
    const cpu = Number(values.cpu);
    if (!Number.isInteger(cpu) || cpu < 0) throw new Error(`--cpu must be a CPU number, got ${values.cpu}`);
    a.cpu = cpu;
  } else if (os.availableParallelism() > 1) {
    // the loop on the last CPU, the agent's reader and the rest elsewhere
    a.cpu = os.availableParallelism() - 1;
  }
  return a;
}

function pingpongProgram(): string {
  const file = artifacts.program('pingpong');
  if (!fs.existsSync(file)) throw new Error(`${file} is not built; run: npm run build`);
  return file;
}

/** chrt and taskset exec the program: the pid is pingpong's */
function commandLine(a: ProfilingOverheadArgs, track: boolean): string[] {
  const argv = [pingpongProgram(), String(a.iterations), ...(track ? ['--track'] : [])];
  const taskset = a.cpu !== undefined ? findTaskset() : null;
  const pinned = taskset !== null && a.cpu !== undefined ? [taskset, '-c', String(a.cpu), ...argv] : argv;
  const chrt = a.realtime ? findExecutable('chrt') : null;
  return chrt !== null ? [chrt, '-f', '50', ...pinned] : pinned;
}

function runPingPong(a: ProfilingOverheadArgs, track: boolean): Promise<PingPong> {
  const [file = '', ...args] = commandLine(a, track);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const release = onInterrupt(() => child.kill('SIGKILL'));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', (e) => {
      clearTimeout(timer);
      release();
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      release();
      if (code !== 0) return reject(new Error(`pingpong failed (${signal ?? `exit ${code}`}): ${err.trim()}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as PingPong);
      } catch (e) {
        reject(new Error(`pingpong printed no result: ${String(e)}: ${out}`));
      }
    });
  });
}

/** Voluntary-switch counters of pingpong's socket writes, per tid, in arrival order (copied out of the batch). */
class MarkCollector {
  readonly byTid = new Map<number, number[]>();

  onBatch(b: SourceBatch): void {
    for (const ev of b.events) {
      if (ev.kind !== Kind.SockData) continue;
      const e = ev as SockEvent;
      if (e.comm !== 'pingpong') continue;
      const s = e.sched;
      if (!s) continue;
      let l = this.byTid.get(e.tid);
      if (!l) this.byTid.set(e.tid, (l = []));
      l.push(s.voluntary);
    }
  }

  /** waits (up to 3 s) for both marks of every tid, then the switches between them */
  async check(tids: readonly number[]): Promise<TrackedCheck> {
    const deadline = Date.now() + 3000;
    while (tids.some((t) => (this.byTid.get(t)?.length ?? 0) < 2) && Date.now() < deadline) await sleep(20);
    return {
      seen: tids.map((t) => {
        const l = this.byTid.get(t) ?? [];
        return l.length >= 2 ? (l[l.length - 1] as number) - (l[0] as number) : NaN;
      }),
    };
  }
}

let attachReported = false;

async function runMode(a: ProfilingOverheadArgs, mode: Mode): Promise<ModeRun> {
  if (mode === 'none') return { pp: await runPingPong(a, false) };
  const marks = new MarkCollector();
  const cap = await CountingCapture.start({ profiling: mode !== 'capture' }, (b) => marks.onBatch(b));
  try {
    const failed = attachFailures(cap.programs);
    if (!attachReported || failed.length) {
      console.log(`  ${mode}: ${cap.programs.length - failed.length}/${cap.programs.length} programs attached`);
      for (const f of failed) console.log(`    not attached: ${f}`);
    }
    const pp = await runPingPong(a, mode === 'tracked');
    if (mode !== 'tracked') return { pp };
    return { pp, check: await marks.check(pp.tids) };
  } finally {
    await cap.stop();
  }
}

/** Round r runs the modes rotated by r. */
function roundOrder(r: number): Mode[] {
  return MODES.map((_, i) => MODES[(i + r) % MODES.length] as Mode);
}

/** Our own BPF link ids (from /proc/self/fdinfo): to tell other processes' sched programs apart. */
function ownLinks(): Set<number> {
  const out = new Set<number>();
  for (const fd of fs.readdirSync('/proc/self/fdinfo')) {
    try {
      const m = /^link_id:\s*(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m?.[1]) out.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * Other processes' programs on the hooks this load goes through, as text;
 * undefined when none (or no bpftool). Another agent's sched programs, or its
 * syscall hooks (which reject the pipe calls too), make every mode pay for
 * them, "none" included: such runs are left out of the summary.
 */
function foreignPrograms(): string | undefined {
  const bpftool = findExecutable('bpftool');
  if (bpftool === null) return undefined;
  const found: string[] = [];
  try {
    const links = JSON.parse(execFileSync(bpftool, ['-j', 'link', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { id: number; tp_name?: string }[];
    const own = ownLinks();
    const hooks = new Set(['sched_switch', 'sched_wakeup', 'sched_wakeup_new', 'sched_waking']);
    const sched = links.filter((l) => l.tp_name !== undefined && hooks.has(l.tp_name) && !own.has(l.id));
    if (sched.length) found.push(`${sched.length} on sched tracepoints`);
  } catch {
    // no verdict from bpftool: the syscall check below may still say something
  }
  const syscalls = foreignAttachments()?.filter((f) => f.tracepoint === 'sys_enter_read' || f.tracepoint === 'sys_enter_write');
  if (syscalls?.length) found.push(`pids ${[...new Set(syscalls.map((f) => f.pid))].join(',')} on read/write`);
  return found.length ? found.join('; ') : undefined;
}

/** the runs of a mode that nobody else disturbed, or all of them when fewer than 3 are clean */
function clean(runs: readonly ModeRun[]): readonly ModeRun[] {
  const c = runs.filter((r) => !r.foreign);
  return c.length >= 3 ? c : runs;
}

function nsOf(rounds: Record<Mode, ModeRun[]>, m: Mode): number[] {
  return clean(rounds[m]).map((r) => r.pp.ns_per_switch);
}

/** per-round difference a - b, median, over rounds where both runs were clean (all rounds when fewer than 3 were) */
function pairedDelta(rounds: Record<Mode, ModeRun[]>, a: Mode, b: Mode): number {
  const pairs = rounds[a].map((r, i) => [r, rounds[b][i]] as const).filter((p): p is readonly [ModeRun, ModeRun] => p[1] !== undefined);
  const both = pairs.filter(([x, y]) => !x.foreign && !y.foreign);
  return median((both.length >= 3 ? both : pairs).map(([x, y]) => x.pp.ns_per_switch - y.pp.ns_per_switch));
}

function printSummary(rounds: Record<Mode, ModeRun[]>): void {
  console.log('\nns per hand-off (one wake-up + one context switch): median of the runs nobody else disturbed (min..max in brackets)');
  console.log(table(['mode', 'ns', 'runs'], MODES.map((m) => [m, `${fmt(median(nsOf(rounds, m)))} [${fmt(min(nsOf(rounds, m)))}..${fmt(max(nsOf(rounds, m)))}]`, `${nsOf(rounds, m).length}/${rounds[m].length}`])));

  console.log('\nns added per hand-off: from the medians, and the median of per-round differences');
  const med = (m: Mode): number => median(nsOf(rounds, m));
  const rows = (['capture', 'untracked', 'tracked'] as const).map((m) => {
    const target = TARGET[m];
    const profiling = m === 'capture' ? NaN : pairedDelta(rounds, m, 'capture');
    return [
      m,
      fmt(med(m) - med('none')),
      fmt(pairedDelta(rounds, m, 'none')),
      m === 'capture' ? '-' : fmt(med(m) - med('capture')),
      m === 'capture' ? '-' : fmt(profiling),
      target === undefined ? '-' : `<= ${target}`,
      target === undefined ? '-' : yesNo(profiling <= target),
    ];
  });
  console.log(table(['mode', 'vs none', 'vs none (per round)', 'profiling: vs capture', 'vs capture (per round)', 'target', 'met'], rows));
  console.log('  (the profiling cost is the "vs capture (per round)" column: same object and hooks, profiling on instead of off)');
}

function printChecks(a: ProfilingOverheadArgs, rounds: Record<Mode, ModeRun[]>): void {
  console.log('\nswitch check: voluntary/involuntary switches of the two threads over the timed loop (expected: iterations each, 0 involuntary at SCHED_FIFO)');
  const rows = MODES.flatMap((m) =>
    rounds[m].map((r, i) => [`${m} ${i + 1}`, r.pp.voluntary_switches.map(count).join(' / '), r.pp.involuntary_switches.map(count).join(' / '), r.check ? r.check.seen.map(count).join(' / ') : '-']),
  );
  console.log(table(['run', 'voluntary', 'involuntary', 'agent saw (voluntary, tracked)'], rows));
  // each thread blocks once per round trip, warm-up included; give or take the first and last
  const expected = a.iterations + WARMUP;
  const slack = Math.max(10, Math.round(expected / 1000));
  const checks = rounds.tracked.map((r) => r.check).filter((c): c is TrackedCheck => c !== undefined);
  const ok = checks.every((c) => c.seen.every((n) => Math.abs(n - expected) <= slack));
  console.log(`  tracked threads: the agent's counters ${ok ? 'saw' : 'did NOT see'} the loop's switches (expected ${count(expected)} +- ${slack} per thread, warm-up included)`);
}

export async function runProfilingOverhead(a: ProfilingOverheadArgs): Promise<void> {
  const started = Date.now();
  const pin = a.cpu === undefined ? 'unpinned' : findTaskset() ? `pinned to CPU ${a.cpu}` : `NOT pinned: taskset not found (asked for CPU ${a.cpu})`;
  const rt = a.realtime ? (findExecutable('chrt') ? 'SCHED_FIFO' : 'SCHED_OTHER (chrt not found)') : 'SCHED_OTHER';
  console.log(`profiling-overhead: ${a.rounds} rounds x modes ${MODES.join('/')}; pingpong ${count(a.iterations)} round trips (${count(2 * a.iterations)} hand-offs), ${pin}, ${rt}`);
  if (findExecutable('bpftool') === null) console.log('  (bpftool not found: cannot check for other programs on the same hooks)');
  const rounds: Record<Mode, ModeRun[]> = { none: [], capture: [], untracked: [], tracked: [] };
  for (let r = 0; r < a.rounds; r++) {
    const order = roundOrder(r);
    const runs: Partial<Record<Mode, ModeRun>> = {};
    for (const m of order) {
      // checked before and after: another agent or test run attaching in between skews the run
      const before = foreignPrograms();
      const run = await runMode(a, m);
      const foreign = before ?? foreignPrograms();
      if (foreign) run.foreign = foreign;
      runs[m] = run;
      rounds[m].push(run);
    }
    attachReported = true;
    const per = MODES.map((m) => `${m} ${fmt(runs[m]?.pp.ns_per_switch ?? NaN)}${runs[m]?.foreign ? '!' : ''}`).join('  ');
    const foreign = [...new Set(MODES.map((m) => runs[m]?.foreign).filter((x) => x !== undefined))];
    console.log(`  round ${r + 1}/${a.rounds} (${order.join(' > ')})  ns/hand-off: ${per}${foreign.length ? `  [!] other programs: ${foreign.join(' | ')}` : ''}`);
  }
  printSummary(rounds);
  printChecks(a, rounds);
  const disturbed = MODES.reduce((n, m) => n + rounds[m].filter((r) => r.foreign).length, 0);
  if (disturbed) {
    console.log(
      `\n[!] WARNING: ${disturbed} of ${a.rounds * MODES.length} runs (marked !) had other processes' programs on the hooks: they paid for them too, "none" included. ` +
        'They are left out of the summary when at least 3 clean runs of the mode (and 3 clean pairs) remain.',
    );
  }
  console.log(`\nprofiling-overhead took ${fmt((Date.now() - started) / 1000)} s`);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  await runProfilingOverhead(parseProfilingOverheadArgs(argv));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`profiling-overhead failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
