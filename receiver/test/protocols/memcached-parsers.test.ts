// The memcached text and binary parsers on recorded memcached traffic: each direction
// parsed whole, byte by byte, split at every index and with every write's captured
// prefix cut short; detection; properties over random and mutated bytes.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { looksLikeMemcached } from '../../src/protocols/memcached';
import { McBinaryParser } from '../../src/protocols/memcached-binary';
import { McTextParser } from '../../src/protocols/memcached-text';
import type { Segment } from '../../src/protocols/types';
import { MC_CONVERSATIONS } from './fixtures/memcached';
import type { McConversation } from './fixtures/memcached';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const enterNs = (i: number): number => 1000 * (i + 1);
const exitNs = (i: number): number => 1000 * (i + 1) + 500;

interface Item {
  what: Record<string, unknown>;
  startNs: number;
  endNs: number;
  truncated: boolean;
}

interface Run {
  items: Item[];
  lost: { error: boolean; reason: string }[];
}

/** Parses one direction: `out` (requests of a client) or not (responses). */
function run(binary: boolean, out: boolean, segs: Segment[]): Run {
  const items: Item[] = [];
  const lost: Run['lost'] = [];
  if (binary) {
    const p = new McBinaryParser(out ? 'request' : 'response');
    for (const s of segs)
      for (const e of p.push(s)) {
        if (e.kind === 'lost') lost.push(e);
        else {
          const { startNs, endNs, truncated, ...what } = e.packet;
          items.push({ what, startNs, endNs, truncated });
        }
      }
  } else {
    const p = new McTextParser(out ? 'request' : 'response');
    for (const s of segs)
      for (const e of p.push(s)) {
        if (e.kind === 'lost') lost.push(e);
        else {
          const m = e.kind === 'request' ? e.request : e.response;
          const { startNs, endNs, truncated, ...what } = m;
          items.push({ what, startNs, endNs, truncated });
        }
      }
  }
  return { items, lost };
}

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

function direction(c: McConversation, out: boolean): { stream: Uint8Array; starts: number[]; natural: Segment[]; cut: boolean } {
  const mine = c.segments.filter((s) => s.out === out);
  const starts: number[] = [];
  let at = 0;
  for (const s of mine) {
    starts.push(at);
    at += s.data.length;
  }
  return {
    stream: bytes(mine.map((s) => s.data).join('')),
    starts,
    natural: mine.map((s, i) => ({ data: bytes(s.data), len: s.len ?? s.data.length, enterNs: enterNs(i), exitNs: exitNs(i) })),
    cut: mine.some((s) => s.len !== undefined),
  };
}

describe('memcached parsers on recorded conversations', () => {
  for (const c of MC_CONVERSATIONS) {
    for (const out of [true, false]) {
      const side = out ? 'requests' : 'responses';
      const d = direction(c, out);
      const n = d.stream.length;
      if (!d.cut) {
        test(`${c.name}, ${side}: natural writes, whole, byte by byte, split at every index`, () => {
          const byByte = run(c.binary, out, segmentsAt(d.stream, Array.from({ length: n }, (_, i) => i)));
          assert.deepEqual(byByte.lost, []);
          const ranges = byByte.items.map((v) => [(v.startNs - 1000) / 1000, (v.endNs - 1500) / 1000] as const);
          const check = (starts: number[], what: string): void => {
            const r = run(c.binary, out, segmentsAt(d.stream, starts));
            assert.deepEqual(r.lost, [], `${what}: lost`);
            assert.deepEqual(
              r.items,
              byByte.items.map((v, i) => ({ ...v, startNs: enterNs(segmentOf(starts, ranges[i]?.[0] ?? 0)), endNs: exitNs(segmentOf(starts, ranges[i]?.[1] ?? 0)) })),
              `${c.name} ${side} (${what})`,
            );
          };
          check(d.starts, 'natural writes');
          check([0], 'whole');
          for (let k = 1; k < n; k++) check([0, k], `split at ${k}`);
        });
      }

      test(`${c.name}, ${side}: every truncation of each write's captured prefix`, () => {
        const full = run(c.binary, out, d.natural);
        assert.deepEqual(full.lost, []);
        for (let j = 0; j < d.natural.length; j++) {
          const s = d.natural[j];
          if (s === undefined) continue;
          for (let k = 0; k < s.data.length; k++) {
            const r = run(
              c.binary,
              out,
              d.natural.map((x, i) => (i === j ? { ...x, data: x.data.subarray(0, k) } : x)),
            );
            const label: string = `${c.name} ${side}: write ${j} captured ${k}/${s.len}`;
            for (const l of r.lost) assert.equal(l.error, false, `${label}: ${l.reason}`);
            // what ends before the cut is exact; everything reported is one of the full run's, in order
            const before = full.items.filter((v) => v.endNs < enterNs(j));
            assert.deepEqual(r.items.slice(0, before.length), before, label);
            let e = 0;
            for (const v of r.items) {
              while (e < full.items.length && full.items[e]?.startNs !== v.startNs) e++;
              assert.ok(e < full.items.length, `${label}: unexpected ${JSON.stringify(v)}`);
              e++;
            }
          }
        }
      });
    }
  }
});

