// MySQL wire pieces: detection (strict), packet decoders, the framer (continuations,
// headers split anywhere, lost framing), the statement table, MySQL literal rewriting.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyStats } from '../../src/protocols/context';
import type { ProtocolContext } from '../../src/protocols/context';
import { looksLikeCommand, looksLikeCommandPayload, looksLikeGreeting, mysqlDetector } from '../../src/protocols/mysql';
import { mysqlToStandardSql } from '../../src/protocols/mysql-commands';
import { MysqlFramer } from '../../src/protocols/mysql-framer';
import type { MysqlPacket } from '../../src/protocols/mysql-framer';
import { StatementTable } from '../../src/protocols/mysql-statements';
import { parseColumnCount, parseErr, parseGreeting, parseLogin, parseOk, parsePrepareOk } from '../../src/protocols/mysql-wire';
import { FIXTURE as CLI } from './fixtures/mysql-cli';
import { fixtureSegments } from './fixtures/mysql-harness';
import { BASE_CAPS, concat, err, greeting, ok, packet, text } from './fixtures/mysql-build';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const bytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

test('detection: a real MariaDB greeting and real commands; the role follows the direction', () => {
  const client = fixtureSegments(CLI, 'client');
  const server = fixtureSegments(CLI, 'server');
  const ctx = { stats: () => emptyStats() } as unknown as ProtocolContext;
  const d = mysqlDetector(ctx);
  const where = { transport: 'tcp' as const, localPort: 1, remotePort: 2 };
  assert.equal(d.detect('ingress', client[0]?.data ?? hex(''), where), 'client');
  assert.equal(d.detect('egress', server[0]?.data ?? hex(''), where), 'server');
  const q = client.find((s) => s.out && s.data[4] === 0x03);
  assert.ok(q && looksLikeCommand(q.data));
  assert.equal(d.detect('egress', q.data, where), 'client');
  assert.equal(d.detect('ingress', q.data, where), 'server');
  // mariadbd reads the 4-byte header, then the payload: the payload alone is recognised (ingress only)
  const payload = server.find((s) => !s.out && s.data[0] === 0x03);
  assert.ok(payload && looksLikeCommandPayload(payload.data, payload.len));
  assert.equal(d.detect('ingress', payload.data, where), 'server');
  assert.equal(d.detect('egress', payload.data, where), undefined);
  assert.equal(d.detect('ingress', hex('0f000000'), where), undefined, 'a lone header is not enough');
});

