// DNS over TCP framing: recorded dig/dnsmasq streams whole, as written, byte by
// byte, split at every index, with every truncated capture; lost framing; random bytes.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { parseDnsMessage } from '../../src/protocols/dns';
import type { DnsMessage } from '../../src/protocols/dns';
import { DnsTcpFramer, MAX_KEPT_BYTES } from '../../src/protocols/dns-tcp';
import type { DnsFrameEvent } from '../../src/protocols/dns-tcp';
import type { Segment } from '../../src/protocols/types';
import { ALL_FIXTURES, bytesOf, stream } from './fixtures/dns-harness';

const enterNs = (i: number): number => 1000 * (i + 1);
const exitNs = (i: number): number => 1000 * (i + 1) + 500;

interface Stream {
  name: string;
  bytes: Uint8Array;
  /** natural segment starts (the recorded syscalls) */
  starts: number[];
  /** each message's [first byte (its prefix's, if it has one), end) */
  ranges: [number, number][];
  /** where each message's body starts (after its prefix) */
  bodies: number[];
}

/** Every recorded TCP direction, from its first message on (what a session sees after detection). */
const STREAMS: Stream[] = ALL_FIXTURES.filter((f) => f.transport === 'tcp').flatMap((f) =>
  (['client', 'server'] as const).flatMap((side) =>
    (['egress', 'ingress'] as const).map((dir): Stream => {
      let segs = stream(f[side], dir);
      // dnsmasq reads the prefix a byte at a time: detection saw the message after it
      const bare = segs.findIndex((s) => s.len > 2);
      const dropped = segs.slice(0, bare);
      segs = segs.slice(bare);
      const bytes = new Uint8Array(Buffer.concat(segs.map((s) => Buffer.from(s.hex, 'hex'))));
      const starts: number[] = [];
      let at = 0;
      for (const s of segs) {
        starts.push(at);
        at += s.len;
      }
      const ranges: [number, number][] = [];
      const bodies: number[] = [];
      let pos = 0;
      if (dropped.length > 0) {
        const n = Buffer.from(dropped.map((s) => s.hex).join(''), 'hex').readUInt16BE(0);
        ranges.push([0, n]);
        bodies.push(0);
        pos = n;
      }
      while (pos + 2 <= bytes.length) {
        const n = ((bytes[pos] ?? 0) << 8) | (bytes[pos + 1] ?? 0);
        ranges.push([pos, pos + 2 + n]);
        bodies.push(pos + 2);
        pos += 2 + n;
      }
      return { name: `${f.name}: ${side} ${dir}`, bytes, starts, ranges, bodies };
    }),
  ),
);

function segmentsAt(bytes: Uint8Array, starts: number[]): Segment[] {
  return starts.map((s, i) => {
    const data = bytes.subarray(s, starts[i + 1] ?? bytes.length);
    return { data, len: data.length, enterNs: enterNs(i), exitNs: exitNs(i) };
  });
}

function run(segs: Segment[], o: { lenient?: boolean; end?: boolean } = {}): { events: DnsFrameEvent[]; framer: DnsTcpFramer } {
  const framer = new DnsTcpFramer({ lenient: o.lenient ?? false });
  const events: DnsFrameEvent[] = [];
  segs.forEach((s, i) => events.push(...framer.push(s, i)));
  if (o.end) events.push(...framer.end());
  return { events, framer };
}

const segmentOf = (starts: number[], offset: number): number => {
  let i = 0;
  while (i + 1 < starts.length && (starts[i + 1] ?? Infinity) <= offset) i++;
  return i;
};

/** the message of range i, parsed from its body alone */
function whole(s: Stream, i: number): DnsMessage {
  const p = parseDnsMessage(s.bytes.subarray(s.bodies[i] ?? 0, s.ranges[i]?.[1] ?? 0));
  assert.ok(p.ok, `${s.name}: message ${i}`);
  return p.message;
}

function expectAt(s: Stream, starts: number[]): { message: DnsMessage; startNs: number; endNs: number }[] {
  return s.ranges.map((r, i) => ({ message: whole(s, i), startNs: enterNs(segmentOf(starts, r[0])), endNs: exitNs(segmentOf(starts, r[1] - 1)) }));
}

function check(s: Stream, starts: number[], what: string): void {
  const { events } = run(segmentsAt(s.bytes, starts));
  assert.deepEqual(
    events.map((e) => (e.kind === 'message' ? { message: e.message, startNs: e.startNs, endNs: e.endNs } : e)),
    expectAt(s, starts),
    `${s.name} (${what})`,
  );
}

