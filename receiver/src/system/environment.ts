/**
 * What the kernel and this process offer eBPF capture: kernel release, BTF,
 * tracefs (mounted on demand when allowed) and capabilities. Everything here
 * reports; nothing throws.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

export const BTF_PATH = '/sys/kernel/btf/vmlinux';
const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export function kernelCheck(): Check {
  const release = os.release();
  const [maj = 0, min = 0] = release.split('.').map((x) => parseInt(x, 10));
  // ring buffer 5.8, task storage for tracing programs 5.11, bpf_get_current_task_btf 5.11
  const ok = maj > 5 || (maj === 5 && min >= 11);
  return { name: 'kernel', ok, detail: ok ? release : `${release} (5.11 or newer needed)` };
}

export function btfCheck(): Check {
  try {
    const st = fs.statSync(BTF_PATH);
    if (!st.isFile() || st.size === 0) return { name: 'BTF', ok: false, detail: `${BTF_PATH} is empty: the kernel was built without BTF` };
    fs.accessSync(BTF_PATH, fs.constants.R_OK);
    return { name: 'BTF', ok: true, detail: `${BTF_PATH} (${Math.round(st.size / 1024)} KiB)` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y' : code === 'EACCES' ? 'not readable by this user' : String(code);
    return { name: 'BTF', ok: false, detail: `${BTF_PATH} ${why}` };
  }
}

function tracefsMounted(): string | undefined {
  return TRACEFS_DIRS.find((d) => fs.existsSync(`${d}/events/syscalls`));
}

/** tracefs, mounted at /sys/kernel/tracing when missing and allowed. */
export function ensureTracefs(): Check {
  const found = tracefsMounted();
  if (found) return { name: 'tracefs', ok: true, detail: found };
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing'], { stdio: 'pipe' });
  } catch (e) {
    const msg = String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n')[0];
    return { name: 'tracefs', ok: false, detail: `not mounted, and mounting it failed: ${msg} (run as root, or mount -t tracefs tracefs /sys/kernel/tracing)` };
  }
  const now = tracefsMounted();
  return now
    ? { name: 'tracefs', ok: true, detail: `${now} (mounted by kindling)` }
    : { name: 'tracefs', ok: false, detail: 'mounted, but it has no syscall events (CONFIG_FTRACE_SYSCALLS=n?)' };
}

export function effectiveCaps(): bigint {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return m?.[1] ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

export function capabilityCheck(caps: bigint = effectiveCaps()): Check {
  const has = (n: number): boolean => (caps & (1n << BigInt(n))) !== 0n;
  if (has(CAP_BPF) && has(CAP_PERFMON)) return { name: 'capabilities', ok: true, detail: 'CAP_BPF, CAP_PERFMON' };
  if (has(CAP_SYS_ADMIN)) return { name: 'capabilities', ok: true, detail: 'CAP_SYS_ADMIN' };
  const missing = [has(CAP_BPF) ? '' : 'CAP_BPF', has(CAP_PERFMON) ? '' : 'CAP_PERFMON'].filter(Boolean).join(' and ');
  return { name: 'capabilities', ok: false, detail: `missing ${missing} (or CAP_SYS_ADMIN): run as root or grant them` };
}

/** Every environment check, tracefs mounted when allowed. */
export function environmentChecks(): Check[] {
  return [kernelCheck(), btfCheck(), ensureTracefs(), capabilityCheck()];
}