test('text requests: what each command line means', () => {
  const p = new McTextParser('request');
  const got = p.push({ data: bytes('get a b c\r\ngets x\r\ngat 10 a b\r\ncas k 0 0 1 99 noreply\r\nx\r\ndelete k 0\r\nmg k v t q Oab\r\nms k 2 T30\r\nhi\r\nflush_all\r\nstats slabs\r\nnonsense here\r\n'), len: 99, enterNs: 1, exitNs: 2 });
  assert.deepEqual(
    got.map((e) => e.kind === 'request' && [e.request.op, e.request.keys, e.request.noreply, e.request.quiet, e.request.text, e.request.opaque]),
    [
      ['get', 3, false, false, 'get ? ? ?', undefined],
      ['gets', 1, false, false, 'gets ?', undefined],
      ['gat', 2, false, false, 'gat ? ? ?', undefined],
      ['cas', 1, true, false, 'cas ? ? ? ? ? noreply', undefined],
      ['delete', 1, false, false, 'delete ? ?', undefined],
      ['mg', 1, false, true, 'mg ? v t q O', 'ab'],
      ['ms', 1, false, false, 'ms ? ? T', undefined],
      ['flush_all', 0, false, false, 'flush_all', undefined],
      ['stats', 0, false, false, 'stats slabs', undefined],
      ['unknown', 0, false, false, 'unknown', undefined],
    ],
  );
});

test('text responses: VALUE series counted as hits, STAT series, meta VA with its block, errors', () => {
  const p = new McTextParser('response');
  const got = p.push({ data: bytes('VALUE a 0 1\r\nx\r\nVALUE b 0 2 77\r\nyy\r\nEND\r\nSTAT pid 1\r\nSTAT uptime 2\r\nEND\r\nVA 2 Oab\r\nhi\r\nSERVER_ERROR out of memory\r\n42\r\nEN\r\n'), len: 109, enterNs: 1, exitNs: 2 });
  assert.deepEqual(
    got.map((e) => e.kind === 'response' && [e.response.code, e.response.hits, e.response.error, e.response.opaque]),
    [
      ['END', 2, undefined, undefined],
      ['END', 0, undefined, undefined],
      ['VA', 1, undefined, 'ab'],
      ['SERVER_ERROR', 0, 'SERVER_ERROR', undefined],
      ['42', 0, undefined, undefined],
      ['EN', 0, undefined, undefined],
    ],
  );
});