test('detection is strict: other protocols and near misses are not MySQL', () => {
  const no = [
    bytes('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    bytes('*1\r\n$4\r\nPING\r\n'),
    hex('0000002a00030000757365720070676164'), // PostgreSQL startup
    hex('1603010200010001fc0303'), // TLS ClientHello
    hex('00000020000300000000000100'), // Kafka Metadata request
    hex('80000005'),
    bytes('\x10\x00\x00\x00\x03SELECTED BY'), // not a verb
    bytes('\x0c\x00\x00\x01\x03SELECT 1 + 1'), // sequence id 1
    bytes('\x0c\x00\x00\x00\x03SELECT\x00\x01\x02'), // binary after the verb
    bytes('\x0c\x00\x00\x00\x03SEL'), // a verb cut short
    bytes('\x64\x00\x00\x00\x0a5.7'), // a greeting cut before the version's end
    bytes('\x30\x00\x00\x00\x0aX.Y\x00'), // not a version
    bytes('\x30\x00\x00\x00\x0b5.7.1\x00'), // protocol 11
  ];
  for (const b of no) {
    assert.equal(looksLikeGreeting(b), false, Buffer.from(b).toString('hex'));
    assert.equal(looksLikeCommand(b), false, Buffer.from(b).toString('hex'));
  }
  assert.equal(looksLikeGreeting(greeting('8.0.36', BASE_CAPS)), true);
  assert.equal(looksLikeGreeting(greeting('8.0.36', BASE_CAPS & ~0x200)), false, 'no CLIENT_PROTOCOL_41');
  assert.equal(looksLikeCommand(packet(0, [0x03, ...text('  /* hint */ select 1')])), true);
  assert.equal(looksLikeCommand(packet(0, [0x03, 0x00, 0x01, ...text('SELECT 1')])), true, 'MySQL 8 query attributes');
  assert.equal(looksLikeCommand(packet(0, [0x16, ...text('INSERT INTO t VALUES (?)')])), true);
});

test('decoders: greeting, login, OK with session state, ERR, column count, PREPARE_OK; cut input never throws', () => {
  const server = fixtureSegments(CLI, 'server');
  const g = parseGreeting(server[0]?.data.subarray(4) ?? hex(''));
  assert.equal(g?.serverVersion, '5.5.5-10.11.19-MariaDB-0+deb12u1');
  assert.equal(g?.extended, 0x1d, 'MariaDB extended capabilities');
  const client = fixtureSegments(CLI, 'client');
  const l = parseLogin(client[1]?.data.subarray(4) ?? hex(''));
  assert.deepEqual([l?.user, l?.database, l?.ssl, l?.extended], ['kindling', 'kdb', false, 0x1d]);
  assert.deepEqual(parseOk(hex('0000000240000000060104036b6462'), undefined), { status: 0x4002, schema: 'kdb' });
  assert.deepEqual(parseOk(Uint8Array.from(ok(2, { schema: 'shop' })), BASE_CAPS), { status: 0x4002, schema: 'shop' });
  assert.deepEqual(parseOk(hex('00000002'), BASE_CAPS), {}, 'status cut');
  assert.deepEqual(parseErr(Uint8Array.from(err(1146, '42S02'))), { code: 1146, sqlState: '42S02' });
  assert.deepEqual(parseErr(hex('ff7a04')), { code: 1146 });
  assert.deepEqual(parseColumnCount(hex('02'), 1), { count: 2, metadata: true });
  assert.deepEqual(parseColumnCount(hex('0201'), 2), { count: 2, metadata: true });
  assert.deepEqual(parseColumnCount(hex('0200'), 2), { count: 2, metadata: false });
  assert.deepEqual(parseColumnCount(hex('fc2c01'), 3), { count: 300, metadata: true });
  assert.equal(parseColumnCount(hex('fc2c'), 3), undefined);
  assert.deepEqual(parsePrepareOk(hex('00 05000000 0100 0200 00 0000'), 12, BASE_CAPS), { statementId: 5, columns: 1, params: 2, metadata: true });
  for (const f of [parseGreeting, (b: Uint8Array) => parseLogin(b), (b: Uint8Array) => parseOk(b, undefined), parseErr]) {
    const whole = server[0]?.data ?? hex('');
    for (let k = 0; k <= whole.length; k++) f(whole.subarray(0, k));
  }
});

function frames(f: MysqlFramer, chunks: Uint8Array[], lens?: number[]): { packets: MysqlPacket[]; lost: number } {
  const packets: MysqlPacket[] = [];
  let lost = 0;
  chunks.forEach((data, i) => f.push({ data, len: lens?.[i] ?? data.length, enterNs: i * 10, exitNs: i * 10 + 5 }, { packet: (p) => packets.push({ ...p, prefix: p.prefix.slice() }), lost: () => lost++ }));
  return { packets, lost };
}

test('framer: headers split at every position, several packets per segment, continuation packets joined', () => {
  const stream = concat(packet(0, text('hello')), packet(1, []), packet(2, text('world!')));
  for (let a = 1; a < stream.length; a++) {
    for (let b = a + 1; b < stream.length; b++) {
      const r = frames(new MysqlFramer({ keep: 64 }), [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
      assert.deepEqual(r.packets.map((p) => [p.seq, p.length, Buffer.from(p.prefix).toString()]), [
        [0, 5, 'hello'],
        [1, 0, ''],
        [2, 6, 'world!'],
      ]);
    }
  }
  // a 16 MB payload: 0xffffff bytes, then the rest in the next packet, reported once
  const big = new Uint8Array(0xffffff + 4 + 4 + 3);
  big.set([0xff, 0xff, 0xff, 0, 0x03], 0);
  big.set([3, 0, 0, 1, 7, 8, 9], 4 + 0xffffff);
  const r = frames(new MysqlFramer({ keep: 16 }), [big.subarray(0, 100), big.subarray(100, 5_000_000), big.subarray(5_000_000)]);
  assert.deepEqual(r.packets.map((p) => [p.seq, p.length, p.prefix.length, p.startNs, p.endNs]), [[0, 0xffffff + 3, 16, 0, 25]]);
});

test('framer: uncaptured payload is skipped by count; a header beyond the capture loses framing until reset or resync', () => {
  const stream = concat(packet(1, new Array(600).fill(0x61)), packet(2, text('tail')));
  const f = new MysqlFramer({ keep: 32 });
  const r = frames(f, [stream.subarray(0, 512)], [stream.length]);
  assert.deepEqual(r.packets.map((p) => [p.seq, p.length, p.prefix.length]), [[1, 600, 32]], 'the first packet ends by count');
  assert.equal(r.lost, 1, 'the second header was not captured');
  assert.ok(f.isLost);
  frames(f, [packet(3, text('ignored'))]);
  f.reset();
  const after = frames(f, [packet(0, text('next'))]);
  assert.deepEqual(after.packets.map((p) => Buffer.from(p.prefix).toString()), ['next']);
  // payload uncaptured, header of the next packet captured in the next segment: framing holds
  const g = new MysqlFramer({ keep: 32 });
  const kept = frames(g, [stream.subarray(0, 100), stream.subarray(604)], [604, stream.length - 604]);
  assert.deepEqual(kept.packets.map((p) => [p.seq, p.length, p.prefix.length]), [
    [1, 600, 32],
    [2, 4, 4],
  ]);
  const withResync = new MysqlFramer({ keep: 32, resync: (d) => d[3] === 0 });
  frames(withResync, [stream.subarray(0, 512)], [stream.length]);
  assert.deepEqual(frames(withResync, [packet(5, text('x')), packet(0, text('y'))]).packets.map((p) => p.seq), [0]);
});

test('the statement table is bounded and knows the last prepared statement', () => {
  const t = new StatementTable(2);
  t.set(1, { operation: 'SELECT' });
  t.set(2, { operation: 'INSERT' });
  t.set(3, { operation: 'DELETE' });
  assert.equal(t.get(1), undefined);
  assert.equal(t.evictions, 1);
  assert.equal(t.get(0xffffffff)?.operation, 'DELETE');
  t.setLast({ operation: 'UPDATE' });
  assert.equal(t.get(0xffffffff)?.operation, 'UPDATE');
  assert.equal(t.delete(2)?.operation, 'INSERT');
  t.clear();
  assert.equal(t.size, 0);
});

test('MySQL literals: double quotes become a literal, # comments go, quotes inside quotes and identifiers stay', () => {
  assert.equal(mysqlToStandardSql(`SELECT "a""b", 'it''s "x"', \`we"ird\` FROM t # secret`), `SELECT '', 'it''s "x"', \`we"ird\` FROM t  `);
  assert.equal(mysqlToStandardSql('SELECT "a\\"b" -- "c"\nFROM t'), `SELECT '' -- "c"\nFROM t`);
  assert.equal(mysqlToStandardSql('SELECT 1'), 'SELECT 1');
});
