// Trace profiling, tier 3: with profiling.stacks a selected span's off-CPU children carry the user
// stack the thread blocked with, symbolized from the server's ELF symbols and libc's; without it,
// no stack anywhere and the sys_exit program is not even attached.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { artifacts } from '../../src/util/paths';
import { kernelTest } from '../helpers/kernel';
import { Cleanup, attr, program, startAgent } from './e2e';
import { childrenOf, curl, servers, spansOf, startPeer } from './profiling-helpers';
import type { Peer } from './profiling-helpers';

/** profile-server (built with frame pointers; libc is not) at real-time priority, as in the tier 2 tests */
function profileServer(c: Cleanup): Promise<Peer> {
  return startPeer(c, ['chrt', '-f', '50', artifacts.program('profile-server'), '--dir', '/var/tmp']);
}

/** names of the BPF programs this process holds (its fds), as bpftool shows them */
function ownPrograms(): string[] {
  const ids = new Set<number>();
  for (const fd of fs.readdirSync('/proc/self/fdinfo')) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { id: number; name?: string }[];
  return progs.filter((p) => ids.has(p.id)).map((p) => p.name ?? '');
}

/** the child of a selected request to `path` named `name` */
async function selectedChild(c: Cleanup, env: Record<string, string>, path: string, name: string): Promise<{ child: ReadableSpan; programs: string[]; stats: unknown; spans: ReadableSpan[] }> {
  const { agent, mem } = await startAgent(c, { KINDLING_PROFILING_SLOW_THRESHOLD_MS: '10', KINDLING_PROFILING_P95_MIN_SAMPLES: '0', ...env });
  const programs = ownPrograms();
  const server = await profileServer(c);
  await curl(server.port, path);
  const route = path.split('?')[0] ?? path;
  const spans = await spansOf(agent, mem, (all) => servers(all, server.pid, route).length === 1 && childrenOf(all, servers(all, server.pid, route)[0] as ReadableSpan).length > 0);
  const [span] = servers(spans, server.pid, route);
  assert.ok(span, `the ${route} server span`);
  assert.equal(attr(span, 'kindling.profile.selected'), true);
  const kids = childrenOf(spans, span);
  const child = kids.find((k) => k.name === name);
  assert.ok(child, `a "${name}" child among: ${kids.map((k) => k.name).join(', ')}`);
  return { child, programs, stats: agent.profiler?.stacks?.stats(), spans };
}

kernelTest('stacks on: the lock wait of a selected request carries its stack, server function and libc frame by name', async (t) => {
  const c = new Cleanup();
  try {
    const { child, programs, stats } = await selectedChild(c, { KINDLING_PROFILING_STACKS: 'true' }, '/lock?ms=30', 'offcpu lock');
    assert.ok(programs.some((p) => p.startsWith('kd_stack_sys_ex')), `the sys_exit program is attached: ${programs.join(', ')}`);
    const stack = attr(child, 'code.stacktrace');
    t.diagnostic(`code.stacktrace:\n${String(stack)}\nstats: ${JSON.stringify(stats)}`);
    assert.equal(typeof stack, 'string', 'code.stacktrace on the lock child');
    const lines = String(stack).split('\n');
    assert.ok(lines.length >= 2, 'more than the leaf');
    // the function that waits for the mutex, from the server's .symtab
    assert.ok(lines.some((l) => /^part_lock\+0x[0-9a-f]+ \(profile-server\)$/.test(l)), 'part_lock');
    // a libc frame from its .dynsym
    assert.ok(lines.some((l) => /^(pthread_mutex_lock|__pthread_mutex_lock|__lll_lock_wait)\+0x[0-9a-f]+ \(libc\.so\.6\)$/.test(l)), 'pthread_mutex_lock in libc');
    // innermost first: libc before the server's function
    assert.ok(lines.findIndex((l) => /\(libc\.so\.6\)$/.test(l)) < lines.findIndex((l) => l.startsWith('part_lock+')), 'innermost first');
    assert.equal(attr(child, 'kindling.stack.truncated'), undefined, 'a short stack is whole');
  } finally {
    await c.run();
  }
});

