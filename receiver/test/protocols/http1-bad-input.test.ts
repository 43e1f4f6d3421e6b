// HTTP/1 parser robustness: garbage and resync, bad options, a throwing callback.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKindlingError } from '../../src/errors';
import { Http1Parser } from '../../src/protocols/http1';
import { run, seg } from './fixtures/http1-harness';

test('garbage: one error, then the next write that starts a message parses', () => {
  const r = run('request', undefined, [
    seg('GET / HTTP/1.1\r\n\r\n', 0),
    seg('\x00\x01\x02 not http at all', 1),
    seg('more garbage\r\n\r\n', 2),
    seg('POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nz', 3),
  ]);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0] ?? '', /request line/);
  assert.deepEqual(
    r.messages.map((m) => m.target),
    ['/', '/x'],
  );
  assert.deepEqual(r.parser.stats, { messages: 2, errors: 1, resyncs: 1, skippedSegments: 1 });
});

test('bad options are refused at construction', () => {
  assert.throws(() => new Http1Parser({ side: 'both' as 'request' }), (e) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION'));
  assert.throws(() => new Http1Parser({ side: 'request', maxHeaderBytes: 0 }), (e) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION'));
});

test('a throwing requestMethod does not break parsing', () => {
  const r = run('response', undefined, [seg('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', 0)], false, {
    requestMethod: () => {
      throw new Error('caller bug');
    },
  });
  assert.deepEqual([r.errors, r.messages[0]?.bodySize], [[], 1]);
});
