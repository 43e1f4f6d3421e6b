/**
 * Container identity from a process's cgroup paths (/proc/PID/cgroup, cgroup
 * v1 and v2), as each runtime names its cgroups:
 *   docker      /docker/<id>, docker-<id>.scope
 *   containerd  cri-containerd-<id>.scope, kubelet cgroupfs paths /kubepods/.../pod<uid>/<id>
 *   CRI-O       crio-<id>.scope (crio-conmon-* is the monitor, not the container)
 *   podman      libpod-<id>.scope, /libpod_parent/libpod-<id> (libpod-conmon-* excluded)
 *
 * Example:
 *   containerFromCgroup('0::/system.slice/docker-3f2a….scope');  // { id: '3f2a…', runtime: 'docker' }
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerIdentity, ContainerRuntime } from './types';

const ID = '([0-9a-f]{64})';
const PATTERNS: [RegExp, ContainerRuntime][] = [
  [new RegExp(`cri-containerd-${ID}\\.scope`), 'containerd'],
  [new RegExp(`crio-${ID}\\.scope`), 'cri-o'],
  [new RegExp(`/crio-${ID}(?:/|$)`), 'cri-o'],
  [new RegExp(`libpod-${ID}\\.scope`), 'podman'],
  [new RegExp(`/libpod_parent/libpod-${ID}(?:/|$)`), 'podman'],
  [new RegExp(`docker-${ID}\\.scope`), 'docker'],
  [new RegExp(`/docker/${ID}(?:/|$)`), 'docker'],
  // kubelet's cgroupfs layout names the container by its bare id under the pod
  [new RegExp(`/kubepods[^/]*/(?:[^/]+/)*pod[0-9a-f_-]{36}/${ID}(?:/|$)`), 'containerd'],
];
const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

/** The container a cgroup path (or a whole /proc/PID/cgroup text) names, if any. */
export function containerFromCgroup(text: string): ContainerIdentity | undefined {
  // v2's unified line first, then the v1 hierarchies
  const lines = text.split('\n').filter(Boolean);
  lines.sort((a, b) => (b.startsWith('0::') ? 1 : 0) - (a.startsWith('0::') ? 1 : 0));
  for (const line of lines) {
    const cgPath = line.includes(':') ? line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1) : line;
    if (/(crio|libpod)-conmon-/.test(cgPath)) continue;
    for (const [re, runtime] of PATTERNS) {
      const m = re.exec(cgPath);
      if (m?.[1]) {
        const pod = POD_UID.exec(cgPath)?.[1]?.replace(/_/g, '-');
        return pod ? { id: m[1], runtime, podUid: pod } : { id: m[1], runtime };
      }
    }
  }
  return undefined;
}

/**
 * cgroup v2 ids (the inode numbers the kernel puts in every event) to paths,
 * by walking the hierarchy. An unknown id walks again (at most every
 * `minIntervalMs`); an id still unknown after a walk is remembered as missing
 * for a minute, so a deleted cgroup cannot cause a walk storm. This names the
 * cgroup of a process that has already exited.
 */
export class CgroupPaths {
  readonly #root: string | undefined;
  readonly #minIntervalMs: number;
  #byId = new Map<number, string>();
  readonly #missing = new Map<number, number>();
  #walkedAt = -Infinity;
  walks = 0;

  constructor(o: { root?: string; minIntervalMs?: number; mounts?: string } = {}) {
    this.#root = o.root ?? v2Mount(o.mounts ?? '/proc/self/mounts');
    this.#minIntervalMs = o.minIntervalMs ?? 100;
  }

  path(id: number, nowMs: number = Date.now()): string | undefined {
    const hit = this.#byId.get(id);
    if (hit !== undefined || !this.#root) return hit;
    const missedAt = this.#missing.get(id);
    if (missedAt !== undefined && nowMs - missedAt < 60_000) return undefined;
    if (nowMs - this.#walkedAt < this.#minIntervalMs) return undefined;
    this.#walk(nowMs);
    const found = this.#byId.get(id);
    if (found === undefined) {
      if (this.#missing.size >= 10_000) this.#missing.delete(this.#missing.keys().next().value as number);
      this.#missing.set(id, nowMs);
    }
    return found;
  }

  #walk(nowMs: number): void {
    this.#walkedAt = nowMs;
    this.walks++;
    const root = this.#root as string;
    const byId = new Map<number, string>();
    const stack = [''];
    // bounded: a host has thousands of cgroups, not millions
    while (stack.length && byId.size < 200_000) {
      const rel = stack.pop() as string;
      const dir = path.join(root, rel);
      try {
        byId.set(fs.statSync(dir).ino, `/${rel}`);
        for (const d of fs.readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) stack.push(rel ? `${rel}/${d.name}` : d.name);
      } catch {
        // removed while walking
      }
    }
    this.#byId = byId;
  }
}

function v2Mount(mounts: string): string | undefined {
  try {
    return fs
      .readFileSync(mounts, 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .find((m) => m[2] === 'cgroup2')?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Per-process container lookup, cached by (pid, cgroup id): moving a process to
 * another cgroup is seen. /proc/PID/cgroup first (v1 and v2); for a process
 * that is gone, the path of its v2 cgroup id.
 */
export class ContainerTable {
  readonly #proc: string;
  readonly #cache = new Map<number, { cgroupId: number; container: ContainerIdentity | undefined }>();
  readonly #capacity: number;
  readonly #paths: CgroupPaths;

  constructor(o: { procRoot?: string; capacity?: number; paths?: CgroupPaths } = {}) {
    this.#proc = o.procRoot ?? '/proc';
    this.#capacity = o.capacity ?? 16384;
    this.#paths = o.paths ?? new CgroupPaths();
  }

  forProcess(pid: number, cgroupId: number): ContainerIdentity | undefined {
    const hit = this.#cache.get(pid);
    if (hit && hit.cgroupId === cgroupId) return hit.container;
    let container: ContainerIdentity | undefined;
    try {
      container = containerFromCgroup(fs.readFileSync(path.join(this.#proc, String(pid), 'cgroup'), 'utf8'));
    } catch {
      // gone: its v2 cgroup may still exist (a container outlives its processes)
      const p = this.#paths.path(cgroupId);
      container = p ? containerFromCgroup(`0::${p}`) : hit?.container;
    }
    if (this.#cache.size >= this.#capacity) this.#cache.delete(this.#cache.keys().next().value as number);
    this.#cache.set(pid, { cgroupId, container });
    return container;
  }

  forget(pid: number): void {
    this.#cache.delete(pid);
  }

  get size(): number {
    return this.#cache.size;
  }
}

/** Which cgroup hierarchies this machine has, for the startup report. */
export function cgroupLayout(mounts = '/proc/self/mounts'): string {
  try {
    const lines = fs.readFileSync(mounts, 'utf8').split('\n');
    const v2 = lines.filter((l) => l.split(' ')[2] === 'cgroup2').map((l) => l.split(' ')[1]);
    const v1 = lines.filter((l) => l.split(' ')[2] === 'cgroup').length;
    return `cgroup v2 at ${v2.join(', ') || 'none'}, ${v1} v1 hierarchies`;
  } catch {
    return 'cgroups: unknown';
  }
}
