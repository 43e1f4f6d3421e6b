// MySQL / MariaDB end to end on the live kernel: a real MariaDB 10.11 (mariadbd) and real
// clients (the mariadb CLI, and a raw-socket client for prepared statements, garbage and
// big results) run as their own processes; the agent captures them with eBPF, and every
// test asserts exact span counts per operation on the client's side and on mariadbd's.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { mysqlDetector } from '../../src/protocols/mysql';
import type { MysqlSession } from '../../src/protocols/mysql';
import { kernelTest, kernelUnavailableReason } from '../helpers/kernel';
import { mariadbAvailable, startMariadb } from '../programs/mysql-peer';
import type { Mariadb } from '../programs/mysql-peer';
import { assertCount, attr, lostEvents, pidOf, program, runProgram, scenario, startAgent, waitForSpans } from './e2e';
import type { Cleanup, LiveAgent } from './e2e';

let db: Mariadb | undefined;
const needDb = (): Mariadb => {
  assert.ok(db, `MariaDB did not start: ${mariadbAvailable() ?? 'see the before hook'}`);
  return db;
};

before(async () => {
  if (kernelUnavailableReason() !== undefined || mariadbAvailable() !== undefined) return;
  db = await startMariadb();
  await db.sql(`CREATE TABLE ${db.database}.seed (id INT PRIMARY KEY)`);
});
after(async () => {
  await db?.close();
});

const isDb = (s: ReadableSpan): boolean => s.attributes['db.system.name'] === 'mariadb';
const ops = (spans: readonly ReadableSpan[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of spans) out[String(attr(s, 'db.operation.name'))] = (out[String(attr(s, 'db.operation.name'))] ?? 0) + 1;
  return out;
};

function client(c: Cleanup, d: Mariadb, steps: unknown[][], extra: Record<string, unknown> = {}): Promise<{ pid: number; stdout: string }> {
  const cfg = { port: d.port, user: d.user, password: d.password, db: d.database, deprecateEof: false, steps, ...extra };
  return runProgram(c, 'mysql-client.js', [JSON.stringify(cfg)]);
}

