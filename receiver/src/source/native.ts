/**
 * The native addon's surface (native/src/addon.cc), typed. Loading is lazy so
 * commands that need no kernel access (replay, help) work without it.
 */
import * as fs from 'node:fs';
import { KindlingError } from '../errors';
import { artifacts } from '../util/paths';

export interface ProgramReport {
  name: string;
  /** libbpf section, e.g. "tracepoint/syscalls/sys_enter_read" */
  section: string;
  loaded: boolean;
  attached: boolean;
  /** positive errno of the failed step, 0 when it worked */
  errno: number;
  message: string;
}

export interface NativeStats {
  records: number;
  bytes: number;
  batches: number;
  malformed: number;
  handoffWaits: number;
  /** kernel counters summed over CPUs: hooks[hook][counter] (see abi.ts) */
  hooks: number[][];
  ring: { size: number; used: number };
  programs: { name: string; recursionMisses: number }[];
}

export interface OpenOptions {
  ringBytes?: number;
  rodata?: Record<string, number | bigint>;
  /** programs not to load or attach (they are left out of the reports too) */
  skip?: string[];
}

export interface StartOptions {
  pollMs?: number;
  batchBytes?: number;
  queueBatches?: number;
}

export interface NativeProbe {
  open(objectPath: string, options?: OpenOptions): ProgramReport[];
  attach(): ProgramReport[];
  start(onBatch: (batch: Buffer, records: number) => void, options?: StartOptions): void;
  stats(): NativeStats;
  close(): void;
}

interface Addon {
  Probe: new () => NativeProbe;
  abiVersion: number;
}

let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (addon) return addon;
  const file = artifacts.addon();
  if (!fs.existsSync(file)) {
    throw new KindlingError('KINDLING_ERR_NATIVE_MISSING', `the native addon is not built (${file}); run: npm run build`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addon = require(file) as Addon;
  return addon;
}
