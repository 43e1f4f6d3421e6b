import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { fingerprintSql, sqlCollection, sqlOperation } from '../../src/protocols/sql';

test('literals become ?, lists collapse, comments and extra whitespace go', () => {
  const cases: [string, string][] = [
    ["SELECT * FROM orders WHERE id IN (1, 2, 3) AND note = 'x'", 'SELECT * FROM orders WHERE id IN (?) AND note = ?'],
    ["select a from t where s = 'it''s' and n = -4.5e3", 'select a from t where s = ? and n = ?'],
    ["INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b'), (3, 'c')", 'INSERT INTO t (a, b) VALUES (?, ?)'],
    ['SELECT $1::int, $2', 'SELECT $1::int, $2'],
    ["SELECT $$a'b$$, $tag$x$tag$", 'SELECT ?, ?'],
    ['SELECT x FROM t1 -- trailing\n  WHERE  y=0x1F /* c */ AND z = 7', 'SELECT x FROM t1 WHERE y=? AND z = ?'],
    ['UPDATE pgbench_accounts SET abalance = abalance + -4242 WHERE aid = 17;', 'UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;'],
    ['SELECT col2, t3.x FROM t3', 'SELECT col2, t3.x FROM t3'],
    ["SELECT 'unterminated", 'SELECT ?'],
  ];
  for (const [sql, fp] of cases) assert.equal(fingerprintSql(sql), fp, sql);
  assert.ok(fingerprintSql(`SELECT ${'a, '.repeat(2000)}b`).endsWith('…'));
});

test('operation verb and first table', () => {
  assert.equal(sqlOperation('  select 1'), 'SELECT');
  assert.equal(sqlOperation('/* hint */ INSERT INTO t VALUES (1)'), 'INSERT');
  assert.equal(sqlOperation('(SELECT 1)'), 'SELECT');
  assert.equal(sqlOperation(''), undefined);
  assert.equal(sqlCollection('SELECT a FROM public.accounts WHERE x'), 'public.accounts');
  assert.equal(sqlCollection('select * from "Order Items"'), 'Order Items');
  assert.equal(sqlCollection('INSERT INTO `shop`.`orders` (a) VALUES (1)'), 'shop.orders');
  assert.equal(sqlCollection('UPDATE ONLY t SET a=1'), 't');
  assert.equal(sqlCollection('DELETE FROM sessions'), 'sessions');
  assert.equal(sqlCollection('SELECT 1'), undefined);
  assert.equal(sqlCollection('SELECT * FROM (SELECT 1) s'), undefined);
  assert.equal(sqlCollection('BEGIN'), undefined);
});
