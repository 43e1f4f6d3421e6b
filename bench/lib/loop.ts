/**
 * Runs build/programs/syscall-loop as a child process and parses its JSON line.
 * The load must come from another process: the capture programs skip the
 * agent's own pid.
 *
 * Example:
 *   const r = await runLoop({ mode: 'socket', iterations: 200_000 });
 *   console.log(r.nsPerSyscall);
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { artifacts } from '../../receiver/src/util/paths';
import { onInterrupt } from './cleanup';
import { findExecutable } from './system';

export type LoopMode = 'socket' | 'pipe';

export interface LoopOptions {
  mode: LoopMode;
  iterations: number;
  /** iterations per second (paced); omitted = as fast as possible */
  rate?: number;
  /** pin the loop to this CPU with taskset (unpinned when taskset is missing) */
  cpu?: number;
  /** give up and kill the child after this long (default 300 s) */
  timeoutMs?: number;
}

export interface LoopResult {
  mode: LoopMode;
  iterations: number;
  /** data syscalls of the timed loop */
  syscalls: number;
  nsPerSyscall: number;
  elapsedNs: number;
  /** data syscalls made before the timed loop (a capture sees these too) */
  warmupSyscalls: number;
  achievedRate: number;
  pid: number;
}

const PROGRAM = 'syscall-loop';

export function loopProgram(): string {
  const file = artifacts.program(PROGRAM);
  if (!fs.existsSync(file)) throw new Error(`${file} is not built; run: npm run build`);
  return file;
}

/** taskset's path, or null when it is not installed. */
export function findTaskset(): string | null {
  return findExecutable('taskset');
}

function commandLine(o: LoopOptions): { file: string; args: string[] } {
  const args = [o.mode, String(o.iterations)];
  if (o.rate !== undefined) args.push('--rate', String(o.rate));
  const taskset = o.cpu !== undefined ? findTaskset() : null;
  // taskset execs the program, so the pid the capture sees is still the child's
  if (taskset !== null && o.cpu !== undefined) return { file: taskset, args: ['-c', String(o.cpu), loopProgram(), ...args] };
  return { file: loopProgram(), args };
}

function parseResult(stdout: string): LoopResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  const j = JSON.parse(line) as Record<string, unknown>;
  const num = (k: string): number => {
    const v = j[k];
    if (typeof v !== 'number') throw new Error(`syscall-loop printed no numeric "${k}": ${line}`);
    return v;
  };
  const mode = j['mode'];
  if (mode !== 'socket' && mode !== 'pipe') throw new Error(`syscall-loop printed a bad mode: ${line}`);
  return {
    mode,
    iterations: num('iterations'),
    syscalls: num('syscalls'),
    nsPerSyscall: num('ns_per_syscall'),
    elapsedNs: num('elapsed_ns'),
    warmupSyscalls: num('warmup_syscalls'),
    achievedRate: num('achieved_rate'),
    pid: num('pid'),
  };
}

/** Run the loop to completion; the child is killed on timeout or interrupt. */
export function runLoop(o: LoopOptions): Promise<LoopResult> {
  const { file, args } = commandLine(o);
  return new Promise<LoopResult>((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const release = onInterrupt(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      release();
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      release();
      if (code !== 0) {
        reject(new Error(`${PROGRAM} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
        return;
      }
      try {
        resolve(parseResult(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}