function cli(c: Cleanup, d: Mariadb, sql: string[]): Promise<{ pid: number; stdout: string }> {
  // statements on stdin: with -e the CLI stops at the first error even with --force
  const args = ['--no-defaults', '-h', '127.0.0.1', '-P', String(d.port), '-u', d.user, `-p${d.password}`, '--force', '--batch', d.database];
  return new Promise((resolve, reject) => {
    const child = spawn('mariadb', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    c.defer(() => void child.kill('SIGKILL'));
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.once('error', reject);
    child.once('exit', () => resolve({ pid: child.pid ?? 0, stdout }));
    child.stdin.end(sql.map((q) => `${q};\n`).join(''));
  });
}

const serverSpans = (d: Mariadb) => (s: ReadableSpan): boolean => isDb(s) && s.kind === SpanKind.SERVER && pidOf(s) === d.pid;
const clientOf = (pid: number) => (s: ReadableSpan): boolean => isDb(s) && s.kind === SpanKind.CLIENT && pidOf(s) === pid;

kernelTest('a known mix of text and prepared statements: exact counts per operation on the client and on mariadbd', async () => {
  const d = needDb();
  await scenario(async (c) => {
    const { agent, mem }: LiveAgent = await startAgent(c, {}, [mysqlDetector]);
    const K = 5;
    const M = 4;
    const E = 6;
    const steps: unknown[][] = [['query', 'CREATE TABLE mix (id INT PRIMARY KEY, v VARCHAR(32))']];
    for (let i = 1; i <= K; i++) steps.push(['query', `INSERT INTO mix VALUES (${i}, 'value-${i}')`]);
    for (let i = 1; i <= M; i++) steps.push(['query', `SELECT id, v FROM mix WHERE id = ${i}`]);
    steps.push(['initdb', d.database], ['ping'], ['prepare', 's', 'SELECT v FROM mix WHERE id = ?']);
    for (let i = 1; i <= E; i++) steps.push(['execute', 's', [String(((i - 1) % K) + 1)]]);
    steps.push(['close', 's'], ['query', 'SELECT * FROM missing_table'], ['quit']);
    const run = await client(c, d, steps);
    const results = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(results.filter((r) => r['error'] === 1146).length, 1, 'the client saw exactly one failure');
    const total = 1 + K + M + 3 + E + 2;

    const got = await waitForSpans(agent, mem, { client: { match: clientOf(run.pid), count: total }, server: { match: serverSpans(d), count: total } });
    const want = { CREATE: 1, INSERT: K, SELECT: M + E + 1, COM_INIT_DB: 1, COM_PING: 1, COM_STMT_PREPARE: 1, COM_STMT_CLOSE: 1 };
    for (const [side, spans] of [['client', got.client], ['server', got.server]] as const) {
      assertCount(spans, total, `${side} spans`);
      assert.deepEqual(ops(spans), want, `${side}: per operation`);
      const executes = spans.filter((s) => attr(s, 'db.query.text') === 'SELECT v FROM mix WHERE id = ?' && attr(s, 'db.operation.name') === 'SELECT');
      assert.equal(executes.length, E, `${side}: the executes carry the prepared text`);
      assert.ok(executes.every((s) => attr(s, 'db.response.returned_rows') === 1 && attr(s, 'db.collection.name') === 'mix' && s.name === 'SELECT mix'));
      const failed = spans.filter((s) => s.status.code === SpanStatusCode.ERROR);
      assert.equal(failed.length, 1, `${side}: one failure`);
      assert.deepEqual([attr(failed[0] as ReadableSpan, 'db.response.status_code'), attr(failed[0] as ReadableSpan, 'error.type'), attr(failed[0] as ReadableSpan, 'db.collection.name')], ['1146', '1146', 'missing_table']);
      assert.ok(spans.every((s) => attr(s, 'db.namespace') === d.database && attr(s, 'server.port') === d.port), `${side}: namespace and port`);
      assert.equal(spans.filter((s) => attr(s, 'db.operation.name') === 'INSERT' && attr(s, 'db.query.text') === 'INSERT INTO mix VALUES (?, ?)').length, K, `${side}: literals fingerprinted`);
    }
    assert.ok(got.server.every((s) => s.resource.attributes['service.name'] === 'mariadbd'));
    // in the same order on both sides, and each mariadbd span within its client's
    const ns = (t: [number, number]): number => t[0] * 1e9 + t[1];
    const byStart = (a: ReadableSpan, b: ReadableSpan): number => ns(a.startTime) - ns(b.startTime);
    const cs = [...got.client].sort(byStart);
    [...got.server].sort(byStart).forEach((s, i) => {
      const x = cs[i] as ReadableSpan;
      assert.equal(attr(s, 'db.operation.name'), attr(x, 'db.operation.name'), `span ${i} in order`);
      if (attr(s, 'db.operation.name') === 'COM_STMT_CLOSE') return; // no response: each side ends with its own syscall
      assert.ok(ns(s.startTime) >= ns(x.startTime) && ns(s.endTime) <= ns(x.endTime), `span ${i}: mariadbd within the client`);
    });
    const st = agent.protocolStats.get('mysql');
    assert.equal(st?.parseErrors, 0);
    assert.equal(lostEvents(agent), 0);
  });
});

kernelTest('the mariadb CLI (libmariadb): text queries, USE, an error, exact on both sides', async () => {
  const d = needDb();
  await scenario(async (c) => {
    const { agent, mem } = await startAgent(c, {}, [mysqlDetector]);
    const run = await cli(c, d, ['INSERT INTO seed VALUES (1), (2), (3)', 'SELECT id FROM seed', 'SELECT * FROM nope', 'USE mysql', 'SELECT COUNT(*) FROM db']);
    assert.match(run.stdout, /id\n1\n2\n3\n/);
    // USE is the CLI's own command: SELECT DATABASE() then COM_INIT_DB
    const want = { INSERT: 1, SELECT: 4, COM_INIT_DB: 1 };
    const got = await waitForSpans(agent, mem, { client: { match: clientOf(run.pid), count: 6 }, server: { match: serverSpans(d), count: 6 } });
    for (const [side, spans] of [['client', got.client], ['server', got.server]] as const) {
      assertCount(spans, 6, `${side} spans`);
      assert.deepEqual(ops(spans), want, side);
      assert.equal(spans.find((s) => attr(s, 'db.query.text') === 'SELECT id FROM seed')?.attributes['db.response.returned_rows'], 3);
      assert.equal(spans.find((s) => attr(s, 'db.collection.name') === 'nope')?.attributes['error.type'], '1146');
      assert.equal(spans.find((s) => attr(s, 'db.collection.name') === 'db')?.attributes['db.namespace'], 'mysql');
    }
  });
});

kernelTest('bad input: protocol-shaped garbage on the port, then a 100,000-row result: no crash, bounded memory, counters rise', async () => {
  const d = needDb();
  await scenario(async (c) => {
    const { agent, mem } = await startAgent(c, {}, [mysqlDetector]);
    const stats = (): { requests: number; exchanges: number; unmatched: number } => {
      const s = agent.protocolStats.get('mysql');
      return { requests: s?.requests ?? 0, exchanges: s?.exchanges ?? 0, unmatched: s?.unmatchedResponses ?? 0 };
    };
    const before0 = stats();
    const random = (n: number, seed: number): string => {
      let x = seed;
      return Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 0xff).map((b) => b.toString(16).padStart(2, '0')).join('');
    };
    // no login at all; an unknown command (ERR 1047); a packet out of order (ERR, then close);
    // a header promising more than comes; noise after a good login
    await client(c, d, [['raw', random(64, 1), 300]], { handshake: false });
    const unknown = await client(c, d, [['raw', '010000007f', 300], ['ping']]);
    await client(c, d, [['raw', '090000050353454c4543542031', 300]]);
    await client(c, d, [['raw', 'e803000003' + '41'.repeat(20), 200]]);
    await client(c, d, [['raw', random(2000, 7), 300]]);
    const garbage = await waitForSpans(agent, mem, { server: { match: (s) => serverSpans(d)(s) && attr(s, 'db.response.status_code') === '1047', count: 1 }, client: { match: (s) => clientOf(unknown.pid)(s), count: 2 } });
    assertCount(garbage.server, 1, 'mariadbd: the unknown command answered by ERR 1047');
    assert.deepEqual(garbage.client.map((s) => [attr(s, 'db.operation.name'), attr(s, 'db.response.status_code') ?? null]), [
      ['COM_UNKNOWN_7f', '1047'],
      ['COM_PING', null],
    ]);
    const afterGarbage = stats();
    assert.ok(afterGarbage.requests > before0.requests, 'requests counted');

    // a big result: 100,000 rows, far beyond 512 captured bytes per syscall; the connection stays open
    const child = spawn(process.execPath, [program('mysql-client.js'), JSON.stringify({ port: d.port, user: d.user, password: d.password, db: d.database, steps: [['query', "SELECT seq, CONCAT('row-', seq) FROM seq_1_to_100000"], ['query', 'SELECT 1'], ['hold'], ['quit']] })], { stdio: ['pipe', 'pipe', 'inherit'] });
    c.defer(() => void child.kill('SIGKILL'));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('"holding"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`client exited ${code}: ${out}`)));
    });
    assert.match(out, /"rows":100000/);
    const heap0 = process.memoryUsage().heapUsed;
    const big = await waitForSpans(agent, mem, { client: { match: clientOf(child.pid ?? 0), count: 2 }, server: { match: (s) => serverSpans(d)(s) && String(attr(s, 'db.collection.name')).startsWith('seq_1_to_100000'), count: 1 } });
    assertCount(big.client, 2, 'big: client spans');
    assertCount(big.server, 1, 'big: mariadbd span for the 100,000 rows');
    for (const s of [big.server[0], big.client[0]]) {
      assert.ok(s);
      assert.equal(attr(s, 'db.operation.name'), 'SELECT');
      // its rows went past the captured bytes: the count is left out rather than guessed
      assert.equal(attr(s, 'db.response.returned_rows'), undefined);
      assert.equal(s.status.code, SpanStatusCode.UNSET);
    }
    assert.equal(attr(big.client[1] as ReadableSpan, 'db.response.returned_rows'), 1, 'the next query is read exactly again');
    // memory: every live MySQL session holds at most its per-packet prefixes
    const sessions = [...agent.pipeline.table.values()].map((x) => x.session).filter((x): x is MysqlSession => x?.protocol === 'mysql');
    assert.ok(sessions.length >= 2, 'the held connection, seen from both ends');
    for (const s of sessions) assert.ok(s.bufferedBytes <= 8192 + 512, `${s.bufferedBytes} bytes buffered`);
    assert.ok(process.memoryUsage().heapUsed - heap0 < 64 * 1024 * 1024, 'the agent did not grow with the result');
    child.stdin.end('\n');
    await new Promise((r) => child.once('exit', r));
    const end = stats();
    assert.ok(end.exchanges > afterGarbage.exchanges, 'exchanges counted');

    // and the agent still reads a clean connection exactly
    const clean = await client(c, d, [['query', 'SELECT 7'], ['quit']]);
    const last = await waitForSpans(agent, mem, { client: { match: clientOf(clean.pid), count: 1 } });
    assertCount(last.client, 1, 'clean client after the garbage');
    assert.equal(attr(last.client[0] as ReadableSpan, 'db.response.returned_rows'), 1);
  });
}, { timeout: 120_000 });
