/**
 * Helpers for the live end-to-end tests: an agent with an in-memory span
 * exporter, a cleanup stack that runs even when an assertion fails, peer
 * programs run as their own processes (the agent never sees the test process
 * itself), and a poll that waits for spans, then asserts exact counts.
 *
 * Example:
 *   await scenario(async (c) => {
 *     const { agent, mem } = await startAgent(c);
 *     const server = await startServerProgram(c, 'raw-server.js', ['eager']);
 *     ...
 *     const got = await waitForSpans(agent, mem, { server: { match: (s) => pidOf(s) === server.pid, count: 1 } });
 *     assertCount(got.server, 1, 'server spans');
 *   });
 */
import type { ProtocolFactory } from '../../src/protocols/context';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Agent } from '../../src/agent';
import { loadConfig } from '../../src/config/config';
import { MemorySpanExporter, spanLine } from '../../src/export/console-spans';
import type { HttpSessionStats } from '../../src/protocols/http1-session';
import { packageRoot } from '../../src/util/paths';
import { run } from '../helpers/commands';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const program = (name: string): string => path.join(packageRoot(), 'receiver', 'test', 'programs', name);

/** Functions run in reverse order of registration, each even if an earlier one threw. */
export class Cleanup {
  readonly #fns: (() => Promise<void> | void)[] = [];

  defer(fn: () => Promise<void> | void): void {
    this.#fns.push(fn);
  }

  async run(): Promise<void> {
    for (const fn of this.#fns.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`cleanup: ${String(e)}\n`);
      }
    }
  }
}

/** Runs `body` with a cleanup stack that is emptied whatever happens. */
export async function scenario(body: (c: Cleanup) => Promise<void>): Promise<void> {
  const c = new Cleanup();
  try {
    await body(c);
  } finally {
    await c.run();
  }
}

export interface LiveAgent {
  agent: Agent;
  mem: MemorySpanExporter;
}

/** A live agent exporting spans to memory, no metric exporters; stopped by the cleanup stack. */
export async function startAgent(c: Cleanup, env: Record<string, string> = {}, protocols?: ProtocolFactory[]): Promise<LiveAgent> {
  const mem = new MemorySpanExporter();
  const agent = new Agent(loadConfig({ env: { OTEL_METRICS_EXPORTER: 'none', ...env } }), {
    spanExporters: [mem],
    metricExporters: [],
    log: () => undefined,
    kubernetes: null,
    ...(protocols ? { protocols } : {}),
  });
  c.defer(() => agent.stop());
  await agent.start();
  return { agent, mem };
}

export const pidOf = (s: ReadableSpan): number => Number(s.resource.attributes['process.pid']);
export const ms = (s: ReadableSpan): number => s.duration[0] * 1e3 + s.duration[1] / 1e6;
export const attr = (s: ReadableSpan, name: string): unknown => s.attributes[name];

export interface SpanGroup {
  match: (s: ReadableSpan) => boolean;
  count: number;
}

/**
 * Polls until every group holds at least its count of spans, or the deadline;
 * then waits `settleMs` more and collects again, so spans beyond the count are
 * caught by the exact assertions that follow.
 */
export async function waitForSpans<K extends string>(
  agent: Agent,
  mem: MemorySpanExporter,
  groups: Record<K, SpanGroup>,
  o: { timeoutMs?: number; settleMs?: number } = {},
): Promise<Record<K, ReadableSpan[]>> {
  const collect = (): Record<K, ReadableSpan[]> => {
    const out = {} as Record<K, ReadableSpan[]>;
    for (const k of Object.keys(groups) as K[]) out[k] = mem.spans.filter(groups[k].match);
    return out;
  };
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    await agent.spans.flush();
    const got = collect();
    if ((Object.keys(groups) as K[]).every((k) => got[k].length >= groups[k].count) || Date.now() > deadline) break;
    await sleep(50);
  }
  await sleep(o.settleMs ?? 300);
  await agent.spans.flush();
  return collect();
}

/** Exactly `n` spans, else a failure listing them. */
export function assertCount(spans: readonly ReadableSpan[], n: number, what: string): void {
  assert.equal(spans.length, n, `${what}: expected exactly ${n}, got ${spans.length}:\n${spans.map((s) => `  ${spanLine(s)}`).join('\n')}`);
}

export type StatsDelta = HttpSessionStats & { undetectedSegments: number };

/** The agent's HTTP and detection counters now, to subtract later. */
export function statsSnapshot(agent: Agent): StatsDelta {
  return { ...agent.httpStats, undetectedSegments: agent.pipeline.stats().undetectedSegments };
}

/**
 * How much each counter rose since `before`. The agent watches the whole node:
 * other processes add to these counters too, so tests assert lower bounds for
 * what they caused, and zero only over short windows of their own traffic.
 */
export function statsDelta(agent: Agent, before: StatsDelta): StatsDelta {
  const now = statsSnapshot(agent);
  const out = { ...now };
  for (const k of Object.keys(now) as (keyof StatsDelta)[]) out[k] = now[k] - before[k];
  return out;
}

/** Total kernel lost events, all reasons. */
export function lostEvents(agent: Agent): number {
  return Object.values(agent.source.stats().lost).reduce((a, b) => a + b, 0);
}

export interface ProgramRun {
  pid: number;
  stdout: string;
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}

/** Runs a command to its end (killed by the cleanup stack if the test ends first); rejects on a non-zero exit. */
export function runCommand(c: Cleanup, cmd: string, args: string[]): Promise<ProgramRun> {
  return run(cmd, args, (child) => c.defer(() => stopChild(child, 'SIGKILL')));
}

/** A Node program from receiver/test/programs, run to its end. */
export function runProgram(c: Cleanup, name: string, args: (string | number)[]): Promise<ProgramRun> {
  return runCommand(c, process.execPath, [program(name), ...args.map(String)]);
}

export interface ServerProgram {
  pid: number;
  port: number;
}

/** A Node server program that prints its port on stdout; stopped by the cleanup stack. */
export function startServerProgram(c: Cleanup, name: string, args: (string | number)[]): Promise<ServerProgram> {
  const child = spawn(process.execPath, [program(name), ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  c.defer(() => stopChild(child));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${name} exited ${code} before listening`)));
    child.stdout.once('data', (d: Buffer) => resolve({ pid: child.pid ?? 0, port: Number(d.toString().trim()) }));
  });
}

export interface LongRunning {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  /** signals the process and resolves with its exit code once it ended */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A command left running until the test stops it (wrk); killed by the cleanup stack otherwise. */
export function startCommand(c: Cleanup, cmd: string, args: string[]): LongRunning {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  c.defer(() => stopChild(child, 'SIGKILL'));
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return {
    child,
    pid: child.pid ?? 0,
    stdout: () => out,
    stop: async (signal = 'SIGTERM') => {
      await stopChild(child, signal);
      return child.exitCode;
    },
  };
}