kernelTest('stacks on: the sleep of a selected request carries clock_nanosleep and the handler', async (t) => {
  const c = new Cleanup();
  try {
    const { child } = await selectedChild(c, { KINDLING_PROFILING_STACKS: 'true' }, '/sleep?ms=30', 'offcpu sleep');
    const stack = String(attr(child, 'code.stacktrace'));
    t.diagnostic(`code.stacktrace:\n${stack}`);
    const lines = stack.split('\n');
    assert.ok(lines.some((l) => /^(clock_nanosleep|nanosleep|__nanosleep)\+0x[0-9a-f]+ \(libc\.so\.6\)$/.test(l)), 'nanosleep in libc');
    assert.ok(lines.some((l) => /^part_sleep\+0x[0-9a-f]+ \(profile-server\)$/.test(l)), 'the handler part_sleep');
    assert.ok(lines.some((l) => l.startsWith('http_conn+')), 'and its caller http_conn');
  } finally {
    await c.run();
  }
});

kernelTest('stacks on, an event loop without frame pointers: the idle wait of a Node server is epoll in libc, then libuv in node, marked truncated', async (t) => {
  const c = new Cleanup();
  try {
    const { agent, mem } = await startAgent(c, { KINDLING_PROFILING_STACKS: 'true', KINDLING_PROFILING_SLOW_THRESHOLD_MS: '10', KINDLING_PROFILING_P95_MIN_SAMPLES: '0' });
    const upstream = await profileServer(c);
    const node = await startPeer(c, ['chrt', '-f', '50', process.execPath, program('profile-node-server.js'), `http://127.0.0.1:${upstream.port}/sleep`, '/var/tmp']);
    await curl(node.port, '/upstream?ms=30');
    const spans = await spansOf(agent, mem, (all) => servers(all, node.pid, '/upstream').some((s) => childrenOf(all, s).some((k) => k.name === 'offcpu idle')));
    const [span] = servers(spans, node.pid, '/upstream');
    assert.ok(span, 'the /upstream server span');
    const idle = childrenOf(spans, span).find((k) => k.name === 'offcpu idle');
    assert.ok(idle, 'its idle wait');
    const stack = String(attr(idle, 'code.stacktrace'));
    t.diagnostic(`code.stacktrace:\n${stack}`);
    const lines = stack.split('\n');
    assert.match(lines[0] ?? '', /^epoll_p?wait\+0x[0-9a-f]+ \(libc\.so\.6\)$/, 'the leaf: epoll in libc');
    // node's own code has no frame pointers: the leaf's caller comes from the stack words, and no more
    assert.match(lines[1] ?? '', /^uv__io_poll\+0x[0-9a-f]+ \(node\)$/, "its caller, from node's symbols");
    assert.equal(attr(idle, 'kindling.stack.truncated'), true, 'a partial stack says so');
  } finally {
    await c.run();
  }
});

kernelTest('stacks off (the default): no code.stacktrace anywhere, and no sys_exit program attached', async () => {
  const c = new Cleanup();
  try {
    const { child, programs, spans, stats } = await selectedChild(c, {}, '/lock?ms=30', 'offcpu lock');
    assert.ok(programs.includes('kd_sched_switch'), `profiling programs are attached: ${programs.join(', ')}`);
    assert.ok(!programs.some((p) => p.startsWith('kd_stack')), `no stack program: ${programs.join(', ')}`);
    assert.equal(attr(child, 'code.stacktrace'), undefined);
    assert.deepEqual(spans.filter((s) => attr(s, 'code.stacktrace') !== undefined).map((s) => s.name), [], 'no stack on any span');
    assert.equal(stats, undefined, 'no stack store');
  } finally {
    await c.run();
  }
});
