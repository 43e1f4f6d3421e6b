// PostgreSQL end to end on the live kernel: a real PostgreSQL 15 driven by pgbench
// (simple and extended protocol), psql and a raw protocol client, each its own
// process; the agent captures them with eBPF and every test asserts exact span
// counts on both ends (pgbench's CLIENT spans, the postgres backends' SERVER spans).
import * as assert from 'node:assert/strict';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { PostgresSession, postgresDetector } from '../../src/protocols/postgres';
import { kernelTest } from '../helpers/kernel';
import { psqlTcp, startPostgres } from '../programs/postgres-cluster';
import type { PgCluster } from '../programs/postgres-cluster';
import { assertCount, attr, lostEvents, pidOf, runCommand, runProgram, scenario, sleep, startAgent, waitForSpans } from './e2e';

const T = 100;
const C = 2;

const isServer = (s: ReadableSpan): boolean => s.kind === SpanKind.SERVER;
const isClient = (s: ReadableSpan): boolean => s.kind === SpanKind.CLIENT;
const key = (s: ReadableSpan): string => `${String(attr(s, 'db.operation.name'))} ${String(attr(s, 'db.collection.name') ?? '-')}`;

function countBy(spans: readonly ReadableSpan[], f: (s: ReadableSpan) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of spans) out[f(s)] = (out[f(s)] ?? 0) + 1;
  return out;
}

/**
 * pgbench's default TPC-B-like script, per transaction, each statement on its own
 * (simple: a Query each; prepared: Bind/Describe/Execute/Sync each, after one
 * Parse/Sync per statement and connection, which is not an operation).
 */
function transactionTexts(prepared: boolean): Record<string, string> {
  const [d, a, b, t] = prepared ? ['$1', '$2', '$1', '$2'] : ['?', '?', '?', '?'];
  return {
    'BEGIN -': 'BEGIN;',
    'UPDATE pgbench_accounts': `UPDATE pgbench_accounts SET abalance = abalance + ${d} WHERE aid = ${a};`,
    'SELECT pgbench_accounts': `SELECT abalance FROM pgbench_accounts WHERE aid = ${prepared ? '$1' : '?'};`,
    'UPDATE pgbench_tellers': `UPDATE pgbench_tellers SET tbalance = tbalance + ${b} WHERE tid = ${t};`,
    'UPDATE pgbench_branches': `UPDATE pgbench_branches SET bbalance = bbalance + ${b} WHERE bid = ${t};`,
    'INSERT pgbench_history': `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${prepared ? '$1, $2, $3, $4' : '?, ?, ?, ?'}, CURRENT_TIMESTAMP);`,
    'END -': 'END;',
  };
}

/**
 * What pgbench sends besides the transactions, on its own first connection, before
 * the clients start (PostgreSQL 15's pgbench, simple queries whatever -M says): the
 * scale (SELECT count(*) FROM pgbench_branches), the partitioning of
 * pgbench_accounts (a SELECT over pg_catalog.pg_class), then, without -n, VACUUM
 * pgbench_branches, VACUUM pgbench_tellers and TRUNCATE pgbench_history.
 */
const SETUP: Record<string, number> = { 'SELECT pgbench_branches': 1, 'SELECT pg_catalog.pg_class': 1, 'VACUUM -': 2, 'TRUNCATE pgbench_history': 1 };

async function pgbenchRun(pg: PgCluster, mode: 'simple' | 'prepared', c: Parameters<typeof runCommand>[0]): Promise<{ pid: number; stdout: string }> {
  return runCommand(c, 'pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-M', mode, '-t', String(T), '-c', String(C), 'postgres']);
}