describe('recorded TCP streams', () => {
  test('there are streams with several messages, and bare first messages (dnsmasq reads)', () => {
    assert.ok(STREAMS.some((s) => s.ranges.length >= 2));
    assert.ok(STREAMS.some((s) => (s.bytes[0] ?? 0) !== 0));
  });
  for (const s of STREAMS) {
    const first = s.ranges[0]?.[1] ?? 0;
    const n = s.bytes.length;
    test(`${s.name}: whole, as written, byte by byte after the first message`, () => {
      // a message without its prefix is only ever taken from a segment of its own
      const bare = s.bodies[0] === 0;
      check(s, bare ? [0, first] : [0], 'whole');
      check(s, s.starts, 'as written');
      check(s, [0, ...Array.from({ length: n - first }, (_, i) => first + i)].filter((x, i, a) => a.indexOf(x) === i && x < n), 'byte by byte');
    });
    test(`${s.name}: the rest split at every index`, () => {
      for (let k = first + 1; k < n; k++) check(s, [0, first, k].filter((x, i, a) => a.indexOf(x) === i), `split at ${k}`);
    });
    test(`${s.name}: every truncated capture of every write`, () => {
      const full = expectAt(s, s.starts);
      for (let j = 0; j < s.starts.length; j++) {
        const segs = segmentsAt(s.bytes, s.starts);
        const w = segs[j];
        if (!w) continue;
        for (let k = 0; k < w.data.length; k++) {
          const cut = segs.map((x, i) => (i === j ? { ...x, data: x.data.subarray(0, k) } : x));
          const { events } = run(cut);
          const what: string = `${s.name}: write ${j} captured ${k}/${w.len}`;
          assert.deepEqual(events.filter((e) => e.kind === 'error'), [], what);
          const got = events.flatMap((e) => (e.kind === 'message' ? [{ message: e.message, startNs: e.startNs, endNs: e.endNs }] : []));
          // each message: exact, or (touching the cut write) truncated and agreeing with the full one
          let e = 0;
          for (const g of got) {
            let found = false;
            while (e < full.length && !found) {
              const x = full[e];
              const r = s.ranges[e];
              e++;
              if (!x || !r) break;
              const touches = segmentOf(s.starts, r[0]) <= j && j <= segmentOf(s.starts, r[1] - 1);
              if (g.message.truncated) {
                found = touches && g.message.header.id === x.message.header.id && g.startNs === x.startNs && g.endNs === x.endNs;
                if (found) assert.deepEqual(g.message.answers, x.message.answers.slice(0, g.message.answers.length), what);
              } else {
                // found again after the framing was lost: its prefix's reads may have gone unrecognised
                found = JSON.stringify(g.message) === JSON.stringify(x.message) && g.endNs === x.endNs && (g.startNs === x.startNs || (g.startNs > x.startNs && segmentOf(s.starts, r[1] - 1) >= j));
              }
              // a message that does not touch the cut write may not go missing, except right after a lost prefix
              if (!found && !touches && segmentOf(s.starts, r[0]) !== j + 1) assert.fail(`${what}: message ${e - 1} went missing`);
            }
            assert.ok(found, `${what}: unexpected ${JSON.stringify(g.message.header)}`);
          }
        }
      }
    });
  }
});

test('any split of all recorded streams one after the other gives the same messages', () => {
  const clientQueries = STREAMS.filter((s) => s.name.includes('client egress'));
  const all = new Uint8Array(Buffer.concat(clientQueries.map((s) => Buffer.from(s.bytes))));
  const want = run([{ data: all, len: all.length, enterNs: 1, exitNs: 2 }]).events.map((e) => (e.kind === 'message' ? e.message : e));
  assert.ok(want.length >= 4);
  const first = ((all[0] ?? 0) << 8) + (all[1] ?? 0) + 2;
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: first, max: all.length - 1 }), { maxLength: 40 }), (cuts) => {
      const starts = [0, ...cuts.sort((a, b) => a - b)];
      const got = run(segmentsAt(all, starts)).events.map((e) => (e.kind === 'message' ? e.message : e));
      assert.deepEqual(got, want);
    }),
    { numRuns: 500 },
  );
});

// ---- framing lost and found ------------------------------------------------------------------

const query = ALL_FIXTURES.find((f) => f.name === 'tcp A')?.client.find((s) => s.dir === 'egress');
const Q = bytesOf(query?.hex ?? ''); // 00 31 + a 49-byte query
const seg = (data: Uint8Array, i: number, len = data.length): Segment => ({ data, len, enterNs: enterNs(i), exitNs: exitNs(i) });
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));

