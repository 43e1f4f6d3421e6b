import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdGenerator, parseTraceparent } from '../../src/telemetry/ids';
import { LocalLinker } from '../../src/telemetry/linker';

const c = { addr: '127.0.0.1', port: 40000 };
const s = { addr: '127.0.0.1', port: 8080 };

test('a server finds the client request of the reversed 4-tuple with the same request line, once', () => {
  const l = new LocalLinker();
  l.registerClient(c, s, 'GET /a', { traceId: 't1', spanId: 's1', traceFlags: 1 });
  l.registerClient(c, s, 'GET /b', { traceId: 't2', spanId: 's2', traceFlags: 1 });
  assert.equal(l.findClient(s, c, 'GET /b')?.spanId, 's2');
  assert.equal(l.findClient(s, c, 'GET /b'), undefined, 'taken');
  assert.equal(l.findClient(s, { addr: '127.0.0.1', port: 40001 }, 'GET /a'), undefined, 'another connection');
  assert.equal(l.findClient(s, c, 'GET /a')?.spanId, 's1');
  assert.equal(l.size, 0);
});

test('the linker is bounded: the oldest registrations go first, counted', () => {
  const l = new LocalLinker(2);
  for (let i = 0; i < 3; i++) l.registerClient({ addr: 'a', port: i }, s, 'GET /', { traceId: 't', spanId: `s${i}`, traceFlags: 1 });
  assert.equal(l.size, 2);
  assert.equal(l.dropped, 1);
  assert.equal(l.findClient(s, { addr: 'a', port: 0 }, 'GET /'), undefined);
});

test('traceparent: valid values parse, invalid ones do not', () => {
  assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: 1,
  });
  for (const bad of ['', 'junk', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra']) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
  assert.ok(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future'), 'a later version may carry more fields');
});

test('ids are hex of the right length and not repeated', () => {
  const g = new IdGenerator();
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const t = g.traceId();
    assert.match(t, /^[0-9a-f]{32}$/);
    seen.add(t);
    assert.match(g.spanId(), /^[0-9a-f]{16}$/);
  }
  assert.equal(seen.size, 5000);
});
