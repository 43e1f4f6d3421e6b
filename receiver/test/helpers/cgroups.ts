/**
 * Real cgroups for identity tests, named the way container runtimes name them.
 * Needs root. Each cgroup made is removed on cleanup after its processes are
 * moved back to the hierarchy's root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function mounts(): string[][] {
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '));
}

/** Where the cgroup v2 hierarchy is mounted (unified, or /sys/fs/cgroup/unified on hybrid hosts). */
export function cgroupV2Root(): string | undefined {
  return mounts().find((m) => m[2] === 'cgroup2')?.[1];
}

/** Where a v1 controller's hierarchy is mounted, when the host has v1. */
export function cgroupV1Root(controller: string): string | undefined {
  return mounts().find((m) => m[2] === 'cgroup' && (m[3] ?? '').split(',').includes(controller))?.[1];
}

export class TestCgroup {
  readonly dir: string;
  readonly #root: string;
  readonly #created: string[] = [];

  constructor(root: string, rel: string) {
    this.#root = root;
    this.dir = path.join(root, rel);
    // create each missing level, remembering which ones to remove
    let at = root;
    for (const part of rel.split('/').filter(Boolean)) {
      at = path.join(at, part);
      if (!fs.existsSync(at)) {
        fs.mkdirSync(at);
        this.#created.push(at);
      }
    }
  }

  /** Move a process (all its threads) into this cgroup. */
  add(pid: number): void {
    fs.writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
  }

  /** The shell prefix that moves itself here, then execs the command (same pid). */
  shellPrefix(): string {
    return `echo $$ > ${path.join(this.dir, 'cgroup.procs')} && exec`;
  }

  remove(): void {
    for (const dir of [...this.#created].reverse()) {
      try {
        const procs = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
        for (const p of procs) {
          try {
            fs.writeFileSync(path.join(this.#root, 'cgroup.procs'), p);
          } catch {
            // exited meanwhile
          }
        }
        fs.rmdirSync(dir);
      } catch {
        // a process still inside, or already gone: leave it, it is named for tests only
      }
    }
  }
}