kernelTest(
  'pgbench -M simple and -M prepared: per statement exactly T*C spans on pgbench and on the postgres backends; the extended protocol carries the statement text; failures carry their SQLSTATE',
  async () => {
    await scenario(async (c) => {
      const pg = await startPostgres();
      c.defer(() => pg.close());
      const init = await runCommand(c, 'pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-i', '-s', '1', '-q', 'postgres']);
      assert.ok(init.pid > 0);
      const { agent, mem } = await startAgent(c, { OTEL_BSP_MAX_QUEUE_SIZE: '65536' }, [postgresDetector]);
      await sleep(200);
      const before = { ...(agent.protocolStats.get('postgresql') ?? {}) };
      // SERVER spans already counted for an earlier run
      const seen = new Set<ReadableSpan>();

      for (const mode of ['simple', 'prepared'] as const) {
        const run = await pgbenchRun(pg, mode, c);
        assert.match(run.stdout, new RegExp(`number of transactions actually processed: ${T * C}/${T * C}`), run.stdout);
        const n = 7 * T * C + 5;
        const got = await waitForSpans(
          agent,
          mem,
          {
            client: { match: (s) => isClient(s) && pidOf(s) === run.pid, count: n },
            // this run's backends: postgres processes answering on the port, not yet counted
            server: { match: (s) => isServer(s) && attr(s, 'server.port') === pg.port && !seen.has(s), count: n },
          },
          { timeoutMs: 30_000, settleMs: 500 },
        );
        const server = got.server;
        for (const s of server) seen.add(s);
        assertCount(got.client, n, `${mode}: pgbench CLIENT spans`);
        assertCount(server, n, `${mode}: postgres SERVER spans`);
        const texts = transactionTexts(mode === 'prepared');
        const want: Record<string, number> = { ...SETUP };
        for (const k of Object.keys(texts)) want[k] = T * C;
        for (const [side, spans] of [
          ['pgbench', got.client],
          ['postgres', server],
        ] as const) {
          assert.deepEqual(countBy(spans, key), want, `${mode}: ${side} spans by statement`);
          // every transaction statement carries its text (fingerprinted: literals are '?', parameters stay $n)
          for (const [k, text] of Object.entries(texts)) {
            const wrong = spans.filter((s) => key(s) === k && attr(s, 'db.query.text') !== text);
            assert.equal(wrong.length, 0, `${mode}: ${side} ${k}: ${wrong.length} spans without "${text}" (e.g. ${String(wrong[0] && attr(wrong[0], 'db.query.text'))})`);
          }
          assert.ok(spans.every((s) => attr(s, 'db.namespace') === 'postgres' && attr(s, 'db.system.name') === 'postgresql' && attr(s, 'error.type') === undefined), `${mode}: ${side}: namespace, system, no errors`);
          assert.ok(spans.filter((s) => key(s) === 'SELECT pgbench_accounts').every((s) => attr(s, 'db.response.returned_rows') === 1), `${mode}: ${side}: SELECT abalance returns one row`);
        }
        process.stdout.write(`# ${mode}: pgbench ${got.client.length} CLIENT spans, postgres ${server.length} SERVER spans: ${JSON.stringify(countBy(server, key))}\n`);
        assert.equal(new Set(server.map(pidOf)).size, C + 1, `${mode}: one backend per pgbench connection (C clients and the setup one)`);
        const total = (xs: readonly ReadableSpan[]): number => xs.reduce((t, s) => t + s.duration[0] * 1e9 + s.duration[1], 0);
        assert.ok(total(server) < total(got.client), `${mode}: the backends' side of the statements is shorter than pgbench's`);
      }

      // failures, from a raw protocol client: simple and extended, errors mid-batch
      const errs = await runProgram(c, 'postgres-client.js', [pg.port, 'errors']);
      const errPid = (JSON.parse(errs.stdout) as { pid: number }).pid;
      const got = await waitForSpans(agent, mem, {
        client: { match: (s) => isClient(s) && pidOf(s) === errPid, count: 8 },
        server: { match: (s) => isServer(s) && attr(s, 'server.port') === pg.port && !seen.has(s), count: 8 },
      });
      for (const [side, spans] of [
        ['client', got.client],
        ['server', got.server],
      ] as const) {
        assertCount(spans, 8, `errors: ${side} spans`);
        assert.deepEqual(countBy(spans, (s) => String(attr(s, 'error.type') ?? 'ok')), { ok: 2, '42P01': 1, '22012': 3, '42601': 1, '26000': 1 }, `errors: ${side}`);
        assert.ok(spans.every((s) => attr(s, 'error.type') === undefined || attr(s, 'db.response.status_code') === attr(s, 'error.type')));
      }
      const after = agent.protocolStats.get('postgresql');
      assert.ok(after, 'postgresql counters');
      assert.equal(after.parseErrors - (before.parseErrors ?? 0), 0, 'no parse errors');
      assert.equal(after.unmatchedResponses - (before.unmatchedResponses ?? 0), 0, 'no unmatched responses');
      assert.equal(after.expired - (before.expired ?? 0), 0, 'nothing expired');
      assert.equal(lostEvents(agent), 0, `kernel lost events: ${JSON.stringify(agent.source.stats().lost)}`);
    });
  },
  { timeout: 180_000 },
);

