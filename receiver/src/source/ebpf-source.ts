/**
 * The live source: loads bpf/kindling.bpf.o through the native addon, attaches
 * every hook it can, and delivers decoded batches.
 *
 * Example:
 *   const source = new EbpfSource({ payloadBytes: 1024, pid: 4242 });
 *   const { programs } = await source.start((b) => console.log(b.events.length));
 *   ...
 *   await source.stop();
 */
import { PAYLOAD_DEFAULT, PAYLOAD_MAX } from '../events/abi';
import { decodeBatch } from '../events/decode';
import { KindlingError, fromNative } from '../errors';
import { btfCheck, capabilityCheck, ensureTracefs } from '../system/environment';
import { artifacts } from '../util/paths';
import * as fs from 'node:fs';
import { deferred, emptyHookStats, namedHookStats } from './event-source';
import type { EventSource, SourceBatch, SourceStats, StartReport } from './event-source';
import { captureViability } from './hooks';
import { openCaptureProbe } from './loader';
import type { NativeProbe, NativeStats } from './native';

export interface EbpfSourceOptions {
  /** payload prefix captured per syscall: a power of two, 16..4096 (default 512) */
  payloadBytes?: number;
  /** ring buffer size: a power of two, 64 KiB..1 GiB (default 8 MiB) */
  ringBytes?: number;
  /** capture only this process (kernel-side filter) */
  pid?: number;
  /** capture only sockets with this local or remote port (kernel-side filter) */
  port?: number;
  /** ring backlog in bytes that wakes the reader early (default ringBytes / 4) */
  wakeupBytes?: number;
  /** how often the reader drains the ring without a wake-up (default 10 ms) */
  pollMs?: number;
  /** the BPF object (default build/bpf/kindling.bpf.o, falling back to kindling-compat.bpf.o) */
  objectPath?: string;
  /** capture the agent's own process too (default false) */
  includeSelf?: boolean;
  /** trace profiling: per-thread scheduler accounting and a counter snapshot in data records (default false; the agent turns it on) */
  profiling?: boolean;
  /** trace profiling tier 2: records of long off-CPU and run-queue intervals (default: as profiling) */
  slices?: boolean;
  /** trace profiling tier 3: user stacks after blocks >= 1 ms (default false; needs profiling) */
  stacks?: boolean;
}

const isPow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

function validate(o: EbpfSourceOptions): Required<Omit<EbpfSourceOptions, 'pid' | 'port' | 'objectPath'>> & { pid: number; port: number; objectPath: string | undefined } {
  const fail = (msg: string): never => {
    throw new KindlingError('KINDLING_ERR_INVALID_OPTION', msg);
  };
  const payloadBytes = o.payloadBytes ?? PAYLOAD_DEFAULT;
  if (!isPow2(payloadBytes) || payloadBytes < 16 || payloadBytes > PAYLOAD_MAX) {
    fail(`payloadBytes must be a power of two from 16 to ${PAYLOAD_MAX}, got ${payloadBytes}`);
  }
  const ringBytes = o.ringBytes ?? 8 * 1024 * 1024;
  if (!isPow2(ringBytes) || ringBytes < 65536 || ringBytes > 1 << 30) {
    fail(`ringBytes must be a power of two from 64 KiB to 1 GiB, got ${ringBytes}`);
  }
  const pid = o.pid ?? 0;
  if (!Number.isInteger(pid) || pid < 0 || pid > 0x7fffffff) fail(`pid must be a process id, got ${o.pid}`);
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`port must be 1..65535, got ${o.port}`);
  const wakeupBytes = o.wakeupBytes ?? ringBytes / 4;
  if (!Number.isInteger(wakeupBytes) || wakeupBytes < 0 || wakeupBytes > ringBytes) fail(`wakeupBytes must be 0..ringBytes, got ${wakeupBytes}`);
  const pollMs = o.pollMs ?? 10;
  if (!Number.isInteger(pollMs) || pollMs < 1 || pollMs > 1000) fail(`pollMs must be 1..1000, got ${pollMs}`);
  return {
    payloadBytes,
    ringBytes,
    pid,
    port,
    wakeupBytes,
    pollMs,
    objectPath: o.objectPath,
    includeSelf: o.includeSelf ?? false,
    profiling: o.profiling ?? false,
    slices: o.slices ?? o.profiling ?? false,
    stacks: (o.stacks ?? false) && (o.profiling ?? false),
  };
}

