/**
 * intake: how fast events get from the kernel into JavaScript objects.
 *
 *  (a) decode throughput: real batches, recorded from a socket loop under the
 *      capture, decoded again and again with decodeBatch (fields read so the
 *      work cannot be skipped): the ceiling of the JS side alone.
 *  (b) live at saturation: the socket loop as fast as it goes for a few seconds
 *      with EbpfSource consuming: events/s delivered, events lost, and this
 *      process's CPU per event (user + system, poll thread included; the BPF
 *      programs' own time is charged to the traced process: see kernel-cost).
 *  (c) fixed rate: the socket loop paced to 50,000 iterations/s (about 100,000
 *      events/s) for 5 s: every event must arrive.
 *
 * Usage: node dist/bench/intake.js [--decode-seconds 3] [--saturation-seconds 4]
 *          [--rate 50000] [--rate-seconds 5] [--record-iterations 100000] [--cpu N]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { HOOK_NAMES, Kind } from '../receiver/src/events/abi';
import { decodeBatch } from '../receiver/src/events/decode';
import type { KindlingEvent } from '../receiver/src/events/types';
import type { SourceStats } from '../receiver/src/source/event-source';
import { attachFailures, CountingCapture } from './lib/capture';
import { runLoop } from './lib/loop';
import type { LoopResult } from './lib/loop';
import { count, fmt, lostText, rate, table, totalLost, yesNo } from './lib/report';
import { describeForeign, foreignAttachments } from './lib/system';

const DECODE_TARGET = 3e6;

export interface IntakeArgs {
  decodeSeconds: number;
  saturationSeconds: number;
  rate: number;
  rateSeconds: number;
  recordIterations: number;
  cpu?: number;
}

export function parseIntakeArgs(argv: string[]): IntakeArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      'decode-seconds': { type: 'string', default: '3' },
      'saturation-seconds': { type: 'string', default: '4' },
      rate: { type: 'string', default: '50000' },
      'rate-seconds': { type: 'string', default: '5' },
      'record-iterations': { type: 'string', default: '100000' },
      cpu: { type: 'string' },
    },
    strict: true,
  });
  const positive = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${v}`);
    return n;
  };
  const args: IntakeArgs = {
    decodeSeconds: positive('decode-seconds', values['decode-seconds']),
    saturationSeconds: positive('saturation-seconds', values['saturation-seconds']),
    rate: Math.round(positive('rate', values.rate)),
    rateSeconds: positive('rate-seconds', values['rate-seconds']),
    recordIterations: Math.round(positive('record-iterations', values['record-iterations'])),
  };
  if (values.cpu !== undefined) {
    const cpu = Number(values.cpu);
    if (!Number.isInteger(cpu) || cpu < 0) throw new Error(`--cpu must be a CPU number, got ${values.cpu}`);
    args.cpu = cpu;
  }
  return args;
}

function loopOpts(a: IntakeArgs): { cpu?: number } {
  return a.cpu !== undefined ? { cpu: a.cpu } : {};
}

// ---- (a) decode throughput ----

interface Recording {
  batches: Uint8Array[];
  events: number;
  bytes: number;
  /** the loop that produced them, timed under capture: sizes part (b) */
  loop: LoopResult;
}

/** Run the socket loop under the capture and keep a private copy of every raw batch. */
async function record(a: IntakeArgs): Promise<Recording> {
  warnForeign();
  const batches: Uint8Array[] = [];
  // the addon's buffer is only borrowed for the callback: copy it
  const cap = await CountingCapture.start({}, (b) => batches.push(new Uint8Array(b.raw)));
  try {
    warnAttach(cap);
    const loop = await runLoop({ mode: 'socket', iterations: a.recordIterations, ...loopOpts(a) });
    await cap.drain(loop.pid, loop.syscalls + loop.warmupSyscalls);
    return { batches, events: cap.events, bytes: batches.reduce((s, b) => s + b.byteLength, 0), loop };
  } finally {
    await cap.stop();
  }
}

/** A few fields of each event folded into a number, so decoding cannot be optimised away. */
function touch(ev: KindlingEvent): number {
  if (ev.kind === Kind.SockState) return ev.newState + ev.localPort;
  if (ev.kind === Kind.Proc) return ev.pid;
  if (ev.kind === Kind.Slice) return ev.endNs - ev.startNs;
  if (ev.kind === Kind.Stack) return ev.frames.length;
  return ev.len + ev.fd + ev.localPort + (ev.exitNs - ev.enterNs);
}

