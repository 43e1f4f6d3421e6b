// Trace profiling end to end on the live kernel: an agent killed with SIGKILL leaves
// nothing attached. Its BPF links are fds, so its programs, links and perf attachments
// go with the process: none of those it held is left once it is gone.
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/util/paths';
import { kernelTest } from '../helpers/kernel';
import { scenario, sleep } from './e2e';
import { stopChild } from './profiling-helpers';

interface Owned {
  progs: Set<number>;
  links: Set<number>;
}

/** The BPF program and link ids a process holds fds to (from /proc/PID/fdinfo; bpftool here cannot show owners). */
function ownedBpf(pid: number): Owned {
  const out: Owned = { progs: new Set(), links: new Set() };
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const link = /^link_id:\s*(\d+)/m.exec(info);
    const prog = /^prog_id:\s*(\d+)/m.exec(info);
    if (link?.[1]) out.links.add(Number(link[1]));
    if (prog?.[1]) out.progs.add(Number(prog[1]));
  }
  return out;
}

function bpftool(args: string[]): unknown[] {
  return JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' })) as unknown[];
}

kernelTest('kill -9 of the agent leaves no program of ours attached (links are fds: they go with the process)', async (t) => {
  await scenario(async (c) => {
    const child = spawn(process.execPath, [path.join(packageRoot(), 'bin', 'kindling.js'), 'run'], {
      env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', KINDLING_KUBERNETES: 'off' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    c.defer(() => stopChild(child));
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent did not report it started: ${stderr}`)), 30_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/: source ebpf;/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`the agent exited ${code}: ${stderr}`)));
    });
    const pid = child.pid ?? 0;
    const owned = ownedBpf(pid);
    const progs = bpftool(['prog', 'show']) as { id: number; name?: string }[];
    const ours = progs.filter((p) => owned.progs.has(p.id));
    const sched = ours.filter((p) => p.name?.startsWith('kd_sched')).map((p) => p.name);
    t.diagnostic(`agent ${pid}: ${ours.length} programs (${sched.join(', ')}), ${owned.links.size} links`);
    assert.ok(ours.length > 0 && ours.every((p) => p.name?.startsWith('kd_')), `the agent holds its kd_* programs: ${JSON.stringify(ours)}`);
    assert.ok(sched.includes('kd_sched_switch'), 'the sched programs are attached (profiling on by default)');
    assert.ok(owned.links.size > 0, 'and links to them');

    child.kill('SIGKILL');
    await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
    // programs are freed after an RCU grace period: give it a moment
    let left: { progs: number[]; links: number[]; perf: unknown[] } = { progs: [], links: [], perf: [] };
    for (let i = 0; i < 50; i++) {
      left = {
        progs: (bpftool(['prog', 'show']) as { id: number }[]).map((p) => p.id).filter((id) => owned.progs.has(id)),
        links: (bpftool(['link', 'show']) as { id: number }[]).map((l) => l.id).filter((id) => owned.links.has(id)),
        perf: (bpftool(['perf', 'show']) as { pid: number }[]).filter((p) => p.pid === pid),
      };
      if (!left.progs.length && !left.links.length && !left.perf.length) break;
      await sleep(100);
    }
    assert.deepEqual(left, { progs: [], links: [], perf: [] }, 'programs, links or perf attachments of the killed agent are still there');
  });
});
