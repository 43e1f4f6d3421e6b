import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { SpanBatcher } from '../../src/export/span-batcher';

function fakeSpan(n: number): ReadableSpan {
  return { name: `s${n}` } as unknown as ReadableSpan;
}

class Flaky implements SpanExporter {
  calls = 0;
  received: string[] = [];
  constructor(readonly failFirst: number) {}
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.calls++;
    if (this.calls <= this.failFirst) return done({ code: ExportResultCode.FAILED });
    this.received.push(...spans.map((s) => s.name));
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

test('batches of at most maxBatchSize, in order, flushed on demand', async () => {
  const e = new Flaky(0);
  const b = new SpanBatcher({ exporters: [e], maxBatchSize: 3, scheduleDelayMs: 10_000 });
  for (let i = 0; i < 7; i++) b.push(fakeSpan(i));
  await b.flush();
  assert.deepEqual(e.received, ['s0', 's1', 's2', 's3', 's4', 's5', 's6']);
  assert.ok(e.calls >= 3);
  assert.deepEqual(b.stats.exported, [7]);
  await b.shutdown();
});

test('a failing exporter is retried with backoff and the batch still arrives', async () => {
  const e = new Flaky(2);
  const b = new SpanBatcher({ exporters: [e], maxBatchSize: 10, scheduleDelayMs: 10_000, exportTimeoutMs: 10_000 });
  b.push(fakeSpan(1));
  const t0 = Date.now();
  await b.flush();
  assert.deepEqual(e.received, ['s1']);
  assert.equal(b.stats.retries, 2);
  assert.ok(Date.now() - t0 >= 500, 'backed off between attempts');
  await b.shutdown();
});

test('a dead exporter gives up at the deadline, counted; a full queue drops, counted', async () => {
  const e = new Flaky(Infinity);
  const b = new SpanBatcher({ exporters: [e], maxQueueSize: 5, maxBatchSize: 5, scheduleDelayMs: 10_000, exportTimeoutMs: 1200 });
  // the first five leave at once as a batch (now retrying); five more fill the queue; three more are dropped
  for (let i = 0; i < 13; i++) b.push(fakeSpan(i));
  assert.equal(b.stats.dropped, 3);
  const t0 = Date.now();
  await b.flush();
  const took = Date.now() - t0;
  assert.deepEqual(b.stats.failed, [10]);
  assert.ok(took < 4000, `bounded: gave up after ${took} ms`);
  assert.ok(e.calls >= 4, `retried (${e.calls} attempts)`);
  await b.shutdown();
});