/** Decode every batch over and over for `seconds`; returns events decoded and time taken. */
function decodeFor(batches: readonly Uint8Array[], seconds: number): { events: number; seconds: number; checksum: number } {
  let events = 0;
  let checksum = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < seconds * 1000) {
    for (const b of batches) {
      const r = decodeBatch(b);
      for (const ev of r.events) checksum += touch(ev);
      events += r.events.length;
    }
    now = performance.now();
  }
  return { events, seconds: (now - t0) / 1000, checksum };
}

interface DecodeResult {
  eventsPerSec: number;
  recorded: Recording;
}

async function partDecode(a: IntakeArgs): Promise<DecodeResult> {
  console.log('\n(a) decode throughput in JS');
  const rec = await record(a);
  console.log(`  recorded ${count(rec.events)} events in ${count(rec.batches.length)} batches (${fmt(rec.bytes / 1048576)} MiB, ${fmt(rec.bytes / Math.max(rec.events, 1))} bytes/event)`);
  if (rec.events === 0) throw new Error('the recording holds no events: nothing to decode');
  // let the JIT settle before the timed run
  decodeFor(rec.batches, 0.5);
  const d = decodeFor(rec.batches, a.decodeSeconds);
  const eventsPerSec = d.events / d.seconds;
  console.log(`  decoded ${count(d.events)} events in ${fmt(d.seconds, 2)} s: ${rate(eventsPerSec)} (${fmt(1e9 / eventsPerSec)} ns/event; checksum ${d.checksum % 1000})`);
  return { eventsPerSec, recorded: rec };
}

// ---- (b), (c) live ----

interface LiveResult {
  loop: LoopResult;
  expected: number;
  received: number;
  /** every event delivered during the run, all processes */
  delivered: number;
  wallSeconds: number;
  cpuSeconds: number;
  stats: SourceStats;
  recursionMisses: number;
  handoffWaits: number;
}

/** One capture session around one loop run, with this process's CPU and wall time measured across it. */
async function liveRun(a: IntakeArgs, iterations: number, pace?: number): Promise<LiveResult> {
  warnForeign();
  const cap = await CountingCapture.start();
  try {
    warnAttach(cap);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const loop = await runLoop({ mode: 'socket', iterations, ...(pace !== undefined ? { rate: pace } : {}), ...loopOpts(a) });
    const expected = loop.syscalls + loop.warmupSyscalls;
    const got = await cap.drain(loop.pid, expected);
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      loop,
      expected,
      received: got.data,
      delivered: cap.events,
      wallSeconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      stats: cap.stats(),
      recursionMisses: cap.recursionMisses(),
      handoffWaits: cap.handoffWaits(),
    };
  } finally {
    await cap.stop();
  }
}

/** Per-hook kernel counters for every hook that did something. */
function hookTable(stats: SourceStats): string {
  const rows: string[][] = [];
  for (const hook of HOOK_NAMES) {
    const c = stats.hooks[hook];
    const lost = c.lost_ringbuf_full + c.lost_no_task_storage + c.lost_mmsg_overflow + c.lost_no_scratch;
    if (c.emitted === 0 && lost === 0) continue;
    rows.push([hook, count(c.emitted), count(c.lost_ringbuf_full), count(c.lost_no_task_storage), count(c.lost_no_scratch), count(c.lost_mmsg_overflow)]);
  }
  return table(['hook', 'emitted', 'lost ringbuf_full', 'lost no_task_storage', 'lost no_scratch', 'lost mmsg_overflow'], rows, '    ');
}

function printLive(r: LiveResult): void {
  const loopSeconds = r.loop.elapsedNs / 1e9;
  console.log(`  loop: ${count(r.loop.syscalls)} syscalls in ${fmt(loopSeconds, 2)} s (${fmt(r.loop.nsPerSyscall)} ns/syscall, ${rate(r.loop.achievedRate)} iterations)`);
  console.log(`  loop events received: ${count(r.received)} of ${count(r.expected)} expected (missing ${count(r.expected - r.received)})`);
  console.log(`  delivered: ${count(r.delivered)} events in total over ${fmt(r.wallSeconds, 2)} s wall; loop events per loop second ${rate(r.received / loopSeconds)}`);
  console.log(`  lost (stats().lost): ${lostText(r.stats.lost)}; malformed batches ${r.stats.malformedBatches}; recursion misses ${r.recursionMisses}; hand-off waits ${r.handoffWaits}`);
  console.log(`  agent CPU: ${fmt(r.cpuSeconds, 3)} s (${fmt((100 * r.cpuSeconds) / r.wallSeconds)}% of one core), ${fmt((1e9 * r.cpuSeconds) / Math.max(r.delivered, 1))} ns per event (BPF time excluded)`);
  console.log('  kernel counters per hook:');
  console.log(hookTable(r.stats));
}

