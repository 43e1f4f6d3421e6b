// DNS sessions: recorded exchanges paired into lookups (dig's reading as the
// oracle), pairing by id + peer + question in any order, expiry, close, bounds,
// garbage; and the detector's strictness.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { Connection } from '../../src/conn/connection';
import { SOCK_EVENT } from '../../src/events/abi';
import { decodeBatch } from '../../src/events/decode';
import { SockEvent } from '../../src/events/types';
import { emptyStats } from '../../src/protocols/context';
import type { DnsLookupRecord, ProtocolContext, ProtocolStats } from '../../src/protocols/context';
import { detectDns } from '../../src/protocols/dns-detector';
import { DnsSession } from '../../src/protocols/dns-session';
import { sockRecord } from '../helpers/records';
import { programPath } from '../programs/dns-peers';
import { ALL_FIXTURES, bytesOf, expectedOf, isGlibc } from './fixtures/dns-harness';
import type { DnsWireFixture, DnsWireSegment } from './fixtures/dns-harness';

const { GARBAGE } = require(programPath('dns-garbage.js')) as { GARBAGE: [string, Buffer][] };

interface EvInit {
  dir: 'egress' | 'ingress';
  data: Uint8Array;
  len?: number;
  t: number;
  udp?: boolean;
  peer?: [number[], number];
  tid?: number;
  enter?: number;
}

/** a socket event: local 127.0.0.1:40000 unless said, peer 127.0.0.1:53 unless said */
function ev(o: EvInit): SockEvent {
  const rec = sockRecord({
    direction: o.dir === 'egress' ? 1 : 2,
    payload: o.data,
    len: BigInt(o.len ?? o.data.length),
    ret: BigInt(o.len ?? o.data.length),
    enterNs: BigInt(o.enter ?? o.t),
    exitNs: BigInt(o.t + 500),
    remote: o.peer?.[0] ?? [127, 0, 0, 1],
    remotePort: o.peer?.[1] ?? 53,
    tid: o.tid ?? 101,
  });
  if (o.udp ?? true) rec.writeUInt16LE(17, SOCK_EVENT.protocol[0]);
  return decodeBatch(rec).events[0] as SockEvent;
}

function setup(transport: 'udp' | 'tcp', o: { timeoutNs?: number; maxPending?: number } = {}): { s: DnsSession; conn: Connection; out: DnsLookupRecord[]; stats: ProtocolStats; ctx: ProtocolContext } {
  const out: DnsLookupRecord[] = [];
  const stats = emptyStats();
  const ctx: ProtocolContext = {
    db: { onOperation: () => undefined },
    dns: { onLookup: (r) => out.push(r) },
    names: { learn: () => undefined },
    stats: () => stats,
    timeoutNs: o.timeoutNs ?? 1e9,
    maxPending: o.maxPending ?? 16,
    fingerprint: true,
  };
  const s = new DnsSession({ ctx, stats, transport });
  return { s, conn: new Connection(ev({ dir: 'egress', data: new Uint8Array(0), t: 1, udp: transport === 'udp' })), out, stats, ctx };
}

/** Feeds one side of a fixture (as the pipeline would after detection) into a session; times are 1000 * (index + 1). */
function replaySide(f: DnsWireFixture, side: 'client' | 'server', order?: (segs: DnsWireSegment[]) => DnsWireSegment[]): { out: DnsLookupRecord[]; stats: ProtocolStats; times: number[] } {
  const udp = f.transport === 'udp';
  const { s, conn, out, stats } = setup(f.transport);
  let segs = f[side].filter((x) => x.len > 0);
  if (!udp) segs = segs.slice(segs.findIndex((x) => x.len > 2)); // detection consumed dnsmasq's 1-byte reads
  if (order) segs = order(segs);
  const times: number[] = [];
  segs.forEach((x, i) => {
    // sendmmsg: the messages of one call share its enter and exit
    const prev = segs[i - 1];
    const t = prev && x.hook === 'sendmmsg' && prev.hook === 'sendmmsg' && prev.dir === x.dir ? (times[i - 1] ?? 0) : 1000 * (i + 1);
    times.push(t);
    s.onData(conn, ev({ dir: x.dir, data: bytesOf(x.hex), len: x.len, t, udp }));
  });
  return { out, stats, times };
}

const project = (r: DnsLookupRecord): unknown => ({ rcode: r.rcode, questionName: r.questionName, questionType: r.questionType, answers: r.answers });

describe('recorded exchanges become lookups', () => {
  for (const f of ALL_FIXTURES) {
    test(f.name, () => {
      const want = expectedOf(f).map((w) => ({ rcode: w.rcode, questionName: w.questionName, questionType: w.questionType, answers: w.answers }));
      for (const side of ['client', 'server'] as const) {
        const { out, stats } = replaySide(f, side);
        const got = out.map(project);
        if (isGlibc(f)) assert.deepEqual(new Set(got.map((x) => JSON.stringify(x))), new Set(want.map((x) => JSON.stringify(x))), side);
        else assert.deepEqual(got, want, side);
        assert.ok(out.every((r) => r.role === side && r.transport === f.transport && r.failure === undefined && r.endNs > r.startNs));
        assert.deepEqual(stats, { requests: want.length, exchanges: want.length, parseErrors: 0, unmatchedResponses: 0, expired: 0 }, side);
      }
    });
  }
});

