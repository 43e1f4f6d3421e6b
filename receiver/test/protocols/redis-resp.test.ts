// The RESP framer on recorded redis-server traffic, each direction of each conversation
// parsed whole, byte by byte, split at every index and with every write's captured
// prefix cut short; then hand-made RESP3 corners and properties over random bytes.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { RespParser, splitInline } from '../../src/protocols/redis-resp';
import type { RespEvent, RespValue } from '../../src/protocols/redis-resp';
import type { Segment } from '../../src/protocols/types';
import { CONVERSATIONS } from './fixtures/redis';
import type { Seg } from './fixtures/redis';
import { TRUNCATED } from './fixtures/redis-truncated';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const enterNs = (i: number): number => 1000 * (i + 1);
const exitNs = (i: number): number => 1000 * (i + 1) + 500;

type Side = 'request' | 'reply';

interface Run {
  values: RespValue[];
  lost: Array<Extract<RespEvent, { kind: 'lost' }>>;
}

function run(side: Side, segs: Segment[], o: { keepItems?: number } = {}): Run {
  const p = new RespParser({ side, ...o });
  const values: RespValue[] = [];
  const lost: Run['lost'] = [];
  for (const s of segs) for (const e of p.push(s)) (e.kind === 'value' ? values.push(e.value) : lost.push(e));
  return { values, lost };
}

/** One segment per range of `stream` between `starts` (sorted, first 0). */
function segmentsAt(stream: Uint8Array, starts: number[]): Segment[] {
  return starts.map((s, i) => {
    const data = stream.subarray(s, starts[i + 1] ?? stream.length);
    return { data, len: data.length, enterNs: enterNs(i), exitNs: exitNs(i) };
  });
}

const segmentOf = (starts: number[], offset: number): number => {
  let i = 0;
  while (i + 1 < starts.length && (starts[i + 1] ?? Infinity) <= offset) i++;
  return i;
};

const shape = (v: RespValue): Record<string, unknown> => ({ type: String.fromCharCode(v.type), text: v.text, count: v.count, items: v.items, errors: v.errors, truncated: v.truncated });

/** One direction of a conversation: its captured segments as written. */
function direction(segs: Seg[], out: boolean): { stream: Uint8Array; starts: number[]; natural: Segment[]; cut: boolean } {
  const mine = segs.filter((s) => s.out === out);
  const natural = mine.map((s, i) => ({ data: bytes(s.data), len: s.len ?? s.data.length, enterNs: enterNs(i), exitNs: exitNs(i) }));
  const starts: number[] = [];
  let at = 0;
  for (const s of mine) {
    starts.push(at);
    at += s.data.length;
  }
  return { stream: bytes(mine.map((s) => s.data).join('')), starts, natural, cut: mine.some((s) => s.len !== undefined && s.len > s.data.length) };
}

describe('RESP framing of recorded conversations', () => {
  for (const c of CONVERSATIONS) {
    for (const [side, out] of [['request', true], ['reply', false]] as const) {
      const d = direction(c.segments, out);
      const n = d.stream.length;
      // byte by byte tells each value's first and last byte
      const byByte = run(side, segmentsAt(d.stream, Array.from({ length: n }, (_, i) => i)));
      const ranges = byByte.values.map((v) => [(v.startNs - 1000) / 1000, (v.endNs - 1500) / 1000] as const);
      const expect = (starts: number[]): Array<Record<string, unknown>> =>
        byByte.values.map((v, i) => ({ ...shape(v), startNs: enterNs(segmentOf(starts, ranges[i]?.[0] ?? 0)), endNs: exitNs(segmentOf(starts, ranges[i]?.[1] ?? 0)) }));
      const check = (starts: number[], what: string): void => {
        const r = run(side, segmentsAt(d.stream, starts));
        assert.deepEqual(r.lost, [], `${c.name} ${side} (${what}): lost`);
        assert.deepEqual(
          r.values.map((v) => ({ ...shape(v), startNs: v.startNs, endNs: v.endNs })),
          expect(starts),
          `${c.name} ${side} (${what})`,
        );
      };

      test(`${c.name}, ${side}s: natural writes, whole, byte by byte, split at every index`, () => {
        assert.deepEqual(byByte.lost, []);
        check(d.starts, 'natural writes');
        check([0], 'whole');
        for (let k = 1; k < n; k++) check([0, k], `split at ${k}`);
      });

      test(`${c.name}, ${side}s: every truncation of each write's captured prefix`, () => {
        const full = run(side, d.natural);
        for (let j = 0; j < d.natural.length; j++) {
          const s = d.natural[j];
          if (s === undefined) continue;
          for (let k = 0; k < s.data.length; k++) {
            const segs = d.natural.map((x, i) => (i === j ? { ...x, data: x.data.subarray(0, k) } : x));
            checkTruncated(full.values, run(side, segs), j, `${c.name} ${side}: write ${j} captured ${k}/${s.len}`);
          }
        }
      });
    }
  }
});

/**
 * With write `j` cut short: every value before it is exact; every value is one of the
 * full run's (in order), or a truncated one that agrees with it on what it reports;
 * nothing is lost to an error (truncation is not a parse error).
 */
