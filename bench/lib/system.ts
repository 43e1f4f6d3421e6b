/**
 * What else on the machine could skew a measurement: chiefly BPF programs that
 * other processes (another agent, a test run) keep attached to the hooks we
 * time. With those present, "no programs attached" is not true and every mode
 * pays for them. Found through `bpftool perf show` when bpftool is installed.
 *
 * Example:
 *   const f = foreignAttachments();
 *   if (f && f.length) console.log(describeForeign(f));
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOOK_NAMES } from '../../receiver/src/events/abi';

const found = new Map<string, string | null>();

/** The path of an executable on PATH (plus the sbin directories, where bpftool lives), or null. */
export function findExecutable(name: string): string | null {
  const cached = found.get(name);
  if (cached !== undefined) return cached;
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  let hit: string | null = null;
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      hit = candidate;
      break;
    } catch {
      // not in this directory
    }
  }
  found.set(name, hit);
  return hit;
}

/** The tracepoints Kindling hooks: sys_enter_/sys_exit_ of every syscall hook, and inet_sock_set_state. */
export function hookedTracepoints(): Set<string> {
  const out = new Set<string>();
  for (const hook of HOOK_NAMES) {
    if (hook === 'none') continue;
    if (hook === 'inet_sock_set_state') {
      out.add(hook);
    } else {
      out.add(`sys_enter_${hook}`);
      out.add(`sys_exit_${hook}`);
    }
  }
  return out;
}

export interface ForeignAttachment {
  pid: number;
  tracepoint: string;
  progId: number;
}

interface PerfShowEntry {
  pid?: number;
  prog_id?: number;
  fd_type?: string;
  tracepoint?: string;
}

/**
 * Programs attached by other processes to the tracepoints we hook; undefined
 * when this cannot be checked (bpftool missing or failing).
 */
export function foreignAttachments(): ForeignAttachment[] | undefined {
  const bpftool = findExecutable('bpftool');
  if (bpftool === null) return undefined;
  let entries: PerfShowEntry[];
  try {
    entries = JSON.parse(execFileSync(bpftool, ['-j', 'perf', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as PerfShowEntry[];
  } catch {
    return undefined;
  }
  const hooked = hookedTracepoints();
  return entries
    .filter((e) => e.fd_type === 'tracepoint' && e.tracepoint !== undefined && hooked.has(e.tracepoint) && e.pid !== process.pid)
    .map((e) => ({ pid: e.pid ?? 0, tracepoint: e.tracepoint ?? '', progId: e.prog_id ?? 0 }));
}

/** "pid 123 (29 programs), pid 456 (2 programs)" */
export function describeForeign(f: readonly ForeignAttachment[]): string {
  const byPid = new Map<number, number>();
  for (const a of f) byPid.set(a.pid, (byPid.get(a.pid) ?? 0) + 1);
  return [...byPid.entries()].map(([pid, n]) => `pid ${pid} (${n} program${n === 1 ? '' : 's'})`).join(', ');
}
