// The HTTP/1 parser on every fixture: whole, byte by byte, split at every index, and
// with each write's captured prefix truncated at every length.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpMessage } from '../../src/protocols/http1';
import { FIXTURES } from './fixtures/http1';
import type { ExpectedMessage, Http1Fixture } from './fixtures/http1';
import { enterNs, exitNs, layout, project, runFixture, segmentOf, segmentsAt } from './fixtures/http1-harness';
import type { Layout } from './fixtures/http1-harness';

/** What each message must be when the stream is cut at `starts`. */
function expected(f: Http1Fixture, l: Layout, starts: number[]): Array<Record<string, unknown>> {
  return f.messages.map((e: ExpectedMessage, i) => {
    const [a, b] = l.ranges[i] ?? [0, 0];
    return {
      type: e.type,
      method: e.method,
      target: e.target,
      status: e.status,
      version: e.version,
      headers: e.headers,
      bodySize: e.bodySize,
      keepAlive: e.keepAlive,
      informational: e.informational ?? false,
      upgrade: e.upgrade ?? false,
      truncated: false,
      startNs: enterNs(segmentOf(starts, a)),
      endNs: exitNs(segmentOf(starts, b - 1)),
    };
  });
}

function checkRun(f: Http1Fixture, l: Layout, starts: number[], what: string): void {
  const r = runFixture(f, segmentsAt(l.stream, starts));
  assert.deepEqual(r.errors, [], `${f.name} (${what}): errors`);
  assert.deepEqual(r.messages.map(project), expected(f, l, starts), `${f.name} (${what})`);
}

// ---- fixtures: whole, byte by byte, every split, every truncated prefix -----------------

describe('http1 fixtures', () => {
  for (const f of FIXTURES) {
    const l = layout(f);
    const n = l.stream.length;

    test(`${f.name}: whole, natural writes, byte by byte`, () => {
      checkRun(f, l, [0], 'whole');
      checkRun(f, l, l.starts, 'natural writes');
      checkRun(f, l, Array.from({ length: n }, (_, i) => i), 'byte by byte');
    });

    test(`${f.name}: split at every index`, () => {
      for (let k = 1; k < n; k++) checkRun(f, l, [0, k], `split at ${k}`);
    });

    test(`${f.name}: every truncation of each write's captured prefix`, () => {
      const natural = expected(f, l, l.starts);
      for (let j = 0; j < l.starts.length; j++) {
        const full = segmentsAt(l.stream, l.starts);
        const seg = full[j];
        if (seg === undefined) continue;
        for (let k = 0; k < seg.data.length; k++) {
          const segs = full.map((s, i) => (i === j ? { ...s, data: s.data.subarray(0, k) } : s));
          const r = runFixture(f, segs);
          const what: string = `${f.name}: write ${j} captured ${k}/${seg.len}`;
          const lostUpgrade = checkTruncated(l, natural, r.messages, j, what);
          if (!lostUpgrade) assert.deepEqual(r.errors, [], what);
        }
      }
    });
  }
});

/**
 * With write `j` truncated, the output must be a subsequence of the full output where
 * each message is exact or, if marked truncated, agrees on what it reports; messages
 * wholly before write j, and those starting a later write, must be exact. True when
 * the cut hid an upgrade, after which nothing can be expected.
 */
function checkTruncated(l: Layout, natural: Array<Record<string, unknown>>, got: HttpMessage[], j: number, what: string): boolean {
  let e = 0;
  const matched = new Map<number, boolean>(); // expected index → matched by a truncated message
  for (const m of got) {
    const p = project(m);
    let found = false;
    while (e < natural.length && !found) {
      const x = natural[e] ?? {};
      found = m.truncated ? compatible(m, x) && m.endNs === exitNs(j) : deepEq(p, x);
      if (found) matched.set(e, m.truncated);
      e++;
    }
    assert.ok(found, `${what}: unexpected message ${JSON.stringify(p)}`);
    // the cut hid a 101's status: what follows is not HTTP, though it may look like it
    if (m.truncated && natural[e - 1]?.upgrade === true && !m.upgrade) return true;
  }
  for (let i = 0; i < natural.length; i++) {
    const [a, b] = l.ranges[i] ?? [0, 0];
    const first = segmentOf(l.starts, a);
    const before = segmentOf(l.starts, b - 1) < j;
    const startsLaterWrite = first > j && l.starts[first] === a;
    if (before || startsLaterWrite) assert.equal(matched.get(i), false, `${what}: message ${i} must be exact`);
  }
  return false;
}

function deepEq(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** A truncated message agrees with the full one on every field it reports. */
function compatible(m: HttpMessage, x: Record<string, unknown>): boolean {
  const opt = (v: unknown, w: unknown): boolean => v === undefined || v === w;
  const headers = x.headers as Record<string, unknown>;
  return (
    m.type === x.type &&
    m.startNs === x.startNs &&
    opt(m.method, x.method) &&
    opt(m.target, x.target) &&
    opt(m.status, x.status) &&
    opt(m.bodySize, x.bodySize) &&
    // list-valued fields may have lost their later lines
    Object.entries(m.headers).every(([k, v]) => headers[k] === v || (typeof v === 'string' && String(headers[k]).startsWith(v)))
  );
}