test('a length prefix too short for a header: an error, then the next segment holding a message is found', () => {
  const { events, framer } = run([seg(Q, 0), seg(cat(new Uint8Array([0, 3, 1, 2, 3]), Q), 1), seg(new Uint8Array([9, 9, 9]), 2), seg(Q, 3)]);
  assert.deepEqual(
    events.map((e) => (e.kind === 'error' ? e.reason : e.startNs)),
    [enterNs(0), 'length prefix 3 is shorter than a header', enterNs(3)],
  );
  assert.deepEqual(framer.stats, { skippedSegments: 1, lostSync: 1 });
});

test('a prefix in uncaptured bytes loses the framing without an error; a bare message at a segment start is found', () => {
  // one write of two queries captured to 52 bytes: the second prefix is cut after its first byte
  const two = cat(Q, Q);
  const bare = Q.subarray(2);
  const { events, framer } = run([seg(two.subarray(0, 52), 0, two.length), seg(two.subarray(0, 20), 1, 200), seg(bare, 2)]);
  assert.deepEqual(
    events.map((e) => (e.kind === 'message' ? [e.startNs, e.endNs, e.message.truncated] : e.reason)),
    [
      [enterNs(0), exitNs(0), false],
      [enterNs(2), exitNs(2), false],
    ],
  );
  assert.deepEqual(framer.stats, { lostSync: 1, skippedSegments: 1 });
  // captured to 90 bytes: the second query is cut in its OPT record: reported truncated, with its question
  const cut = run([seg(two.subarray(0, 90), 0, two.length), seg(Q, 1)]).events;
  assert.deepEqual(
    cut.map((e) => (e.kind === 'message' ? [e.startNs, e.endNs, e.message.truncated, e.message.question?.name] : e.reason)),
    [
      [enterNs(0), exitNs(0), false, 'web.test'],
      [enterNs(0), exitNs(0), true, 'web.test'],
      [enterNs(1), exitNs(1), false, 'web.test'],
    ],
  );
});

test('on port 53 a segment of just the prefix starts the stream; elsewhere it does not', () => {
  const parts = [seg(Q.subarray(0, 2), 0), seg(Q.subarray(2), 1)];
  assert.equal(run(parts, { lenient: true }).events.length, 1);
  assert.equal(run(parts).events.length, 1, 'elsewhere: found as a bare message in the next segment');
  assert.equal(run([seg(Q.subarray(0, 2), 0), seg(Q.subarray(2, 20), 1), seg(Q.subarray(20), 2)]).events.length, 0);
  assert.equal(run([seg(Q.subarray(0, 2), 0), seg(Q.subarray(2, 20), 1), seg(Q.subarray(20), 2)], { lenient: true }).events.length, 1);
});

test('a 65535-byte message over 4096-byte captures keeps at most MAX_KEPT_BYTES and ends at the right segment', () => {
  const head = Q.subarray(2);
  const msg = new Uint8Array(65535);
  msg.set(head);
  const stream = cat(new Uint8Array([0xff, 0xff]), msg, Q);
  const segs: Segment[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const n = Math.min(8000, stream.length - at);
    segs.push(seg(stream.subarray(at, at + Math.min(n, 4096)), i, n));
    at += n;
  }
  // segment 8 carries the end of the big one and the whole next query
  const { events } = run(segs);
  assert.equal(segs.length, 9);
  assert.deepEqual(
    events.map((e) => (e.kind === 'message' ? [e.startNs, e.endNs, e.message.truncated, e.message.question?.name] : e.reason)),
    [
      [enterNs(0), exitNs(8), true, 'web.test'],
      [enterNs(8), exitNs(8), false, 'web.test'],
    ],
  );
  assert.equal(MAX_KEPT_BYTES, 16384);
});

test('end(): a message cut by the close is reported from what was kept; nothing after', () => {
  const f = new DnsTcpFramer();
  assert.deepEqual(f.push(seg(Q.subarray(0, 30), 0), 7), []);
  const ev = f.end();
  assert.equal(ev.length, 1);
  assert.deepEqual(ev[0]?.kind === 'message' && [ev[0].message.truncated, ev[0].message.question?.name, ev[0].startTag, ev[0].endNs], [true, 'web.test', 7, exitNs(0)]);
  assert.deepEqual(f.end(), []);
});

test('random segments never throw', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 80 }), fc.nat(100)), { maxLength: 12 }), fc.boolean(), (parts, lenient) => {
      const f = new DnsTcpFramer({ lenient });
      parts.forEach(([d, extra], i) => f.push(seg(d, i, d.length + (extra % 3 === 0 ? extra : 0))));
      f.end();
    }),
    { numRuns: 3000 },
  );
  // and random bytes behind a valid first message
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(400), (junk, cut) => {
      const f = new DnsTcpFramer();
      const data = cat(Q, junk);
      f.push(seg(data.subarray(0, cut), 0, data.length));
      f.push(seg(junk, 1));
    }),
    { numRuns: 2000 },
  );
});
