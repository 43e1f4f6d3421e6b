/**
 * kernel-cost: what the capture programs add to every hooked syscall, in the kernel.
 *
 * One run alternates three modes, in rounds whose order rotates so slow drift
 * (thermal, other load) spreads over all of them:
 *   none   no programs attached
 *   empty  build/bpf/empty.bpf.o: programs that return 0 on the very same hooks
 *          (the price of having any program there: tracepoint dispatch, BPF entry)
 *   real   build/bpf/kindling.bpf.o through EbpfSource, with a consumer
 * Each mode times syscall-loop on a loopback TCP socket (every syscall is
 * captured: the full path) and on a pipe (every syscall is rejected as not a
 * socket: the filter path). The loop times itself, so process start-up and
 * attach time are not in the numbers.
 *
 * Reported: median ns/syscall per mode, the ns added over "none" by the empty
 * and by the real programs, and their ratio (how much the real work costs
 * beyond the unavoidable dispatch), with the targets beside them.
 *
 * Usage: node dist/bench/kernel-cost.js [--rounds 9] [--socket-iterations 200000]
 *          [--pipe-iterations 1000000] [--cpu N (default: the last CPU)]
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { attachEmpty, attachFailures, CountingCapture, sleep } from './lib/capture';
import { findTaskset, runLoop } from './lib/loop';
import type { LoopMode, LoopResult } from './lib/loop';
import { count, fmt, lostText, max, median, min, table, totalLost, yesNo } from './lib/report';
import { describeForeign, foreignAttachments } from './lib/system';

const MODES = ['none', 'empty', 'real'] as const;
type Mode = (typeof MODES)[number];
const WORKLOADS: readonly LoopMode[] = ['socket', 'pipe'];

/** real_added / empty_added must stay at or below these */
const RATIO_TARGET: Record<LoopMode, number> = { socket: 3, pipe: 1.5 };

export interface KernelCostArgs {
  rounds: number;
  iterations: Record<LoopMode, number>;
  cpu?: number;
}

/** What the real mode's consumer saw in one round. */
interface CaptureCheck {
  /** data syscalls the socket loop made, warm-up included */
  expected: number;
  received: number;
  conn: number;
  /** data events attributed to the pipe loop (should be 0: pipes are not sockets) */
  pipeEvents: number;
  lost: Record<string, number>;
  recursionMisses: number;
}

interface ModeRun {
  loops: Record<LoopMode, LoopResult>;
  capture?: CaptureCheck;
}

type Rounds = Record<Mode, ModeRun[]>;

export function parseKernelCostArgs(argv: string[]): KernelCostArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '9' },
      'socket-iterations': { type: 'string', default: '200000' },
      'pipe-iterations': { type: 'string', default: '1000000' },
      cpu: { type: 'string' },
    },
    strict: true,
  });
  const positive = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  const args: KernelCostArgs = {
    rounds: positive('rounds', values.rounds),
    iterations: { socket: positive('socket-iterations', values['socket-iterations']), pipe: positive('pipe-iterations', values['pipe-iterations']) },
  };
  if (values.cpu !== undefined) {
    const cpu = Number(values.cpu);
    if (!Number.isInteger(cpu) || cpu < 0) throw new Error(`--cpu must be a CPU number, got ${values.cpu}`);
    args.cpu = cpu;
  } else if (os.availableParallelism() > 1) {
    // the loop on the last CPU, the agent's reader and the rest elsewhere: far less noise in "none"
    args.cpu = os.availableParallelism() - 1;
  }
  return args;
}

/** Round r runs the modes rotated by r, so each mode goes first, second and third equally often. */
function roundOrder(r: number): Mode[] {
  return MODES.map((_, i) => MODES[(i + r) % MODES.length] as Mode);
}

async function runWorkload(a: KernelCostArgs, mode: LoopMode): Promise<LoopResult> {
  return runLoop({ mode, iterations: a.iterations[mode], ...(a.cpu !== undefined ? { cpu: a.cpu } : {}) });
}