function checkTruncated(full: RespValue[], r: Run, j: number, what: string): void {
  for (const l of r.lost) assert.equal(l.error, false, `${what}: ${l.reason}`);
  let e = 0;
  for (const v of r.values) {
    let found = false;
    while (e < full.length && !found) {
      const x = full[e];
      e++;
      if (x === undefined) break;
      // what a value reports agrees with the full run; contents in lost bytes are unknown (undefined)
      const agrees =
        v.type === x.type &&
        v.startNs === x.startNs &&
        v.items.every((it, i) => it === undefined || it === x.items[i]) &&
        (v.text === undefined || v.text === x.text) &&
        (v.errors ?? []).every((er) => (x.errors ?? []).some((xe) => xe.index === er.index && xe.text === er.text));
      found = agrees && (v.truncated || (v.count === x.count && v.endNs === x.endNs));
    }
    assert.ok(found, `${what}: unexpected ${JSON.stringify(shape(v))}`);
  }
  const before = full.filter((v) => v.endNs < enterNs(j));
  // (a value before the cut is exact)
  assert.deepEqual(r.values.slice(0, before.length).map(shape), before.map(shape), `${what}: values before the cut`);
}

describe('RESP framing of truncated captures', () => {
  for (const c of TRUNCATED) {
    test(`${c.name}: commands whole, replies resynchronised, never an error`, () => {
      for (const [side, out] of [['request', true], ['reply', false]] as const) {
        const d = direction(c.segments, out);
        const r = run(side, d.natural);
        for (const l of r.lost) assert.equal(l.error, false, l.reason);
        assert.ok(r.values.length > 0);
        // every captured prefix cut further still parses without errors
        for (let j = 0; j < d.natural.length; j++) {
          const s = d.natural[j];
          if (s === undefined) continue;
          for (let k = 0; k < s.data.length; k += 7) {
            const rr = run(side, d.natural.map((x, i) => (i === j ? { ...x, data: x.data.subarray(0, k) } : x)));
            for (const l of rr.lost) assert.equal(l.error, false, `${c.name} ${side} ${j}/${k}: ${l.reason}`);
          }
        }
      }
    });
  }

  test('redis-cli: the COMMAND DOCS reply is reported truncated at its first read; the replies after it are exact', () => {
    const d = direction(TRUNCATED[0]?.segments ?? [], false);
    const r = run('reply', d.natural);
    assert.deepEqual([r.values[0]?.type, r.values[0]?.count, r.values[0]?.truncated, r.values[0]?.endNs], [0x2a, 480, true, exitNs(0)]);
    // the continuation reads may look like values to the parser (the session knows better, by time)
    assert.deepEqual(
      r.values.slice(-9).map((v) => [String.fromCharCode(v.type), v.truncated, v.endNs]),
      [['+', false, exitNs(11)], ['$', false, exitNs(12)], ['-', false, exitNs(13)], ['*', false, exitNs(14)], [':', false, exitNs(15)], [':', false, exitNs(16)], ['*', false, exitNs(17)], ['+', false, exitNs(18)], ['$', false, exitNs(19)]],
    );
  });
});

// ---- corners ------------------------------------------------------------------------------

const one = (side: Side, s: string, len?: number, o: { keepItems?: number } = {}): Run => run(side, [{ data: bytes(s), len: len ?? s.length, enterNs: 1, exitNs: 2 }], o);

test('commands: arrays of bulk strings and inline commands (quotes), blank lines ignored', () => {
  const r = one('request', '*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\nSET "a b" \'c\'\r\n*1\r\n$4\r\nPING\r\n');
  assert.deepEqual(
    r.values.map((v) => [v.type, v.count, v.items]),
    [
      [0x2a, 2, ['GET', 'k']],
      [0, 1, ['PING']],
      [0, 3, ['SET', 'a b', 'c']],
      [0x2a, 1, ['PING']],
    ],
  );
  assert.deepEqual(splitInline('SET "a\\"b" x'), ['SET', 'a"b', 'x']);
  assert.deepEqual(splitInline('SET "unbalanced'), []);
});

test('commands: nested arrays, non-bulk arguments and streamed arrays are errors', () => {
  for (const s of ['*1\r\n*1\r\n$1\r\nx\r\n', '*2\r\n$3\r\nGET\r\n:1\r\n', '*?\r\n$4\r\nPING\r\n.\r\n', '*1\r\n$?\r\n']) {
    const r = one('request', s);
    assert.equal(r.lost[0]?.error, true, JSON.stringify(s));
  }
});

test('replies: RESP3 streamed strings and aggregates, attributes inside arrays, nulls', () => {
  const r = one('reply', '$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n*?\r\n:1\r\n+two\r\n.\r\n*2\r\n|1\r\n+a\r\n:1\r\n$1\r\nx\r\n_\r\n$1\r\ny\r\n*-1\r\n$-1\r\n');
  assert.deepEqual(
    r.values.map((v) => [String.fromCharCode(v.type), v.count, v.items]),
    [
      ['$', -2, []],
      ['*', -2, ['1', 'two']],
      ['*', 2, ['x']],
      ['$', 1, []],
      ['*', -1, []],
      ['$', -1, []],
    ],
  );
  assert.deepEqual(r.lost, []);
});

