// The MySQL session's behaviour on shapes the recorded fixtures do not hold: connections
// picked up after their handshake, MySQL 8 flavours, TLS, compression, LOCAL INFILE,
// cursors, pipelined prepare+execute, bounds, expiry and close.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXTURE as CLI } from './fixtures/mysql-cli';
import { FIXTURE as PREPARED } from './fixtures/mysql-prepared';
import { exitNs, fixtureSegments, newSession, project, runSession, event } from './fixtures/mysql-harness';
import type { Seg } from './fixtures/mysql-harness';
import { BASE_CAPS, DEPRECATE_EOF, columnDef, concat, eof, err, greeting, inn, login, ok, out, packet, resultSet, text, u16, u32 } from './fixtures/mysql-build';

const query = (sql: string, seq = 0): Uint8Array => packet(seq, [0x03, ...text(sql)]);
const ops = (segs: Seg[], role: 'client' | 'server' = 'client'): ReturnType<typeof project>[] => runSession(role, segs).records.map(project);
const handshake = (version: string, caps: number, schema?: string): Seg[] => [inn(greeting(version, caps)), out(login(caps, 'app', schema)), inn(packet(2, ok(2, schema ? { schema } : {})))];

test('picked up after the handshake: the client side from a later COM_QUERY, caps inferred from the packets', () => {
  const segs = fixtureSegments(CLI, 'client');
  const from = segs.findIndex((s) => s.out && s.data[4] === 0x03 && Buffer.from(s.data).includes(Buffer.from('SELECT * FROM items')));
  const r = runSession('client', segs.slice(from));
  const want = CLI.expected.slice(1).map(({ namespace: _n, ...e }) => e);
  // before COM_INIT_DB the schema is unknown; the OK of COM_INIT_DB names it (session tracking)
  assert.deepEqual(r.records.map(project).map(({ namespace: _n, ...e }) => e), want);
  assert.deepEqual(r.records.map((x) => x.namespace), [undefined, undefined, undefined, undefined, 'mysql', 'mysql']);
  assert.ok(r.records.every((x) => x.system === 'mysql'), 'no greeting: the server is not known to be MariaDB');
  assert.equal(r.session.info.deprecateEof, false, 'learned from the 5-byte EOF after the column definitions');
});

test("picked up after the handshake: mariadbd's side from a command payload read apart from its header", () => {
  const segs = fixtureSegments(PREPARED, 'server');
  // the pipeline detects on the payload read (the 4-byte header read before it is not enough)
  const header = segs.findIndex((s, i) => i > 3 && s.len === 4 && !s.out);
  const r = runSession('server', segs.slice(header + 1));
  assert.deepEqual(r.records.map((x) => x.operation), PREPARED.expected.map((e) => e.operation));
  assert.deepEqual(r.records.map((x) => x.returnedRows), PREPARED.expected.map((e) => e.returnedRows));
  assert.deepEqual(r.records.map((x) => x.statusCode), PREPARED.expected.map((e) => e.statusCode));
  assert.equal(r.stats.parseErrors + r.stats.unmatchedResponses, 0);
});

test('a MySQL 8 greeting: system mysql; query attributes before the text; metadata flag after the column count', () => {
  const QUERY_ATTRS = 1 << 27;
  const OPTIONAL_METADATA = 1 << 25;
  const caps = BASE_CAPS | QUERY_ATTRS | OPTIONAL_METADATA | DEPRECATE_EOF;
  const segs = [
    ...handshake('8.0.36', caps, 'shop'),
    out(packet(0, [0x03, 0x00, 0x01, ...text("SELECT name FROM users WHERE id = 42 AND note = 'x'")])),
    inn(concat(packet(1, [0x01, 0x01]), packet(2, columnDef('name')), packet(3, [3, ...text('bob')]), packet(4, ok(2, { header: 0xfe })))),
    // metadata skipped: flag 0, then rows straight away
    out(packet(0, [0x03, 0x00, 0x01, ...text('SELECT 1')])),
    inn(concat(packet(1, [0x01, 0x00]), packet(2, [1, 0x31]), packet(3, ok(2, { header: 0xfe })))),
  ];
  const r = runSession('client', segs);
  assert.deepEqual(r.records.map(project), [
    { operation: 'SELECT', collection: 'users', namespace: 'shop', queryText: 'SELECT name FROM users WHERE id = ? AND note = ?', returnedRows: 1 },
    { operation: 'SELECT', namespace: 'shop', queryText: 'SELECT ?', returnedRows: 1 },
  ]);
  assert.ok(r.records.every((x) => x.system === 'mysql'));
});