const glibc = ALL_FIXTURES.find(isGlibc);

test('glibc: A and AAAA from one sendmmsg pair whichever response comes first; start at the sendmmsg, end at each read', () => {
  assert.ok(glibc);
  const inOrder = replaySide(glibc, 'client');
  const reversed = replaySide(glibc, 'client', (segs) => [...segs.filter((x) => x.dir === 'egress'), ...segs.filter((x) => x.dir === 'ingress').reverse()]);
  for (const r of [inOrder, reversed]) {
    assert.deepEqual(r.out.map((x) => x.questionType).sort(), ['A', 'AAAA']);
    assert.ok(r.out.every((x) => x.startNs === 1000 && x.rcode === 'NOERROR' && x.answers.length === 1));
    assert.deepEqual(r.out.map((x) => x.endNs), [3500, 4500]);
  }
  assert.notDeepEqual(inOrder.out.map((x) => x.questionType), reversed.out.map((x) => x.questionType));
});

// a query and its response, hand-made: id, name, type; the response answers with one A
function query(id: number, name: string, type = 1): Uint8Array {
  const labels = Buffer.concat(name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
  const b = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), labels, Buffer.from([0, 0, type, 0, 1])]);
  return new Uint8Array(b);
}
function response(id: number, name: string, ip: number[], type = 1): Uint8Array {
  const q = Buffer.from(query(id, name, type));
  q.writeUInt16BE(0x8180, 2);
  q.writeUInt16BE(1, 6);
  return new Uint8Array(Buffer.concat([q, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip])]));
}

test('a server socket: the same id from two peers, answered in reverse order, pairs by peer', () => {
  const { s, conn, out } = setup('udp');
  const a: [number[], number] = [[127, 0, 0, 5], 5000];
  const b: [number[], number] = [[127, 0, 0, 6], 6000];
  s.onData(conn, ev({ dir: 'ingress', data: query(7, 'a.test'), t: 1000, peer: a }));
  s.onData(conn, ev({ dir: 'ingress', data: query(7, 'b.test'), t: 2000, peer: b }));
  s.onData(conn, ev({ dir: 'egress', data: response(7, 'b.test', [10, 0, 0, 2]), t: 3000, peer: b }));
  s.onData(conn, ev({ dir: 'egress', data: response(7, 'a.test', [10, 0, 0, 1]), t: 4000, peer: a }));
  assert.deepEqual(
    out.map((r) => [r.role, r.questionName, r.answers[0]?.data, r.conn.remote.addr, r.conn.remote.port, r.startNs, r.endNs]),
    [
      ['server', 'b.test', '10.0.0.2', '127.0.0.6', 6000, 2000, 3500],
      ['server', 'a.test', '10.0.0.1', '127.0.0.5', 5000, 1000, 4500],
    ],
  );
});

test('an id collision: a response to another question does not pair; the right one does', () => {
  const { s, conn, out, stats } = setup('udp');
  s.onData(conn, ev({ dir: 'egress', data: query(9, 'x.test'), t: 1000 }));
  s.onData(conn, ev({ dir: 'ingress', data: response(9, 'other.test', [1, 1, 1, 1]), t: 2000 }));
  s.onData(conn, ev({ dir: 'ingress', data: response(9, 'x.test', [2, 2, 2, 2], 28 - 27), t: 3000 }));
  assert.deepEqual(out.map((r) => [r.questionName, r.answers[0]?.data]), [['x.test', '2.2.2.2']]);
  assert.equal(stats.unmatchedResponses, 1);
  // same name, other type: no pair either
  s.onData(conn, ev({ dir: 'egress', data: query(10, 'x.test', 28), t: 4000 }));
  s.onData(conn, ev({ dir: 'ingress', data: response(10, 'x.test', [3, 3, 3, 3]), t: 5000 }));
  assert.equal(stats.unmatchedResponses, 2);
});

test('a response from an unknown peer (port 0) pairs by id; a query cut before its question takes the response\'s', () => {
  const { s, conn, out } = setup('udp');
  s.onData(conn, ev({ dir: 'egress', data: query(11, 'p.test'), t: 1000 }));
  s.onData(conn, ev({ dir: 'ingress', data: response(11, 'p.test', [4, 4, 4, 4]), t: 2000, peer: [[0, 0, 0, 0], 0] }));
  const q = query(12, 'cut.test');
  s.onData(conn, ev({ dir: 'egress', data: q.subarray(0, 14), len: q.length, t: 3000 }));
  s.onData(conn, ev({ dir: 'ingress', data: response(12, 'cut.test', [5, 5, 5, 5]), t: 4000 }));
  assert.deepEqual(out.map((r) => [r.questionName, r.questionType, r.answers[0]?.data]), [
    ['p.test', 'A', '4.4.4.4'],
    ['cut.test', 'A', '5.5.5.5'],
  ]);
});