async function runBoth(a: KernelCostArgs): Promise<Record<LoopMode, LoopResult>> {
  const socket = await runWorkload(a, 'socket');
  const pipe = await runWorkload(a, 'pipe');
  return { socket, pipe };
}

let attachReported = false;

function reportAttach(label: string, programs: Parameters<typeof attachFailures>[0]): void {
  const failed = attachFailures(programs);
  // every round attaches the same object: say it once, unless something failed
  if (attachReported && failed.length === 0) return;
  console.log(`  ${label}: ${programs.length - failed.length}/${programs.length} programs attached`);
  for (const f of failed) console.log(`    not attached: ${f}`);
}

async function runEmpty(a: KernelCostArgs): Promise<ModeRun> {
  const probe = attachEmpty();
  try {
    reportAttach('empty', probe.programs);
    return { loops: await runBoth(a) };
  } finally {
    probe.close();
  }
}

async function runReal(a: KernelCostArgs): Promise<ModeRun> {
  const cap = await CountingCapture.start();
  try {
    reportAttach('real', cap.programs);
    const socket = await runWorkload(a, 'socket');
    const expected = socket.syscalls + socket.warmupSyscalls;
    const got = await cap.drain(socket.pid, expected);
    const pipe = await runWorkload(a, 'pipe');
    // a pipe loop should yield nothing; give a stray record one poll period or so to show up
    await sleep(50);
    const stats = cap.stats();
    return {
      loops: { socket, pipe },
      capture: {
        expected,
        received: got.data,
        conn: got.conn,
        pipeEvents: cap.counts(pipe.pid).data,
        lost: stats.lost,
        recursionMisses: cap.recursionMisses(),
      },
    };
  } finally {
    await cap.stop();
  }
}

function runMode(a: KernelCostArgs, mode: Mode): Promise<ModeRun> {
  if (mode === 'empty') return runEmpty(a);
  if (mode === 'real') return runReal(a);
  return runBoth(a).then((loops) => ({ loops }));
}

function roundLine(r: number, a: KernelCostArgs, order: Mode[], runs: Partial<Record<Mode, ModeRun>>, foreign: string | undefined): string {
  const per = (w: LoopMode): string => MODES.map((m) => `${m} ${fmt(runs[m]?.loops[w].nsPerSyscall ?? NaN)}`).join('  ');
  const warn = foreign ? `  [!] other programs on these hooks: ${foreign}` : '';
  return `  round ${r + 1}/${a.rounds} (${order.join(' > ')})  socket: ${per('socket')}  |  pipe: ${per('pipe')}${warn}`;
}

/** Other processes' programs on our hooks, as text; undefined when there are none (or no way to tell). */
function foreignNow(): string | undefined {
  const f = foreignAttachments();
  return f && f.length ? describeForeign(f) : undefined;
}

function nsOf(rounds: Rounds, mode: Mode, w: LoopMode): number[] {
  return rounds[mode].map((run) => run.loops[w].nsPerSyscall);
}

function printSummary(a: KernelCostArgs, rounds: Rounds): void {
  console.log(`\nns per syscall, median of ${a.rounds} rounds (min..max in brackets)`);
  console.log(
    table(
      ['workload', ...MODES],
      WORKLOADS.map((w) => [w, ...MODES.map((m) => `${fmt(median(nsOf(rounds, m, w)))} [${fmt(min(nsOf(rounds, m, w)))}..${fmt(max(nsOf(rounds, m, w)))}]`)]),
    ),
  );

  console.log('\nns added per syscall over "none" (from the medians) and ratio = real added / empty added');
  const rows = WORKLOADS.map((w) => {
    const none = median(nsOf(rounds, 'none', w));
    const emptyAdded = median(nsOf(rounds, 'empty', w)) - none;
    const realAdded = median(nsOf(rounds, 'real', w)) - none;
    // an empty-program cost at or below zero is noise: no meaningful ratio to report
    const ratio = emptyAdded > 0 ? realAdded / emptyAdded : NaN;
    const paired = pairedRatio(rounds, w);
    return [w, fmt(emptyAdded), fmt(realAdded), fmt(ratio, 2), fmt(paired, 2), `<= ${RATIO_TARGET[w]}`, Number.isFinite(ratio) ? yesNo(ratio <= RATIO_TARGET[w]) : 'n/a'];
  });
  console.log(table(['workload', 'empty added', 'real added', 'ratio', 'ratio (per-round median)', 'target', 'met'], rows));
}

