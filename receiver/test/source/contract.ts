/**
 * The EventSource contract: one suite, run against the live eBPF source
 * (ebpf-source.test.ts) and the replay source (replay-source.test.ts). Both must
 * yield the traffic program's socket syscalls exactly, in order per socket, as
 * batches whose raw bytes decode to the very events delivered.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch } from '../../src/events/decode';
import type { KindlingEvent } from '../../src/events/types';
import type { EventSource, SourceBatch } from '../../src/source/event-source';
import { kernelTest } from '../helpers/kernel';
import { assertMatchesManifest } from '../helpers/traffic';
import type { TrafficManifest } from '../helpers/traffic';

export interface ContractSubject {
  source: EventSource;
  /** make the traffic happen (live) or say what the recording holds (replay) */
  drive: () => Promise<TrafficManifest>;
  /** wait until every event of the run has been delivered */
  settle: (manifest: TrafficManifest, delivered: () => KindlingEvent[]) => Promise<void>;
  payloadBytes: number;
  /** release what make() started (child processes) */
  dispose: () => void;
}

export function sourceContract(label: string, make: () => Promise<ContractSubject>, needsKernel: boolean): void {
  const register = needsKernel ? kernelTest : (name: string, fn: () => Promise<void>) => test(name, { timeout: 60_000 }, fn);

  register(`${label}: delivers exactly the traffic program's socket syscalls, as sound batches`, async () => {
    const s = await make();
    const batches: SourceBatch[] = [];
    const events: KindlingEvent[] = [];
    const report = await s.source.start((b) => {
      batches.push(b);
      events.push(...b.events);
    });
    assert.ok(Array.isArray(report.programs));
    let manifest: TrafficManifest;
    try {
      manifest = await s.drive();
      await s.settle(manifest, () => events);
    } finally {
      await s.source.stop();
      s.dispose();
    }
    assertMatchesManifest(events, manifest, s.payloadBytes);

    // raw bytes are the records: decoding them again gives the same events
    for (const b of batches) {
      const again = decodeBatch(b.raw);
      assert.equal(again.error, undefined);
      assert.deepEqual(again.events.map((e) => e.toJSON()), b.events.map((e) => e.toJSON()));
    }
    const st = s.source.stats();
    assert.equal(st.events, events.length, 'stats count every delivered event');
    assert.equal(st.batches >= 1, true);
    assert.equal(st.malformedBatches, 0);
  });

  register(`${label}: stop() is idempotent and settles finished`, async () => {
    const s = await make();
    try {
      await s.source.start(() => undefined);
      await s.source.stop();
      await s.source.stop();
      await s.source.finished;
    } finally {
      s.dispose();
    }
  });
}