test('an SSL request: the rest is TLS, left alone; compression: the rest is compressed, left alone', () => {
  const SSL = 1 << 11;
  const ssl = runSession('client', [inn(greeting('10.11.6-MariaDB', BASE_CAPS | SSL)), out(packet(1, [...u32(BASE_CAPS | SSL), ...u32(1 << 24), 33, ...new Array(23).fill(0)])), out(Uint8Array.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01])), inn(Uint8Array.from([0x16, 0x03, 0x03, 0x00, 0x5a]))]);
  assert.equal(ssl.session.info.stopped, 'tls');
  assert.equal(ssl.records.length + ssl.stats.parseErrors + ssl.stats.requests, 0);
  const COMPRESS = 1 << 5;
  const z = runSession('client', [...handshake('10.11.6-MariaDB', BASE_CAPS | COMPRESS), out(Uint8Array.from([9, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]))]);
  assert.equal(z.session.info.stopped, 'compressed');
  assert.equal(z.records.length + z.stats.parseErrors, 0);
});

test('LOCAL INFILE: the file travels as client packets with sequence ids, then one OK: one operation', () => {
  const segs = [
    ...handshake('10.11.6-MariaDB', BASE_CAPS, 'kdb'),
    out(query("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE items")),
    inn(packet(1, [0xfb, ...text('/tmp/x.csv')])),
    out(concat(packet(2, text('1,a\n2,b\n')), packet(3, []))),
    inn(packet(4, ok())),
    out(query('SELECT 1')),
    inn(resultSet(1, ['1'], [['1']])),
  ];
  assert.deepEqual(
    ops(segs).map((o) => [o.operation, o.returnedRows]),
    [
      ['LOAD', undefined],
      ['SELECT', 1],
    ],
  );
});

test('progress reports (ERR 0xffff) are not the end; CALL: result sets chained by MORE_RESULTS, then the final OK', () => {
  const MORE = 0x0008;
  const progress = [0xff, 0xff, 0xff, 1, 1, 0, 0, 0, 0];
  const segs = [
    ...handshake('10.11.6-MariaDB', BASE_CAPS, 'kdb'),
    out(query('ALTER TABLE items ADD COLUMN c INT')),
    inn(concat(packet(1, progress), packet(2, ok()))),
    out(query('CALL report()')),
    inn(concat(resultSet(1, ['a'], [['1'], ['2']], { status: 0x0002 | MORE }), resultSet(6, ['b'], [['3']], { status: 0x0002 | MORE }), packet(10, ok()))),
  ];
  assert.deepEqual(
    ops(segs).map((o) => [o.operation, o.returnedRows, o.statusCode]),
    [
      ['ALTER', undefined, undefined],
      ['CALL', 3, undefined],
    ],
  );
});

test('a cursor: the execute ends at the EOF that says CURSOR_EXISTS; COM_STMT_FETCH brings the rows', () => {
  const CURSOR = 0x0040;
  const segs = [
    ...handshake('10.11.6-MariaDB', BASE_CAPS, 'kdb'),
    out(packet(0, [0x16, ...text('SELECT id FROM items')])),
    inn(concat(packet(1, [0x00, ...u32(5), ...u16(1), ...u16(0), 0, ...u16(0)]), packet(2, columnDef('id')), packet(3, eof()))),
    out(packet(0, [0x17, ...u32(5), 0x01, ...u32(1)])),
    inn(concat(packet(1, [1]), packet(2, columnDef('id')), packet(3, eof(0x0002 | CURSOR)))),
    out(packet(0, [0x1c, ...u32(5), ...u32(100)])),
    inn(concat(packet(1, [0, 0, 1, 0, 0, 0]), packet(2, [0, 0, 2, 0, 0, 0]), packet(3, eof(0x0002 | CURSOR | 0x80)))),
  ];
  assert.deepEqual(
    ops(segs).map((o) => [o.operation, o.collection, o.returnedRows]),
    [
      ['COM_STMT_PREPARE', 'items', undefined],
      ['SELECT', 'items', 0],
      ['COM_STMT_FETCH', 'items', 2],
    ],
  );
});

test("MariaDB's pipelined prepare + execute (statement id 0xffffffff) in one write", () => {
  const segs = [
    ...handshake('10.11.6-MariaDB', BASE_CAPS, 'kdb'),
    out(concat(packet(0, [0x16, ...text('SELECT name FROM items WHERE id = ?')]), packet(0, [0x17, ...u32(0xffffffff), 0, ...u32(1), 0, 1, 0xfd, 0, 1, 0x31]))),
    inn(concat(packet(1, [0x00, ...u32(9), ...u16(1), ...u16(1), 0, ...u16(0)]), packet(2, columnDef('?')), packet(3, eof()), packet(4, columnDef('name')), packet(5, eof()))),
    inn(concat(packet(1, [1]), packet(2, columnDef('name')), packet(3, eof()), packet(4, [0, 0, 1, 0x61]), packet(5, eof()))),
    out(packet(0, [0x17, ...u32(9), 0, ...u32(1), 0, 1, 0xfd, 0, 1, 0x32])),
    inn(concat(packet(1, [1]), packet(2, columnDef('name')), packet(3, eof()), packet(4, eof()))),
  ];
  assert.deepEqual(
    ops(segs).map((o) => [o.operation, o.queryText, o.returnedRows]),
    [
      ['COM_STMT_PREPARE', 'SELECT name FROM items WHERE id = ?', undefined],
      ['SELECT', 'SELECT name FROM items WHERE id = ?', 1],
      ['SELECT', 'SELECT name FROM items WHERE id = ?', 0],
    ],
  );
});