kernelTest(
  'bad input: protocol-shaped garbage, a 100,000-row result, a 100,000-row COPY: no crash, bounded session memory, exact spans, counters rise',
  async () => {
    await scenario(async (c) => {
      const pg = await startPostgres();
      c.defer(() => pg.close());
      const { agent, mem } = await startAgent(c, { OTEL_BSP_MAX_QUEUE_SIZE: '65536' }, [postgresDetector]);
      await sleep(200);
      const stats = (): { requests: number; exchanges: number; parseErrors: number } => {
        const s = agent.protocolStats.get('postgresql');
        return { requests: s?.requests ?? 0, exchanges: s?.exchanges ?? 0, parseErrors: s?.parseErrors ?? 0 };
      };
      const s0 = stats();
      // what the PostgreSQL sessions hold for messages spanning segments, sampled all along
      let held = 0;
      const sampler = setInterval(() => {
        for (const conn of agent.pipeline.table.values()) if (conn.session instanceof PostgresSession) held = Math.max(held, conn.session.bufferedBytes);
      }, 2);
      c.defer(() => clearInterval(sampler));

      // a valid startup, then a Query whose length is impossible: the server ends the connection
      const garbage = await runProgram(c, 'postgres-client.js', [pg.port, 'garbage']);
      const gPid = (JSON.parse(garbage.stdout) as { pid: number }).pid;
      await sleep(300);
      await agent.spans.flush();
      assert.equal(mem.spans.filter((s) => pidOf(s) === gPid).length, 0, 'no span from garbage');
      const s1 = stats();
      assert.ok(s1.parseErrors - s0.parseErrors >= 2, `parse errors counted on both ends: ${s1.parseErrors - s0.parseErrors}`);

      // 100,000 rows (about 1.6 MB) to psql, captured 512 bytes a syscall
      const rows = await psqlTcp(pg.port, 'user=postgres sslmode=disable', ['-c', 'SELECT generate_series(1, 100000)']);
      assert.equal(rows.code, 0, rows.stderr);
      assert.equal(rows.stdout.trim().split('\n').length, 100000);
      const big = await waitForSpans(agent, mem, {
        client: { match: (s) => isClient(s) && pidOf(s) === rows.pid, count: 1 },
        server: { match: (s) => isServer(s) && attr(s, 'server.port') === pg.port, count: 1 },
      });
      assertCount(big.client, 1, 'psql CLIENT span');
      assertCount(big.server, 1, 'postgres SERVER span');
      for (const [side, s] of [['psql', big.client[0]], ['postgres', big.server[0]]] as const) {
        assert.ok(s);
        assert.equal(attr(s, 'db.query.text'), 'SELECT generate_series(?, ?)');
        const n = attr(s, 'db.response.returned_rows');
        // the count is in CommandComplete at the very end: known when the syscall carrying it was captured whole
        assert.ok(n === 100000 || n === undefined, `${side}: returned_rows ${String(n)}`);
        process.stdout.write(`# 100,000 rows, ${side}: returned_rows ${n === undefined ? 'not captured' : String(n)}\n`);
      }

      // pgbench -i: 27 statements, among them COPY pgbench_accounts FROM STDIN with 100,000 rows of CopyData
      const init = await runCommand(c, 'pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-i', '-s', '1', '-q', 'postgres']);
      const INIT: Record<string, number> = {
        'DROP -': 1,
        'CREATE -': 4,
        'BEGIN -': 1,
        'TRUNCATE pgbench_accounts': 1,
        'INSERT pgbench_branches': 1,
        'INSERT pgbench_tellers': 10,
        'COPY pgbench_accounts': 1,
        'COMMIT -': 1,
        'VACUUM -': 4,
        'ALTER -': 3,
      };
      const n = Object.values(INIT).reduce((a, b) => a + b, 0);
      const got = await waitForSpans(agent, mem, {
        client: { match: (s) => isClient(s) && pidOf(s) === init.pid, count: n },
        server: { match: (s) => isServer(s) && attr(s, 'server.port') === pg.port && s !== big.server[0], count: n },
      });
      assert.deepEqual(countBy(got.client, key), INIT, 'pgbench -i CLIENT spans');
      assert.deepEqual(countBy(got.server, key), INIT, 'postgres SERVER spans for pgbench -i');

      const s2 = stats();
      assert.ok(s2.requests - s1.requests >= 2 * (1 + n) && s2.exchanges - s1.exchanges >= 2 * (1 + n), `counters rose: ${JSON.stringify([s1, s2])}`);
      clearInterval(sampler);
      assert.ok(held <= 2 * 16384, `a PostgreSQL session held ${held} bytes`);
      assert.equal(lostEvents(agent), 0, `kernel lost events: ${JSON.stringify(agent.source.stats().lost)}`);
    });
  },
  { timeout: 120_000 },
);
