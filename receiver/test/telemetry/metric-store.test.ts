import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { MetricStore, OVERFLOW_ATTRIBUTE } from '../../src/telemetry/metric-store';
import type { ResourceRef } from '../../src/telemetry/metric-store';

const ref = (name: string): ResourceRef => ({ key: name, resource: resourceFromAttributes({ 'service.name': name }) });

test('every measurement lands in its bucket: (prev, bound], count, sum, min and max', () => {
  const s = new MetricStore();
  const h = s.histogram('d', { unit: 's', boundaries: [0.1, 1] });
  for (const v of [0.05, 0.1, 0.2, 1, 5]) h.record(ref('a'), { m: 'GET' }, v);
  const [rm] = s.collect();
  const metric = rm?.scopeMetrics[0]?.metrics[0];
  assert.equal(metric?.dataPointType, DataPointType.HISTOGRAM);
  const p = metric?.dataPoints[0] as { value: { buckets: { counts: number[] }; count: number; sum: number; min: number; max: number } };
  assert.deepEqual(p.value.buckets.counts, [2, 2, 1]);
  assert.equal(p.value.count, 5);
  assert.equal(p.value.sum, 6.35);
  assert.equal(p.value.min, 0.05);
  assert.equal(p.value.max, 5);
});

test('one ResourceMetrics per resource, series per attribute set', () => {
  const s = new MetricStore();
  const c = s.counter('n', { unit: '1' });
  c.add(ref('a'), { x: 1 });
  c.add(ref('a'), { x: 1 }, 2);
  c.add(ref('a'), { x: 2 });
  c.add(ref('b'), { x: 1 });
  const out = s.collect();
  assert.equal(out.length, 2);
  const a = out.find((r) => r.resource.attributes['service.name'] === 'a');
  const points = a?.scopeMetrics[0]?.metrics[0]?.dataPoints.map((p) => [p.attributes['x'], p.value]);
  assert.deepEqual(points, [[1, 3], [2, 1]]);
});

test('past the series cap, measurements go to one overflow series and are counted', () => {
  const s = new MetricStore({ maxSeriesPerMetric: 3 });
  const c = s.counter('n', { unit: '1' });
  for (let i = 0; i < 10; i++) c.add(ref('a'), { i });
  const points = s.collect()[0]?.scopeMetrics[0]?.metrics[0]?.dataPoints ?? [];
  assert.equal(points.length, 4);
  const overflow = points.find((p) => p.attributes[OVERFLOW_ATTRIBUTE] === true);
  assert.equal(overflow?.value, 7);
  assert.equal(s.overflowed, 7);
});

test('past the resource cap the least recently used resource leaves, counted', () => {
  const s = new MetricStore({ maxResources: 2 });
  const c = s.counter('n', { unit: '1' });
  c.add(ref('a'), {});
  c.add(ref('b'), {});
  c.add(ref('c'), {});
  assert.deepEqual(s.collect().map((r) => r.resource.attributes['service.name']).sort(), ['b', 'c']);
  assert.equal(s.resourcesEvicted, 1);
});

test('a resource silent past the idle limit is dropped at collection', async () => {
  const s = new MetricStore({ resourceIdleMs: 20 });
  s.counter('n', { unit: '1' }).add(ref('a'), {});
  assert.equal(s.collect().length, 1);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(s.collect().length, 0);
  assert.equal(s.resourceCount, 0);
});