test('no response: expiry fails with "timeout"; a UDP socket closing too; TCP close "connection_closed"; eviction "evicted"', () => {
  const u = setup('udp', { timeoutNs: 10_000 });
  u.s.onData(u.conn, ev({ dir: 'egress', data: query(1, 'slow.test'), t: 1000 }));
  u.s.onData(u.conn, ev({ dir: 'egress', data: query(2, 'later.test'), t: 8000 }));
  u.s.expire(u.conn, 12_000);
  assert.deepEqual(u.out.map((r) => [r.questionName, r.failure, r.startNs, r.endNs, r.rcode]), [['slow.test', 'timeout', 1000, 12_000, undefined]]);
  u.s.onClose(u.conn, 13_000, 'closed');
  assert.deepEqual(u.out.map((r) => r.failure), ['timeout', 'timeout']);
  assert.equal(u.stats.expired, 2);
  const t = setup('tcp');
  const framed = (m: Uint8Array): Uint8Array => new Uint8Array(Buffer.concat([Buffer.from([0, m.length]), m]));
  t.s.onData(t.conn, ev({ dir: 'egress', data: framed(query(3, 'tcp.test')), t: 1000, udp: false }));
  t.s.onClose(t.conn, 5000, 'closed');
  const e = setup('udp');
  e.s.onData(e.conn, ev({ dir: 'egress', data: query(4, 'gone.test'), t: 1000 }));
  e.s.onClose(e.conn, 5000, 'evicted');
  assert.deepEqual([t.out[0]?.failure, t.out[0]?.transport, e.out[0]?.failure], ['connection_closed', 'tcp', 'evicted']);
});

test('bounded: past maxPending the oldest query fails at once; pending never grows past the bound', () => {
  const { s, conn, out, stats } = setup('udp', { maxPending: 16 });
  for (let i = 0; i < 100; i++) s.onData(conn, ev({ dir: 'egress', data: query(i, `n${i}.test`), t: 1000 * (i + 1) }));
  assert.equal(s.pending, 16);
  assert.equal(out.length, 84);
  assert.ok(out.every((r, i) => r.failure === 'timeout' && r.questionName === `n${i}.test`));
  assert.equal(stats.expired, 84);
  s.onData(conn, ev({ dir: 'ingress', data: response(99, 'n99.test', [9, 9, 9, 9]), t: 200_000 }));
  assert.equal(out.at(-1)?.rcode, 'NOERROR');
});

test('DNS-shaped garbage: refused by the detector on any port, and a parse error on a DNS socket', () => {
  const { s, conn, out, stats } = setup('udp');
  for (const [why, bytes] of GARBAGE) {
    const data = new Uint8Array(bytes);
    for (const ports of [{ localPort: 40000, remotePort: 53 }, { localPort: 53, remotePort: 40000 }, { localPort: 40000, remotePort: 15353 }]) {
      assert.equal(detectDns('egress', data, { transport: 'udp', ...ports }), undefined, `${why} (${JSON.stringify(ports)})`);
      assert.equal(detectDns('egress', data, { transport: 'tcp', ...ports }), undefined, `${why} over TCP`);
    }
    s.onData(conn, ev({ dir: 'ingress', data, t: 1000 }));
  }
  assert.equal(out.length, 0);
  assert.deepEqual(stats, { requests: 0, exchanges: 0, parseErrors: GARBAGE.length, unmatchedResponses: 0, expired: 0 });
});

test('random events into sessions never throw and stay bounded', () => {
  const recorded = ALL_FIXTURES.flatMap((f) => [...f.client, ...f.server]).filter((x) => x.len > 0).map((x) => bytesOf(x.hex));
  fc.assert(
    fc.property(
      fc.constantFrom('udp' as const, 'tcp' as const),
      fc.array(fc.tuple(fc.boolean(), fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.constantFrom(...recorded)), fc.nat(3)), { maxLength: 30 }),
      (transport, items) => {
        const { s, conn } = setup(transport, { maxPending: 4, timeoutNs: 5000 });
        items.forEach(([egress, data, extra], i) => {
          s.onData(conn, ev({ dir: egress ? 'egress' : 'ingress', data, len: data.length + extra, t: 1000 * (i + 1), udp: transport === 'udp' }));
          assert.ok(s.pending <= 4);
          if (i % 7 === 0) s.expire(conn, 1000 * (i + 1));
        });
        s.onClose(conn, 1e9, 'closed');
        assert.equal(s.pending, 0);
      },
    ),
    { numRuns: 1500 },
  );
});
