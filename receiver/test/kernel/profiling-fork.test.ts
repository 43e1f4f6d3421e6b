// Trace profiling (tier 1) end to end on the live kernel: tracking is inherited by threads
// created after the process's first socket syscall (the fork hook), so such a thread's
// counters run from its birth; a thread created before the agent saw its process is
// tracked only from its own first socket syscall. Both have their requests profiled.
import * as assert from 'node:assert/strict';
import type { SockEvent } from '../../src/events/types';
import { kernelTest } from '../helpers/kernel';
import { scenario, startAgent, waitForSpans } from './e2e';
import { f, get, invariantError, profileOf, serverSpanOf, startProfileServer } from './profiling-helpers';

kernelTest('a thread created after the process first did socket I/O is tracked from its birth (fork hook), and its requests profiled', async (t) => {
  await scenario(async (c) => {
    // control: a server already blocked in accept when the agent attaches; its main
    // thread is untracked when it creates the connection's thread, so that thread
    // is tracked only from its first socket syscall, where its counters are all 0
    const before = await startProfileServer(c);
    const { agent, mem } = await startAgent(c);
    // the main thread's accept (its first socket syscall) is seen, then it creates the reader
    const after = await startProfileServer(c);
    const first = new Map<number, SockEvent['sched']>();
    const index = agent.profiler?.index;
    assert.ok(index, 'profiling is on by default');
    const note = index.note.bind(index);
    // the first record of each thread: its counters at its first socket syscall
    index.note = (ev: SockEvent) => {
      if (!first.has(ev.tid)) first.set(ev.tid, ev.sched);
      return note(ev);
    };
    const replies = { before: await get(before.port, '/sleep?ms=5'), after: await get(after.port, '/sleep?ms=5') };
    const got = await waitForSpans(agent, mem, {
      before: { match: serverSpanOf(before.pid, '/sleep'), count: 1 },
      after: { match: serverSpanOf(after.pid, '/sleep'), count: 1 },
    });
    for (const k of ['before', 'after'] as const) {
      const tid = Number(replies[k].body['tid']);
      const span = got[k][0];
      assert.ok(span, `${k}: the SERVER span`);
      const p = profileOf(span);
      assert.notEqual(tid, k === 'before' ? before.pid : after.pid, `${k}: served by a thread of its own`);
      assert.equal(p.tid, tid, `${k}: thread.id`);
      assert.equal(p.threadName, 'ps-conn', `${k}: thread.name`);
      assert.equal(p.dominant, 'sleep', `${k}: dominant`);
      assert.ok(invariantError(p).ok, `${k}: on+runq+off ${f(p.sumNs)} ms vs duration ${f(p.durationNs)} ms`);
      const snap = first.get(tid);
      assert.ok(snap, `${k}: thread ${tid}'s first record carries a scheduler snapshot`);
      t.diagnostic(`${k}: thread ${tid} at its first socket syscall: on ${snap.onNs} ns, runq ${snap.runqNs} ns, off ${JSON.stringify(snap.offNs)}`);
    }
    const snapOf = (k: 'before' | 'after'): NonNullable<SockEvent['sched']> => first.get(Number(replies[k].body['tid'])) as NonNullable<SockEvent['sched']>;
    // tracked only from its first socket syscall: every counter is still 0 there
    assert.equal(snapOf('before').onNs + snapOf('before').runqNs, 0, 'control: tracked from the first socket syscall');
    // tracked from its birth: it ran (and waited to run) before that syscall
    assert.ok(snapOf('after').onNs > 0, `on-CPU time before the first socket syscall was counted (tracked since fork): ${JSON.stringify(snapOf('after'))}`);
  });
});