test('the statement table is bounded: the oldest statement is forgotten, its executes go unnamed', () => {
  const prep = (id: number, sql: string): Seg[] => [out(packet(0, [0x16, ...text(sql)])), inn(packet(1, [0x00, ...u32(id), ...u16(0), ...u16(0), 0, ...u16(0)]))];
  const exec = (id: number): Seg[] => [out(packet(0, [0x17, ...u32(id), 0, ...u32(1)])), inn(packet(1, ok()))];
  const segs = [...handshake('10.11.6-MariaDB', BASE_CAPS), ...prep(1, 'DELETE FROM a'), ...prep(2, 'DELETE FROM b'), ...prep(3, 'DELETE FROM c'), ...exec(1), ...exec(3)];
  const r = runSession('client', segs, { maxStatements: 2 });
  assert.deepEqual(r.records.slice(3).map((x) => [x.operation, x.collection]), [
    ['COM_STMT_EXECUTE', undefined],
    ['DELETE', 'c'],
  ]);
  assert.equal(r.session.info.statements, 2);
});

test('COM_CHANGE_USER: auth switch in between, then OK: new schema, statements forgotten', () => {
  const segs = [
    ...handshake('10.11.6-MariaDB', BASE_CAPS, 'kdb'),
    out(packet(0, [0x16, ...text('SELECT 1')])),
    inn(concat(packet(1, [0x00, ...u32(1), ...u16(1), ...u16(0), 0, ...u16(0)]), packet(2, columnDef('1')), packet(3, eof()))),
    out(packet(0, [0x11, ...text('other'), 0, 20, ...new Array(20).fill(2), ...text('shop'), 0, ...u16(33)])),
    inn(packet(1, [0xfe, ...text('mysql_native_password'), 0, ...text('0123456789abcdefghij'), 0])),
    out(packet(2, new Array(20).fill(3))),
    inn(packet(3, ok())),
    out(packet(0, [0x17, ...u32(1), 0, ...u32(1)])),
    inn(packet(1, err(1243, 'HY000', 'Unknown prepared statement handler'))),
  ];
  const r = runSession('client', segs);
  assert.deepEqual(r.records.map((x) => [x.operation, x.namespace, x.statusCode]), [
    ['COM_STMT_PREPARE', 'kdb', undefined],
    ['COM_CHANGE_USER', 'kdb', undefined],
    ['COM_STMT_EXECUTE', 'shop', '1243'],
  ]);
  assert.equal(r.stats.requests, 3, 'the auth data is not a command');
});

test('a greeting refused (ERR first), a failed login: no operations, nothing counted as a parse error', () => {
  const refused = runSession('client', [inn(packet(0, err(1040, 'HY000', 'Too many connections')))]);
  assert.equal(refused.session.info.stopped, 'refused');
  const failed = runSession('client', [inn(greeting('10.11.6-MariaDB', BASE_CAPS)), out(login(BASE_CAPS, 'app')), inn(packet(2, err(1045, '28000', 'Access denied')))]);
  assert.equal(failed.session.info.stopped, 'login_failed');
  assert.equal(refused.records.length + failed.records.length + refused.stats.parseErrors + failed.stats.parseErrors, 0);
});

test('no response: timeout after ctx.timeoutNs, connection_closed on close; a response still arriving is not late', () => {
  const { session, conn, records, stats } = newSession('client', { timeoutNs: 1e6 });
  [...handshake('10.11.6-MariaDB', BASE_CAPS), out(query('SELECT SLEEP(10)'))].forEach((s, i) => session.onData(conn, event(s, i)));
  session.expire(conn, exitNs(3) + 2e6);
  assert.deepEqual(records.map((r) => [r.operation, r.failure]), [['SELECT', 'timeout']]);
  assert.equal(stats.expired, 1);
  // a big result whose framing is lost: it ends with its last bytes once silent for the timeout
  const big = resultSet(1, ['n'], Array.from({ length: 50 }, (_, i) => [String(i)]));
  [out(query('SELECT n FROM t')), inn(big.subarray(0, 64), big.length)].forEach((s, i) => session.onData(conn, event(s, 10 + i)));
  session.expire(conn, exitNs(11) + 5e5);
  assert.equal(records.length, 1, 'still streaming');
  session.expire(conn, exitNs(11) + 2e6);
  assert.deepEqual(records.slice(1).map((r) => [r.operation, r.failure, r.returnedRows, r.endNs]), [['SELECT', undefined, undefined, exitNs(11)]]);
  session.onData(conn, event(out(query('SELECT 2')), 20));
  session.onClose(conn, exitNs(21), 'closed');
  assert.deepEqual(records.slice(2).map((r) => [r.operation, r.failure]), [['SELECT', 'connection_closed']]);
});

