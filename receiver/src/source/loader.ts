/**
 * Opens the capture programs. The default object needs bpf_rdonly_cast (Linux
 * 6.2+); when the kernel refuses it, the compat object (the same programs with
 * helper reads) is loaded instead, so one build runs on every BTF kernel.
 *
 * Example:
 *   const { probe, programs, object } = openCaptureProbe({ rodata: { self_tgid: process.pid } });
 */
import * as path from 'node:path';
import { fromNative, KindlingError } from '../errors';
import { artifacts } from '../util/paths';
import { loadAddon } from './native';
import type { NativeProbe, OpenOptions, ProgramReport } from './native';

export interface OpenedProbe {
  probe: NativeProbe;
  /** per-program load results (attach comes next) */
  programs: ProgramReport[];
  /** the object that loaded */
  object: string;
  /** why the default object was not used, when the compat one was */
  fallback?: string;
}

function tryOpen(object: string, options: OpenOptions): OpenedProbe {
  const probe = new (loadAddon().Probe)();
  try {
    return { probe, programs: probe.open(object, options), object };
  } catch (e) {
    probe.close();
    throw fromNative(e);
  }
}

export interface CaptureProbeOptions extends OpenOptions {
  /** load exactly this object, no fallback */
  objectPath?: string;
  /** the default and compat objects (tests substitute them) */
  objects?: { main: string; compat: string };
}

/** programs that load only when their feature is on (rodata knob): off, they cost nothing, not even a call */
export const STACK_PROGRAMS = ['kd_stack_sys_exit'] as const;

export function openCaptureProbe(options: CaptureProbeOptions): OpenedProbe {
  const { objectPath, objects, ...rest } = options;
  // a program on every syscall's exit is not attached unless profiling.stacks asks for it
  const open: OpenOptions = rest.rodata?.['stacks'] ? rest : { ...rest, skip: [...(rest.skip ?? []), ...STACK_PROGRAMS] };
  if (objectPath !== undefined) return tryOpen(objectPath, open);
  const main = objects?.main ?? artifacts.bpfObject();
  const compat = objects?.compat ?? artifacts.bpfCompatObject();
  try {
    return tryOpen(main, open);
  } catch (first) {
    const e = first as KindlingError;
    // no privileges is no privileges for either object
    if (e.code === 'KINDLING_ERR_PERMISSION' || e.code === 'KINDLING_ERR_BPF_OPTION') throw e;
    try {
      const opened = tryOpen(compat, open);
      return { ...opened, fallback: firstLine(e.message) };
    } catch (second) {
      throw new KindlingError(e.code, `${e.message}\n(the compat object ${path.basename(compat)} failed too: ${firstLine((second as Error).message)})`, { cause: first });
    }
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