/** The median of the per-round ratios: each round's three modes ran back to back, so it pairs out slow drift. */
function pairedRatio(rounds: Rounds, w: LoopMode): number {
  const ratios: number[] = [];
  for (let r = 0; r < rounds.none.length; r++) {
    const none = rounds.none[r]?.loops[w].nsPerSyscall ?? NaN;
    const empty = (rounds.empty[r]?.loops[w].nsPerSyscall ?? NaN) - none;
    const real = (rounds.real[r]?.loops[w].nsPerSyscall ?? NaN) - none;
    if (empty > 0) ratios.push(real / empty);
  }
  return median(ratios);
}

function printCaptureCheck(rounds: Rounds): void {
  const checks = rounds.real.map((r) => r.capture).filter((c): c is CaptureCheck => c !== undefined);
  console.log('\nreal mode capture check: data events from the socket loop process (expected = its write+read syscalls, warm-up included)');
  const rows = checks.map((c, i) => [
    String(i + 1),
    count(c.expected),
    count(c.received),
    count(c.expected - c.received),
    count(c.conn),
    count(c.pipeEvents),
    lostText(c.lost),
    count(c.recursionMisses),
  ]);
  console.log(table(['round', 'expected', 'received', 'missing', 'conn events', 'pipe-loop events', 'lost (kernel counters)', 'recursion misses'], rows));
  const expected = checks.reduce((s, c) => s + c.expected, 0);
  const received = checks.reduce((s, c) => s + c.received, 0);
  const lost = checks.reduce((s, c) => s + totalLost(c.lost), 0);
  console.log(`  total: ${count(received)} of ${count(expected)} expected events received (${fmt((100 * received) / expected, 3)}%), ${count(lost)} counted lost`);
}

export async function runKernelCost(a: KernelCostArgs): Promise<void> {
  const started = Date.now();
  const pin = a.cpu === undefined ? 'unpinned' : findTaskset() ? `pinned to CPU ${a.cpu} (taskset)` : `NOT pinned: taskset not found (asked for CPU ${a.cpu})`;
  console.log(`kernel-cost: ${a.rounds} rounds x modes ${MODES.join('/')}; socket ${count(a.iterations.socket)} iterations, pipe ${count(a.iterations.pipe)} iterations; loop ${pin}`);
  if (foreignAttachments() === undefined) console.log('  (bpftool not found: cannot check for other programs on the same hooks)');
  const rounds: Rounds = { none: [], empty: [], real: [] };
  let disturbed = 0;
  for (let r = 0; r < a.rounds; r++) {
    const order = roundOrder(r);
    const runs: Partial<Record<Mode, ModeRun>> = {};
    // checked before and after: another agent or test run attaching in between skews the round
    let foreign = foreignNow();
    for (const mode of order) {
      const run = await runMode(a, mode);
      runs[mode] = run;
      rounds[mode].push(run);
    }
    foreign ??= foreignNow();
    if (foreign) disturbed++;
    attachReported = true;
    console.log(roundLine(r, a, order, runs, foreign));
  }
  printSummary(a, rounds);
  printCaptureCheck(rounds);
  if (disturbed) {
    console.log(`\n[!] WARNING: in ${disturbed} of ${a.rounds} rounds other processes had BPF programs on the hooked tracepoints: "none" was not bare, and all modes paid for them.`);
  }
  console.log(`\nkernel-cost took ${fmt((Date.now() - started) / 1000)} s`);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  await runKernelCost(parseKernelCostArgs(argv));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`kernel-cost failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
