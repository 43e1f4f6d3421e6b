/**
 * Which hooks the capture path needs, and whether an attach report adds up to
 * a working capture. A hook is an enter/exit program pair on one syscall (or a
 * single program on a non-syscall tracepoint); any one of them may fail alone.
 */
import type { ProgramReport } from './native';

export const INGRESS_HOOKS = ['read', 'readv', 'recvfrom', 'recvmsg', 'recvmmsg'] as const;
export const EGRESS_HOOKS = ['write', 'writev', 'sendto', 'sendmsg', 'sendmmsg', 'sendfile64'] as const;
export const CONN_HOOKS = ['connect', 'accept', 'accept4', 'close'] as const;

export interface HookStatus {
  hook: string;
  /** tracepoint(s) behind the hook */
  sections: string[];
  ok: boolean;
  /** why not, when !ok */
  reason: string;
}

/** "kd_enter_read" -> "read"; "kd_inet_sock_set_state" -> "inet_sock_set_state" */
export function hookOfProgram(name: string): string {
  return name.replace(/^kd_(enter|exit)_/, '').replace(/^kd_/, '');
}

export function hookStatuses(programs: ProgramReport[]): HookStatus[] {
  const byHook = new Map<string, ProgramReport[]>();
  for (const p of programs) {
    const h = hookOfProgram(p.name);
    byHook.set(h, [...(byHook.get(h) ?? []), p]);
  }
  return [...byHook.entries()].map(([hook, progs]) => {
    const bad = progs.filter((p) => !p.attached);
    const reason = bad
      .map((p) => `${p.section}: ${p.loaded ? 'attach' : 'load'} failed${p.errno ? ` (errno ${p.errno})` : ''}${p.message ? `: ${firstLine(p.message)}` : ''}`)
      .join('; ');
    return { hook, sections: progs.map((p) => p.section), ok: bad.length === 0, reason };
  });
}

function firstLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

export interface Viability {
  ok: boolean;
  problems: string[];
  degraded: string[];
}

/** Capture works when at least one receive hook and one send hook attached whole. */
export function captureViability(programs: ProgramReport[]): Viability {
  const status = new Map(hookStatuses(programs).map((s) => [s.hook, s]));
  const working = (hooks: readonly string[]): string[] => hooks.filter((h) => status.get(h)?.ok);
  const problems: string[] = [];
  if (working(INGRESS_HOOKS).length === 0) problems.push(`no receive hook attached (${INGRESS_HOOKS.join(', ')})`);
  if (working(EGRESS_HOOKS).length === 0) problems.push(`no send hook attached (${EGRESS_HOOKS.join(', ')})`);
  const degraded = [...status.values()].filter((s) => !s.ok).map((s) => s.hook);
  return { ok: problems.length === 0, problems, degraded };
}