test('replies: errors among an aggregate\'s elements, bulk errors, and a top-level bulk error keep their text', () => {
  const r = one('reply', '*3\r\n+OK\r\n-WRONGTYPE bad\r\n!9\r\nERR x y z\r\n!5\r\nOOPS!\r\n');
  assert.deepEqual(r.values[0]?.errors, [
    { index: 1, text: 'WRONGTYPE bad' },
    { index: 2, text: 'ERR x y z' },
  ]);
  assert.equal(r.values[1]?.text, 'OOPS!');
});

test('bad bytes are errors, not values: a bad type, a bad length, a missing CRLF, nesting past 64', () => {
  for (const s of ['?x\r\n', '$abc\r\n', '$3\r\nabcd\r\n', ':12a\r\n', '#x\r\n', `${'*1\r\n'.repeat(65)}:1\r\n`, '+OK\n']) {
    const r = one('reply', s);
    assert.equal(r.values.length, 0, JSON.stringify(s));
    assert.equal(r.lost[0]?.error, true, JSON.stringify(s));
  }
});

test('bulk payloads are skipped by count, captured or not; a header in lost bytes ends the value, truncated', () => {
  const big = one('reply', '$1000000\r\nabc', 1_000_000 + 12);
  assert.deepEqual(big.lost, []);
  const p = new RespParser({ side: 'reply' });
  p.push({ data: bytes('$1000000\r\nabc'), len: 1_000_000 + 12, enterNs: 1, exitNs: 2 });
  const after = p.push({ data: bytes('+OK\r\n'), len: 5, enterNs: 3, exitNs: 4 });
  assert.deepEqual(after.map((e) => e.kind === 'value' && [e.value.type, e.value.startNs, e.value.endNs]), [[0x2b, 3, 4]]);
  const cut = one('reply', '*3\r\n:1\r\n', 100);
  assert.deepEqual([cut.values[0]?.truncated, cut.values[0]?.items, cut.lost[0]?.error], [true, ['1'], false]);
});

test('memory is bounded: a 10 MB line without an end is an error once past 1 MB, with a fixed buffer', () => {
  const p = new RespParser({ side: 'reply' });
  const chunk = new Uint8Array(65536).fill(0x61);
  chunk[0] = 0x2b;
  let events: RespEvent[] = [];
  for (let i = 0; i < 160 && events.length === 0; i++) events = p.push({ data: i === 0 ? chunk : chunk.fill(0x61), len: 65536, enterNs: i, exitNs: i });
  assert.equal(events[0]?.kind === 'lost' && events[0].error, true);
});

// ---- properties ---------------------------------------------------------------------------

const randomSegments = fc.array(fc.record({ data: fc.uint8Array({ maxLength: 200 }), extra: fc.oneof(fc.constant(0), fc.nat(3000)) }), { maxLength: 20 });

test('property: random bytes in random segments never throw', () => {
  fc.assert(
    fc.property(fc.constantFrom<Side>('request', 'reply'), randomSegments, (side, segs) => {
      const r = run(
        side,
        segs.map((s, i) => ({ data: s.data, len: s.data.length + s.extra, enterNs: i, exitNs: i })),
      );
      for (const l of r.lost) assert.ok(!l.reason.startsWith('internal'), l.reason);
    }),
    { numRuns: 2000 },
  );
});

test('property: RESP-looking noise and mutated recordings never throw', () => {
  const token = fc.constantFrom('*', '$', '+', '-', ':', '%', '~', '>', '|', '_', '#', ',', '!', '=', '(', '.', ';', '?', '3', '-1', '0', '\r\n', 'OK', 'GET', 'x');
  const noise = fc.array(token, { maxLength: 60 }).map((a) => bytes(a.join('')));
  fc.assert(
    fc.property(fc.constantFrom<Side>('request', 'reply'), noise, fc.array(fc.nat(), { maxLength: 5 }), (side, b, cuts) => {
      const starts = [...new Set([0, ...cuts.map((c) => (b.length ? c % b.length : 0))])].sort((x, y) => x - y);
      const r = run(side, segmentsAt(b, starts));
      for (const l of r.lost) assert.ok(!l.reason.startsWith('internal'), l.reason);
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...CONVERSATIONS),
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (c, out, edits, cuts) => {
        const d = direction(c.segments, out);
        const b = d.stream.slice();
        if (b.length === 0) return;
        for (const [at, v] of edits) b[at % b.length] = v;
        const starts = [...new Set([0, ...cuts.map((x) => x % b.length)])].sort((x, y) => x - y);
        const r = run(out ? 'request' : 'reply', segmentsAt(b, starts));
        for (const l of r.lost) assert.ok(!l.reason.startsWith('internal'), l.reason);
        assert.ok(r.values.length <= b.length);
      },
    ),
    { numRuns: 2000 },
  );
});
