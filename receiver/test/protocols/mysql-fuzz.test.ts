// Properties: random bytes, MySQL-shaped noise and mutated real captures never throw, never
// hit the session's internal-error guard, keep memory bounded and report sane records;
// framing does not depend on where segments are cut.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { looksLikeCommand, looksLikeCommandPayload, looksLikeGreeting } from '../../src/protocols/mysql';
import { MysqlFramer } from '../../src/protocols/mysql-framer';
import type { Role } from '../../src/protocols/types';
import { FIXTURE as CLI } from './fixtures/mysql-cli';
import { FIXTURE as DEPRECATE_EOF } from './fixtures/mysql-deprecate-eof';
import { FIXTURE as PREPARED } from './fixtures/mysql-prepared';
import { event, exitNs, fixtureSegments, newSession } from './fixtures/mysql-harness';
import type { Seg } from './fixtures/mysql-harness';
import { BASE_CAPS, concat, greeting, login, ok, packet } from './fixtures/mysql-build';

const BOUND = 8192 + 512;

/** Feeds, expires, closes; checks the invariants. */
function drive(role: Role, segs: readonly Seg[], timeoutNs = 5000): void {
  const r = newSession(role, { timeoutNs, maxPending: 8 });
  segs.forEach((s, i) => {
    r.session.onData(r.conn, event(s, i));
    if (i % 7 === 6) r.session.expire(r.conn, exitNs(i));
    assert.ok(r.session.bufferedBytes <= BOUND, `buffered ${r.session.bufferedBytes}`);
  });
  r.session.onClose(r.conn, exitNs(segs.length) + 1, 'closed');
  assert.notEqual(r.session.info.stopped, 'internal_error', 'no exception inside the session');
  assert.ok(r.records.length <= r.stats.requests, `${r.records.length} records for ${r.stats.requests} commands`);
  for (const x of r.records) {
    assert.ok(x.endNs >= x.startNs, 'end after start');
    assert.ok(typeof x.operation === 'string' && x.operation.length > 0);
    if (x.returnedRows !== undefined) assert.ok(Number.isInteger(x.returnedRows) && x.returnedRows >= 0);
  }
}

const role = fc.constantFrom<Role>('client', 'server');
const segment = fc.record({ out: fc.boolean(), data: fc.uint8Array({ maxLength: 96 }), extra: fc.nat(4000) }).map((s): Seg => ({ out: s.out, data: s.data, len: s.data.length + (s.extra % 3 === 0 ? s.extra : 0) }));

test('property: random bytes in random segments never throw', () => {
  fc.assert(
    fc.property(role, fc.array(segment, { maxLength: 30 }), (r, segs) => drive(r, segs)),
    { numRuns: 3000 },
  );
});

test('property: MySQL-shaped noise after a real handshake never throws', () => {
  // packets with plausible headers and command / response type bytes, random bodies
  const typeByte = fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x0e, 0x11, 0x16, 0x17, 0x19, 0x1c, 0xfa, 0xfb, 0xfe, 0xff, 0x05);
  const pkt = fc.record({ seq: fc.constantFrom(0, 0, 1, 2, 3, 255), type: typeByte, body: fc.uint8Array({ maxLength: 24 }), out: fc.boolean() });
  const noise = fc.array(pkt, { maxLength: 40 });
  fc.assert(
    fc.property(role, noise, fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (r, pkts, cuts, deprecate) => {
      const caps = BASE_CAPS | (deprecate ? 0x1000000 : 0);
      const server = r === 'server';
      const hs: Seg[] = [
        { out: server, data: greeting('10.11.6-MariaDB', caps), len: 0 },
        { out: !server, data: login(caps, 'u', 'db'), len: 0 },
        { out: server, data: packet(2, ok()), len: 0 },
      ].map((s) => ({ ...s, len: s.data.length }));
      // client → server packets are egress for the client, ingress for the server
      const body: Seg[] = pkts.map((p) => {
        const data = packet(p.seq, [p.type, ...p.body]);
        return { out: p.out, data, len: data.length };
      });
      // merge neighbours of one direction, then cut at random places
      const merged: Seg[] = [];
      for (const s of body) {
        const last = merged[merged.length - 1];
        if (last && last.out === s.out) merged[merged.length - 1] = { out: s.out, data: concat(last.data, s.data), len: last.len + s.len };
        else merged.push(s);
      }
      const cut = merged.flatMap((s, i) => {
        const k = s.data.length ? (cuts[i % Math.max(1, cuts.length)] ?? 0) % s.data.length : 0;
        return k === 0 ? [s] : [{ ...s, data: s.data.subarray(0, k), len: k }, { ...s, data: s.data.subarray(k), len: s.data.length - k }];
      });
      drive(r, [...hs, ...cut]);
    }),
    { numRuns: 2000 },
  );
});