async function partSaturation(a: IntakeArgs, calibration: LoopResult): Promise<LiveResult> {
  // size the run from the recording loop, which ran under the same capture
  const iterations = Math.max(1000, Math.round((a.saturationSeconds * 1e9) / (2 * calibration.nsPerSyscall)));
  console.log(`\n(b) live at saturation: socket loop, ${count(iterations)} iterations as fast as possible (~${a.saturationSeconds} s)`);
  const r = await liveRun(a, iterations);
  printLive(r);
  return r;
}

async function partFixedRate(a: IntakeArgs): Promise<LiveResult> {
  const iterations = Math.round(a.rate * a.rateSeconds);
  console.log(`\n(c) fixed rate: socket loop at ${count(a.rate)} iterations/s (~${count(2 * a.rate)} events/s) for ${a.rateSeconds} s`);
  const r = await liveRun(a, iterations, a.rate);
  printLive(r);
  return r;
}

/** Other processes' programs on the same hooks run on every loop syscall too and slow it: say so. */
function warnForeign(): void {
  const f = foreignAttachments();
  if (f && f.length) console.log(`  [!] other processes have BPF programs on the hooked tracepoints: ${describeForeign(f)}`);
}

function warnAttach(cap: CountingCapture): void {
  for (const f of attachFailures(cap.programs)) console.log(`  not attached: ${f}`);
}

function printSummary(a: IntakeArgs, d: DecodeResult, sat: LiveResult, fixed: LiveResult): void {
  const satLost = totalLost(sat.stats.lost);
  const fixedLost = totalLost(fixed.stats.lost);
  const fixedMissing = fixed.expected - fixed.received;
  const rows = [
    ['(a) decode throughput (decodeBatch + field reads)', rate(d.eventsPerSec), `>= ${rate(DECODE_TARGET)}`, yesNo(d.eventsPerSec >= DECODE_TARGET)],
    ['(b) saturation: loop events delivered per loop second', rate(sat.received / (sat.loop.elapsedNs / 1e9)), '-', ''],
    ['(b) saturation: loop events received / expected', `${count(sat.received)} / ${count(sat.expected)}`, '-', ''],
    ['(b) saturation: lost (kernel counters)', count(satLost), '-', ''],
    ['(b) saturation: agent CPU per event (no BPF time)', `${fmt((1e9 * sat.cpuSeconds) / Math.max(sat.delivered, 1))} ns`, '-', ''],
    [`(c) ${count(a.rate)} it/s: events received / expected`, `${count(fixed.received)} / ${count(fixed.expected)}`, 'all', yesNo(fixedMissing === 0)],
    [`(c) ${count(a.rate)} it/s: lost (kernel counters)`, count(fixedLost), '0', yesNo(fixedLost === 0)],
    [`(c) ${count(a.rate)} it/s: agent CPU per event (no BPF time)`, `${fmt((1e9 * fixed.cpuSeconds) / Math.max(fixed.delivered, 1))} ns`, '-', ''],
  ];
  console.log('\nintake summary');
  console.log(table(['measure', 'result', 'target', 'met'], rows));
}

export async function runIntake(a: IntakeArgs): Promise<void> {
  const started = Date.now();
  console.log(`intake: decode ${a.decodeSeconds} s, saturation ~${a.saturationSeconds} s, fixed rate ${count(a.rate)} it/s for ${a.rateSeconds} s${a.cpu !== undefined ? `, loop pinned to CPU ${a.cpu}` : ''}`);
  const d = await partDecode(a);
  const sat = await partSaturation(a, d.recorded.loop);
  // the recorded batches are no longer needed: let them go before the live runs
  d.recorded.batches.length = 0;
  const fixed = await partFixedRate(a);
  printSummary(a, d, sat, fixed);
  console.log(`\nintake took ${fmt((Date.now() - started) / 1000)} s`);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  await runIntake(parseIntakeArgs(argv));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`intake failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
