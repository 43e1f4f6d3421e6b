// Prepared statements per connection (bounded, least recently used goes) and the
// shared description cache for simple-query texts: sharing never changes an answer.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { SqlInfoCache, Statement, StatementTable, describeSql, shapeKey } from '../../src/protocols/postgres-statements';

test('the cache gives exactly what describing the text itself gives, whatever the texts', () => {
  const token = fc.oneof(
    fc.constantFrom('SELECT', 'UPDATE', 'INSERT INTO', 'DELETE FROM', 'FROM', 'WHERE', 'AND', 'IN', 'VALUES', 'SET', '=', '+', '-', ',', '(', ')', ';', '*', '.', '::int', ' ', '\n'),
    fc.constantFrom('t1', 't2', 'pgbench_accounts', 'col_9', 'a.b1', '"Quoted 7"', '"a""b 1"', '`tick 2`', '$1', '$12', 'x1y2', '"', "'", '\\\''),
    fc.integer({ min: -99999, max: 99999 }).map(String),
    fc.constantFrom('1.5', '.5', '3e10', '0x1F', '0x2a', '1e-3'),
    fc.stringMatching(/^'[a-z0-9 "]{0,6}'$/),
    fc.stringMatching(/^"[a-z0-9 ']{0,6}"$/),
    fc.constantFrom("'it''s 4'", '-- note 5\n', '/* 6 */', '$$ 7 $$', '$tag$ 8 $tag$'),
  );
  const text = fc.array(token, { minLength: 1, maxLength: 14 }).map((ts) => ts.join(' '));
  fc.assert(
    fc.property(fc.array(text, { minLength: 1, maxLength: 30 }), (texts) => {
      const cache = new SqlInfoCache(true, 8);
      // each text twice, and each with its numbers changed: hits and misses both
      for (const t of [...texts, ...texts, ...texts.map((x) => x.replace(/\d/g, (d) => String((Number(d) + 3) % 10)))]) {
        assert.deepEqual(cache.get(t, false), describeSql(t, false, true), t);
      }
    }),
    { numRuns: 500 },
  );
});

test('texts differing in numbers only share an entry; in names or strings they do not', () => {
  assert.equal(shapeKey('UPDATE a SET x = x + -1234 WHERE id = 56789;'), shapeKey('UPDATE a SET x = x + -5 WHERE id = 7;'));
  assert.notEqual(shapeKey('SELECT * FROM t1'), shapeKey('SELECT * FROM t2'));
  assert.notEqual(shapeKey('SELECT $1'), shapeKey('SELECT $2'));
  assert.notEqual(shapeKey("SELECT 'a'"), shapeKey("SELECT 'b'"));
  assert.notEqual(shapeKey('UPDATE "Quoted 7" SET a = 1'), shapeKey('UPDATE "Quoted 8" SET a = 1'));
});

test('fingerprinting off: no sharing, the text as sent', () => {
  const cache = new SqlInfoCache(false);
  assert.equal(cache.get('SELECT 1', false).queryText, 'SELECT 1');
  assert.equal(cache.get('SELECT 2', false).queryText, 'SELECT 2');
});

test('a truncated text is marked, and its last, possibly cut, word is no verb or table', () => {
  assert.deepEqual(describeSql('SELECT a FROM orde', true, true), { operation: 'SELECT', collection: undefined, queryText: 'SELECT a FROM orde…' });
  assert.deepEqual(describeSql('SELECT a FROM orders WHERE id = 4', true, true), { operation: 'SELECT', collection: 'orders', queryText: 'SELECT a FROM orders WHERE id = ?…' });
  assert.deepEqual(describeSql('UPDA', true, true), { operation: undefined, collection: undefined, queryText: 'UPDA…' });
  assert.deepEqual(describeSql('   ', false, true), { operation: undefined, collection: undefined, queryText: undefined });
});

test('statements and portals: unnamed slots, named bounded by least recent use, Close forgets', () => {
  const t = new StatementTable(3, 2);
  t.parse('', new Statement('SELECT 1', false));
  for (const n of ['a', 'b', 'c']) t.parse(n, new Statement(`SELECT '${n}'`, false));
  t.bind('', 'a'); // uses a: b is now the least recently used
  t.parse('d', new Statement('SELECT d', false));
  assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => t.statement(n)?.text), ["SELECT 'a'", undefined, "SELECT 'c'", 'SELECT d']);
  assert.equal(t.portal('')?.text, "SELECT 'a'");
  t.bind('p1', 'c');
  t.bind('p2', 'd');
  t.bind('p3', '');
  assert.deepEqual(['p1', 'p2', 'p3'].map((n) => t.portal(n)?.text), [undefined, 'SELECT d', 'SELECT 1']);
  t.close('S', 'd');
  t.close('P', '');
  assert.deepEqual([t.statement('d'), t.portal(''), t.portal('p2')?.text], [undefined, undefined, 'SELECT d']);
  assert.equal(t.evicted, 2);
  // a Bind to an unknown statement leaves the portal unknown
  t.bind('p2', 'nope');
  assert.equal(t.portal('p2'), undefined);
});

test('a statement is described once, whatever the number of Executes', () => {
  const s = new Statement('UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;', false);
  const a = s.derived(true);
  assert.equal(s.derived(true), a);
  assert.deepEqual(a, { operation: 'UPDATE', collection: 'pgbench_accounts', queryText: 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;' });
  assert.notEqual(s.derived(false), a);
});