test('property: mutated real captures never throw (flipped bytes, cut captures, dropped, duplicated and reordered syscalls)', () => {
  const fixtures = [CLI, PREPARED, DEPRECATE_EOF];
  const mutation = fc.record({ kind: fc.constantFrom('flip', 'cut', 'drop', 'dup', 'swap', 'grow'), at: fc.nat(), pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(fc.nat(fixtures.length - 1), role, fc.array(mutation, { minLength: 1, maxLength: 6 }), (fi, r, muts) => {
      const f = fixtures[fi];
      if (!f) return;
      let segs: Seg[] = fixtureSegments(f, r).map((s) => ({ ...s, data: s.data.slice() }));
      for (const m of muts) {
        const i = m.at % segs.length;
        const s = segs[i];
        if (!s) continue;
        if (m.kind === 'flip' && s.data.length) s.data[m.pos % s.data.length] = m.value;
        if (m.kind === 'cut') segs[i] = { ...s, data: s.data.subarray(0, m.pos % (s.data.length + 1)) };
        if (m.kind === 'drop') segs = segs.filter((_, k) => k !== i);
        if (m.kind === 'dup') segs.splice(i, 0, { ...s });
        if (m.kind === 'swap' && i + 1 < segs.length) segs = [...segs.slice(0, i), segs[i + 1] as Seg, s, ...segs.slice(i + 2)];
        if (m.kind === 'grow') segs[i] = { ...s, len: s.len + m.pos };
      }
      drive(r, segs);
    }),
    { numRuns: 2000 },
  );
});

test('property: detection never throws on random bytes, and random bytes are (almost) never MySQL', () => {
  let hits = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(1000), (b, extra) => {
      if (looksLikeGreeting(b) || looksLikeCommand(b) || looksLikeCommandPayload(b, b.length + extra)) hits++;
    }),
    { numRuns: 20000 },
  );
  assert.ok(hits <= 2, `${hits} random inputs detected as MySQL`);
});

test('property: the framer yields the same packets wherever the segments are cut', () => {
  const pkts = fc.array(fc.record({ seq: fc.nat(255), body: fc.uint8Array({ maxLength: 40 }) }), { minLength: 1, maxLength: 12 });
  fc.assert(
    fc.property(pkts, fc.array(fc.nat(), { maxLength: 8 }), (list, cuts) => {
      const stream = concat(...list.map((p) => packet(p.seq, p.body)));
      const run = (starts: number[]): string[] => {
        const f = new MysqlFramer({ keep: 16 });
        const got: string[] = [];
        const bounds = [...new Set([0, ...starts.map((c) => c % stream.length), stream.length])].sort((a, b) => a - b);
        for (let k = 0; k + 1 < bounds.length; k++) {
          const data = stream.subarray(bounds[k] ?? 0, bounds[k + 1] ?? 0);
          f.push({ data, len: data.length, enterNs: k, exitNs: k }, { packet: (p) => got.push(`${p.seq}:${p.length}:${Buffer.from(p.prefix).toString('hex')}`), lost: () => got.push('lost') });
        }
        return got;
      };
      assert.deepEqual(run(cuts), run([]));
      assert.equal(run([]).length, list.length);
    }),
    { numRuns: 2000 },
  );
});
