/**
 * The two ways the benchmarks put programs on the hooks:
 *  - CountingCapture: the real capture (EbpfSource, default options) with a
 *    consumer that counts decoded events per process, so a run can check that
 *    what one loop process did actually arrived;
 *  - attachEmpty: build/bpf/empty.bpf.o through the raw addon, the same hooks
 *    with programs that return at once (the cost of merely having a program).
 *
 * Example:
 *   const cap = await CountingCapture.start();
 *   try { const r = await runLoop(...); await cap.drain(r.pid, r.syscalls); }
 *   finally { await cap.stop(); }
 */
import { Kind } from '../../receiver/src/events/abi';
import { EbpfSource } from '../../receiver/src/source/ebpf-source';
import type { EbpfSourceOptions } from '../../receiver/src/source/ebpf-source';
import type { SourceBatch, SourceStats } from '../../receiver/src/source/event-source';
import { loadAddon } from '../../receiver/src/source/native';
import type { ProgramReport } from '../../receiver/src/source/native';
import { ensureTracefs } from '../../receiver/src/system/environment';
import { artifacts } from '../../receiver/src/util/paths';
import { onInterrupt } from './cleanup';

export interface PidCounts {
  /** read/write-family records */
  data: number;
  /** connect/accept/close records */
  conn: number;
}

/** Programs that did not attach, as "name: errno message" lines. */
export function attachFailures(programs: ProgramReport[]): string[] {
  return programs.filter((p) => !p.attached).map((p) => `${p.name}: ${p.errno ? `errno ${p.errno} ` : ''}${p.message}`.trim());
}

export class CountingCapture {
  readonly programs: ProgramReport[];
  /** every decoded event, all processes */
  events = 0;
  #perPid = new Map<number, PidCounts>();
  #source: EbpfSource;
  #release: () => void;

  private constructor(source: EbpfSource, programs: ProgramReport[]) {
    this.#source = source;
    this.programs = programs;
    this.#release = onInterrupt(() => void source.stop());
  }

  /** Attach the real programs and start consuming; `extra` sees every batch too. */
  static async start(options: EbpfSourceOptions = {}, extra?: (b: SourceBatch) => void): Promise<CountingCapture> {
    const source = new EbpfSource(options);
    let self: CountingCapture | undefined;
    const { programs } = await source.start((b) => {
      self?.count(b);
      extra?.(b);
    });
    self = new CountingCapture(source, programs);
    return self;
  }

  private count(b: SourceBatch): void {
    this.events += b.events.length;
    for (const ev of b.events) {
      // state records carry whatever task ran the transition (often softirq): not counted per pid
      if (ev.kind === Kind.SockState) continue;
      let c = this.#perPid.get(ev.pid);
      if (c === undefined) {
        c = { data: 0, conn: 0 };
        this.#perPid.set(ev.pid, c);
      }
      if (ev.kind === Kind.SockData) c.data++;
      else c.conn++;
    }
  }

  counts(pid: number): PidCounts {
    return this.#perPid.get(pid) ?? { data: 0, conn: 0 };
  }

  /**
   * Wait until `expected` data events of `pid` have arrived, or nothing new has
   * arrived for idleMs (the rest is lost or never comes). Records sit in the
   * ring until the reader's next poll, so a child's exit is not the end of its events.
   */
  async drain(pid: number, expected: number, idleMs = 300, maxMs = 10_000): Promise<PidCounts> {
    const start = Date.now();
    let last = this.events;
    let lastChange = start;
    while (this.counts(pid).data < expected && Date.now() - lastChange < idleMs && Date.now() - start < maxMs) {
      await sleep(10);
      if (this.events !== last) {
        last = this.events;
        lastChange = Date.now();
      }
    }
    return this.counts(pid);
  }

  stats(): SourceStats {
    return this.#source.stats();
  }

  recursionMisses(): number {
    return (this.#source.nativeStats()?.programs ?? []).reduce((s, p) => s + p.recursionMisses, 0);
  }

  handoffWaits(): number {
    return this.#source.nativeStats()?.handoffWaits ?? 0;
  }

  async stop(): Promise<void> {
    this.#release();
    await this.#source.stop();
  }
}

export interface EmptyProbe {
  programs: ProgramReport[];
  close(): void;
}

/** Attach the empty programs (no maps, no ring buffer: nothing to start or consume). */
export function attachEmpty(): EmptyProbe {
  ensureTracefs();
  const { Probe } = loadAddon();
  const probe = new Probe();
  const release = onInterrupt(() => probe.close());
  const close = (): void => {
    release();
    probe.close();
  };
  try {
    probe.open(artifacts.emptyBpfObject(), {});
    return { programs: probe.attach(), close };
  } catch (e) {
    close();
    throw e;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
