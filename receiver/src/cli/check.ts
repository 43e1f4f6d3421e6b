/**
 * `kindling check`: can capture work here? Prints the environment and every
 * hook (attachable or not, and why), then exits 0 when capture can work and 1
 * when it cannot. Loads and attaches for real, then detaches.
 */
import * as fs from 'node:fs';
import { fromNative } from '../errors';
import { environmentChecks } from '../system/environment';
import type { Check } from '../system/environment';
import { captureViability, hookStatuses } from '../source/hooks';
import { openCaptureProbe } from '../source/loader';
import * as path from 'node:path';
import type { ProgramReport } from '../source/native';
import { artifacts } from '../util/paths';

function row(c: Check): string {
  return `  ${c.name.padEnd(14)} ${(c.ok ? 'ok' : 'FAIL').padEnd(5)} ${c.detail}`;
}

/** Load and attach the capture programs; the report, or why nothing could load. */
function probeHooks(): { programs: ProgramReport[]; object?: string; fallback?: string; error?: string } {
  const object = artifacts.bpfObject();
  if (!fs.existsSync(object)) return { programs: [], error: `BPF object not built (${object}); run: npm run build` };
  let opened;
  try {
    // stacks: 1 loads the stack program too (it does nothing without profiling): can it run here?
    opened = openCaptureProbe({ rodata: { self_tgid: process.pid, stacks: 1 } });
  } catch (e) {
    return { programs: [], error: fromNative(e).message };
  }
  try {
    return { programs: opened.probe.attach(), object: opened.object, ...(opened.fallback ? { fallback: opened.fallback } : {}) };
  } catch (e) {
    return { programs: [], error: fromNative(e).message };
  } finally {
    opened.probe.close();
  }
}

export function runCheck(out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): number {
  out('Kindling check');
  const env = environmentChecks();
  for (const c of env) out(row(c));

  const { programs, object, fallback, error } = probeHooks();
  const loaded = `${programs.filter((p) => p.loaded).length}/${programs.length} loaded from ${path.basename(object ?? '')}`;
  out(row({ name: 'BPF programs', ok: !error, detail: error ?? (fallback ? `${loaded} (the default object failed: ${fallback})` : loaded) }));
  if (programs.length) {
    out('');
    out(`  ${'hook'.padEnd(22)} ${'state'.padEnd(10)} detail`);
    for (const s of hookStatuses(programs)) {
      const tp = s.sections.map((x) => x.replace(/^tracepoint\//, '')).join(', ');
      out(`  ${s.hook.padEnd(22)} ${(s.ok ? 'attached' : 'FAILED').padEnd(10)} ${s.ok ? tp : s.reason}`);
    }
  }
  out('');
  // trace profiling needs the tp_btf scheduler programs; capture works without them
  const sched = programs.filter((p) => /^kd_sched_/.test(p.name));
  if (sched.length) {
    const bad = sched.filter((p) => !p.attached);
    out(bad.length ? `trace profiling: unavailable (${bad.map((p) => `${p.section}: ${p.message || `errno ${p.errno}`}`).join('; ')})` : 'trace profiling: available (tp_btf sched_switch, sched_wakeup, sched_wakeup_new, sched_process_fork)');
  }
  const stack = programs.filter((p) => /^kd_stack_/.test(p.name));
  if (stack.length) {
    const bad = stack.filter((p) => !p.attached);
    out(bad.length ? `trace profiling stacks: unavailable (${bad.map((p) => `${p.section}: ${p.message || `errno ${p.errno}`}`).join('; ')})` : 'trace profiling stacks: available with profiling.stacks (tp_btf sys_exit, user stacks by frame pointers)');
  }
  const v = captureViability(programs);
  const envBad = env.filter((c) => !c.ok && c.name !== 'tracefs');
  if (error || !v.ok) {
    const why = [...envBad.map((c) => `${c.name}: ${c.detail}`), ...(error ? [error.split('\n')[0] ?? error] : []), ...v.problems];
    out(`capture cannot work: ${why.join('; ')}`);
    return 1;
  }
  out(v.degraded.length ? `capture works, without: ${v.degraded.join(', ')}` : 'capture works: every hook attached');
  return 0;
}