test('detection: whole well-formed command lines and binary request headers only', () => {
  const yes = ['get k\r\n', 'get a b c\r\n', 'set k 0 0 5\r\nhello\r\n', 'set k 0 -1 5 noreply\r\n', 'incr n 1\r\n', 'delete k\r\n', 'version\r\n', 'stats\r\n', 'mg k v\r\n', 'mn\r\n', 'ms k 2 T30\r\nhi\r\n', 'touch k 10\r\n'];
  const no = ['get\r\n', 'get k', 'set k 0 0\r\n', 'set k a 0 5\r\n', 'GET / HTTP/1.1\r\n', 'SET k v\r\n', 'set k v\r\n', 'quit\r\n', `get ${'k'.repeat(251)}\r\n`, 'get k\x00\r\n', 'incr k x\r\n', '*1\r\n$4\r\nPING\r\n', '\x80\x00\x00\x00'];
  for (const s of yes) assert.equal(looksLikeMemcached(bytes(s)), 'text', JSON.stringify(s));
  for (const s of no) assert.equal(looksLikeMemcached(bytes(s)), undefined, JSON.stringify(s));
  const get = new Uint8Array(25);
  get[0] = 0x80;
  get[3] = 1; // key length 1
  get[11] = 1; // body length 1
  get[24] = 0x6b;
  assert.equal(looksLikeMemcached(get), 'binary');
  const bad = get.slice();
  bad[1] = 0x01; // set without its 8 bytes of extras
  assert.equal(looksLikeMemcached(bad), undefined);
  const magic = get.slice();
  magic[0] = 0x81; // a response
  assert.equal(looksLikeMemcached(magic), undefined);
});

test('memory is bounded: a 10 MB line without an end is an error once past 64 KB', () => {
  for (const side of ['request', 'response'] as const) {
    const p = new McTextParser(side);
    let lost = false;
    for (let i = 0; i < 160 && !lost; i++) lost = p.push({ data: new Uint8Array(65536).fill(0x61), len: 65536, enterNs: i, exitNs: i }).some((e) => e.kind === 'lost' && e.error);
    assert.ok(lost, side);
  }
});

const randomSegments = fc.array(fc.record({ data: fc.uint8Array({ maxLength: 200 }), extra: fc.oneof(fc.constant(0), fc.nat(3000)) }), { maxLength: 20 });

test('property: random bytes never throw, text or binary, either side', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.boolean(), randomSegments, (binary, out, segs) => {
      const r = run(
        binary,
        out,
        segs.map((s, i) => ({ data: s.data, len: s.data.length + s.extra, enterNs: i, exitNs: i })),
      );
      for (const l of r.lost) assert.ok(!l.reason.startsWith('internal'), l.reason);
    }),
    { numRuns: 2000 },
  );
});

test('property: memcached-looking noise and mutated recordings never throw', () => {
  const token = fc.constantFrom('get ', 'set ', 'VALUE ', 'END', 'STAT ', 'VA ', 'mg ', 'k ', '0 ', '5 ', '-1 ', 'noreply', '\r\n', '\n', 'hello', ' ');
  fc.assert(
    fc.property(fc.boolean(), fc.array(token, { maxLength: 50 }), fc.array(fc.nat(), { maxLength: 5 }), (out, t, cuts) => {
      const b = bytes(t.join(''));
      const starts = [...new Set([0, ...cuts.map((c) => (b.length ? c % b.length : 0))])].sort((x, y) => x - y);
      const r = run(false, out, segmentsAt(b, starts));
      for (const l of r.lost) assert.ok(!l.reason.startsWith('internal'), l.reason);
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...MC_CONVERSATIONS),
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (c, out, edits, cuts) => {
        const d = direction(c, out);
        const b = d.stream.slice();
        if (b.length === 0) return;
        for (const [at, v] of edits) b[at % b.length] = v;
        const starts = [...new Set([0, ...cuts.map((x) => x % b.length)])].sort((x, y) => x - y);
        const r = run(c.binary, out, segmentsAt(b, starts));
        for (const l of r.lost) assert.ok(!l.reason.startsWith('internal'), l.reason);
      },
    ),
    { numRuns: 2000 },
  );
});