test('pending commands are bounded by maxPending; a response with nothing pending is counted once', () => {
  const segs = [...handshake('10.11.6-MariaDB', BASE_CAPS), out(concat(query('DO 1'), query('DO 2'), query('DO 3')))];
  const r = runSession('client', segs, { maxPending: 2, close: false });
  assert.deepEqual(r.records.map((x) => [x.queryText, x.failure]), [['DO ?', 'timeout']]);
  const o = runSession('client', [...handshake('10.11.6-MariaDB', BASE_CAPS), inn(packet(1, ok())), inn(packet(1, ok()))]);
  assert.equal(o.stats.unmatchedResponses, 1);
});

test('db.query.text: MySQL double-quoted literals and # comments go; fingerprinting off keeps the text', () => {
  const segs = [...handshake('10.11.6-MariaDB', BASE_CAPS), out(query(`SELECT * FROM t WHERE a = "secret" AND b = 'x' # note\n`)), inn(resultSet(1, ['a'], []))];
  assert.equal(ops(segs)[0]?.queryText, 'SELECT * FROM t WHERE a = ? AND b = ?');
  assert.match(String(runSession('client', segs, { fingerprint: false }).records[0]?.queryText), /"secret"/);
});

test('memory: a 1 MB query in 64 KB reads and a 100,000-row result hold at most the per-packet prefixes', () => {
  const { session, conn, records } = newSession('server');
  let i = 0;
  const feed = (s: Seg): void => session.onData(conn, event(s, i++));
  [out(greeting('10.11.6-MariaDB', BASE_CAPS)), inn(login(BASE_CAPS, 'app')), out(packet(2, ok()))].forEach(feed);
  const big = query(`INSERT INTO t VALUES ('${'x'.repeat(1 << 20)}')`);
  for (let at = 0; at < big.length; at += 65536) feed(inn(big.subarray(at, at + 65536)));
  assert.ok(session.bufferedBytes <= 8192 + 512, `${session.bufferedBytes} bytes buffered`);
  feed(out(packet(1, ok())));
  const rows = resultSet(1, ['n'], Array.from({ length: 100_000 }, (_, k) => [String(k)]));
  feed(inn(query('SELECT n FROM t')));
  for (let at = 0; at < rows.length; at += 16384) feed(out(rows.subarray(at, at + 16384)));
  assert.ok(session.bufferedBytes <= 8192 + 512, `${session.bufferedBytes} bytes buffered`);
  session.onClose(conn, 1e12, 'closed');
  assert.deepEqual(records.map((r) => [r.operation, r.returnedRows]), [
    ['INSERT', undefined],
    ['SELECT', 100_000],
  ]);
  assert.ok((records[0]?.queryText ?? '').length < 2100, 'a long text is bounded');
});

test('a response stuck inside a bogus packet (garbage length) starts over at the next command', () => {
  const segs = [
    ...handshake('10.11.6-MariaDB', BASE_CAPS, 'kdb'),
    out(query('SELECT 1')),
    inn(Uint8Array.from([0x00, 0x00, 0x10, 0x01, 0x01, 0x02])), // claims 1 MB, sends 2 bytes
    out(query('DO 2')),
    inn(packet(1, ok())),
  ];
  const r = runSession('client', segs);
  assert.deepEqual(r.records.map((x) => [x.queryText, x.returnedRows, x.statusCode]), [
    ['SELECT ?', undefined, undefined],
    ['DO ?', undefined, undefined],
  ]);
  assert.equal(r.session.info.cut, 1);
  assert.equal(r.session.info.pending, 0);
});

test('dropping the current schema: the session tracker says "", and later operations have no db.namespace', () => {
  const segs = [...handshake('10.11.6-MariaDB', BASE_CAPS, 'kdb'), out(query('DROP DATABASE kdb')), inn(packet(1, ok(2, { schema: '' }))), out(query('SELECT 1')), inn(resultSet(1, ['1'], [['1']]))];
  assert.deepEqual(ops(segs).map((o) => [o.operation, o.namespace]), [
    ['DROP', 'kdb'],
    ['SELECT', undefined],
  ]);
});
