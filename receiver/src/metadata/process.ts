/**
 * Process identity from /proc, cached per pid (bounded): parent, executable,
 * argv[0] (the full command line only when configured: arguments can hold
 * secrets), and owner. An exec (sched_process_exec) invalidates the entry; an
 * exit drops it after a grace period, so late events still resolve.
 *
 * Example:
 *   const procs = new ProcessTable();
 *   procs.get(4242)?.executableName;   // 'nginx'
 *   procs.onExec(4242); procs.onExit(4242, Date.now());
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ProcessInfo {
  pid: number;
  parentPid: number | undefined;
  executablePath: string | undefined;
  executableName: string | undefined;
  /** argv[0] */
  command: string | undefined;
  /** every argument (only when enabled) */
  commandArgs: string[] | undefined;
  owner: string | undefined;
  /** bumped on exec: the identity of this pid changed */
  generation: number;
}

export interface ProcessTableOptions {
  procRoot?: string;
  commandArgs?: boolean;
  capacity?: number;
  exitGraceMs?: number;
  passwd?: string;
}

/** uid -> user name from a passwd file, read once. */
function readUsers(file: string): Map<number, string> {
  const users = new Map<number, string>();
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && f[0] && /^\d+$/.test(f[2] ?? '')) users.set(Number(f[2]), f[0]);
    }
  } catch {
    // no passwd: owners are reported by uid
  }
  return users;
}

export class ProcessTable {
  readonly #proc: string;
  readonly #args: boolean;
  readonly #capacity: number;
  readonly #graceMs: number;
  readonly #cache = new Map<number, ProcessInfo>();
  readonly #exited = new Map<number, number>();
  readonly #generations = new Map<number, number>();
  readonly #users: Map<number, string>;
  /** pids found gone, and when: not read again for a while (short-lived clients end before we look) */
  readonly #gone = new Map<number, number>();

  constructor(o: ProcessTableOptions = {}) {
    this.#proc = o.procRoot ?? '/proc';
    this.#args = o.commandArgs ?? false;
    this.#capacity = o.capacity ?? 16384;
    this.#graceMs = o.exitGraceMs ?? 30_000;
    this.#users = readUsers(o.passwd ?? '/etc/passwd');
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The process's identity, read once per exec; undefined when it is gone and was never seen. */
  get(pid: number, nowMs: number = Date.now()): ProcessInfo | undefined {
    const hit = this.#cache.get(pid);
    if (hit) return hit;
    const goneAt = this.#gone.get(pid);
    if (goneAt !== undefined && nowMs - goneAt < this.#graceMs) return undefined;
    const info = this.#read(pid);
    if (!info) {
      if (this.#gone.size >= this.#capacity) this.#gone.delete(this.#gone.keys().next().value as number);
      this.#gone.set(pid, nowMs);
      return undefined;
    }
    if (this.#cache.size >= this.#capacity) this.#cache.delete(this.#cache.keys().next().value as number);
    this.#cache.set(pid, info);
    return info;
  }

  onExec(pid: number): void {
    this.#cache.delete(pid);
    this.#gone.delete(pid);
    this.#exited.delete(pid);
    this.#generations.set(pid, (this.#generations.get(pid) ?? 0) + 1);
    if (this.#generations.size > this.#capacity) this.#generations.delete(this.#generations.keys().next().value as number);
  }

  onExit(pid: number, nowMs: number = Date.now()): void {
    this.#exited.set(pid, nowMs);
    this.sweep(nowMs);
  }

  /** Forget processes that exited more than the grace period ago. */
  sweep(nowMs: number = Date.now()): void {
    for (const [pid, at] of this.#exited) {
      if (nowMs - at < this.#graceMs) break;
      this.#exited.delete(pid);
      this.#cache.delete(pid);
      this.#generations.delete(pid);
    }
  }

  #read(pid: number): ProcessInfo | undefined {
    const dir = path.join(this.#proc, String(pid));
    let status: string;
    try {
      status = fs.readFileSync(path.join(dir, 'status'), 'utf8');
    } catch {
      return undefined;
    }
    const ppid = /^PPid:\s*(\d+)/m.exec(status)?.[1];
    const uid = /^Uid:\s*(\d+)/m.exec(status)?.[1];
    let exe: string | undefined;
    try {
      exe = fs.readlinkSync(path.join(dir, 'exe')).replace(/ \(deleted\)$/, '');
    } catch {
      exe = undefined; // kernel threads, or another mount namespace we cannot follow
    }
    let argv: string[] = [];
    try {
      argv = fs.readFileSync(path.join(dir, 'cmdline'), 'latin1').split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    } catch {
      argv = [];
    }
    return {
      pid,
      parentPid: ppid === undefined ? undefined : Number(ppid),
      executablePath: exe,
      executableName: exe ? path.basename(exe) : undefined,
      command: argv[0],
      commandArgs: this.#args && argv.length ? argv : undefined,
      owner: uid === undefined ? undefined : (this.#users.get(Number(uid)) ?? uid),
      generation: this.#generations.get(pid) ?? 0,
    };
  }
}