export class EbpfSource implements EventSource {
  readonly name = 'ebpf';
  /** the BPF object that loaded (the compat one on kernels before 6.2) */
  object: string | undefined;
  /** why the default object was not used */
  fallback: string | undefined;
  readonly options: ReturnType<typeof validate>;
  #probe: NativeProbe | undefined;
  #done = deferred();
  #events = 0;
  #malformedBatches = 0;
  #unknown = 0;
  #lastNative: NativeStats | undefined;

  constructor(options: EbpfSourceOptions = {}) {
    this.options = validate(options);
  }

  get finished(): Promise<void> {
    return this.#done.promise;
  }

  async start(onBatch: (batch: SourceBatch) => void): Promise<StartReport> {
    if (this.#probe) throw new KindlingError('KINDLING_ERR_ALREADY_STARTED', 'this source is already started');
    const o = this.options;
    const object = o.objectPath ?? artifacts.bpfObject();
    if (!fs.existsSync(object)) {
      throw new KindlingError('KINDLING_ERR_BPF_OBJECT_MISSING', `the BPF object is not built (${object}); run: npm run build`);
    }
    const btf = btfCheck();
    if (!btf.ok) throw new KindlingError('KINDLING_ERR_NO_BTF', `eBPF capture needs kernel BTF: ${btf.detail}`);
    const caps = capabilityCheck();
    if (!caps.ok) throw new KindlingError('KINDLING_ERR_PERMISSION', `eBPF capture needs privileges: ${caps.detail}`);
    // tracepoint attach goes through tracefs; a failure shows up per hook below
    ensureTracefs();

    const opened = openCaptureProbe({
      ...(o.objectPath !== undefined ? { objectPath: o.objectPath } : {}),
      ringBytes: o.ringBytes,
      rodata: {
        self_tgid: o.includeSelf ? 0 : process.pid,
        filter_tgid: o.pid,
        filter_port: o.port,
        payload_cap: o.payloadBytes,
        wakeup_bytes: o.wakeupBytes,
        profiling: o.profiling ? 1 : 0,
        slices: o.slices ? 1 : 0,
        stacks: o.stacks ? 1 : 0,
      },
    });
    const probe = opened.probe;
    let programs;
    try {
      programs = probe.attach();
    } catch (e) {
      probe.close();
      throw fromNative(e);
    }
    this.object = opened.object;
    this.fallback = opened.fallback;
    const v = captureViability(programs);
    if (!v.ok) {
      probe.close();
      throw new KindlingError('KINDLING_ERR_NO_HOOKS', `capture cannot work: ${v.problems.join('; ')}`);
    }
    probe.start(
      (buf, _records) => {
        const r = decodeBatch(buf);
        this.#events += r.events.length;
        this.#unknown += r.unknown;
        if (r.error) this.#malformedBatches++;
        onBatch({ events: r.events, raw: buf });
      },
      { pollMs: o.pollMs },
    );
    this.#probe = probe;
    return { programs };
  }

  async stop(): Promise<void> {
    if (this.#probe) {
      this.#lastNative = this.#probe.stats();
      this.#probe.close();
      this.#probe = undefined;
    }
    this.#done.resolve();
  }

  /** The native statistics, including per-program recursion misses. */
  nativeStats(): NativeStats | undefined {
    return this.#probe ? this.#probe.stats() : this.#lastNative;
  }

  stats(): SourceStats {
    const n = this.nativeStats();
    const { hooks, lost } = n ? namedHookStats(n.hooks) : { hooks: emptyHookStats(), lost: {} };
    const recursion = n ? n.programs.reduce((s, p) => s + p.recursionMisses, 0) : 0;
    if (recursion) lost['kernel_recursion'] = recursion;
    return {
      events: this.#events,
      bytes: n?.bytes ?? 0,
      batches: n?.batches ?? 0,
      malformedBatches: this.#malformedBatches,
      unknownRecords: this.#unknown,
      hooks,
      lost,
      ring: n?.ring ?? { size: 0, used: 0 },
    };
  }
}
