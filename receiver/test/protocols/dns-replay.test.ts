// The whole user-space path without root: a recorded capture (default 512-byte
// payloads) of dig, glibc's resolver and dnsmasq in, DNS spans out, exactly.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { dnsDetector } from '../../src/protocols/dns-detector';
import { captureMeta, replayCapture } from '../helpers/replay';
import { DNS_CAPTURE } from '../programs/dns-make-fixtures';
import type { NetnsRun } from '../programs/dns-peers';
import { digAnswers } from './fixtures/dns-harness';

const scenario = (): { run: NetnsRun; steps: string[] } => captureMeta(DNS_CAPTURE());

const replay = (): ReturnType<typeof replayCapture> => replayCapture(DNS_CAPTURE(), [dnsDetector]);

const pid = (s: ReadableSpan): number => Number(s.resource.attributes['process.pid']);
const a = (s: ReadableSpan | undefined, k: string): unknown => s?.attributes[k];

test('replayed capture: a CLIENT span per question asked, a SERVER span per question answered, as dig printed them', async () => {
  const { run, steps } = scenario();
  const { spans, agent } = await replay();
  let asked = 0;
  let askedOf5300 = 0;
  for (const [i, step] of run.steps.entries()) {
    const name = steps[i] ?? '';
    const mine = spans.filter((s) => pid(s) === step.pid);
    assert.ok(mine.every((s) => s.kind === SpanKind.CLIENT), name);
    const port = step.cmd.includes('5300') ? 5300 : 53;
    if (step.cmd[0] === 'getent') {
      assert.deepEqual(mine.map((s) => s.name).sort(), ['DNS A', 'DNS AAAA'], name);
      assert.ok(mine.every((s) => a(s, 'dns.question.name') === 'dual.test' && a(s, 'kindling.dns.response.code') === 'NOERROR' && a(s, 'network.transport') === 'udp'));
      assert.deepEqual(mine.map((s) => a(s, 'dns.answers')).flat().sort(), ['10.1.2.3', 'fd00::5']);
      asked += 2;
      continue;
    }
    const want = digAnswers(step.stdout);
    assert.equal(mine.length, want.length, `${name}: spans`);
    for (const [k, w] of want.entries()) {
      const s = mine.find((x) => a(x, 'dns.question.name') === w.questionName && x.name === `DNS ${w.questionType}`);
      assert.ok(s, `${name}: span for ${w.questionName} ${w.questionType} (${k})`);
      assert.equal(a(s, 'kindling.dns.response.code'), w.rcode, name);
      assert.equal(a(s, 'network.transport'), step.cmd.includes('+tcp') ? 'tcp' : 'udp', name);
      assert.equal(a(s, 'server.port'), port, name);
      assert.equal(a(s, 'server.address'), '127.0.0.1', name);
      const data = w.answers.map((x) => x.data);
      // 512-byte captures: the 40 answers of many.test are cut after 30
      const shown = w.questionName === 'many.test' ? data.slice(0, 30) : data;
      assert.deepEqual(a(s, 'dns.answers'), shown.length ? shown : undefined, `${name}: answers`);
      const error = w.rcode === 'NOERROR' || w.rcode === 'NXDOMAIN' ? undefined : w.rcode;
      assert.equal(a(s, 'error.type'), error, `${name}: error.type`);
      assert.equal(s.status.code, error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET);
      if (port === 5300) askedOf5300++;
      else asked++;
    }
  }
  const server = spans.filter((s) => pid(s) === run.dnsmasqPid);
  const auth = spans.filter((s) => pid(s) === run.morePids[0]);
  assert.equal(server.length, asked, 'dnsmasq SERVER spans: one per question on port 53');
  assert.equal(auth.length, askedOf5300, 'authoritative dnsmasq SERVER spans');
  assert.ok([...server, ...auth].every((s) => s.kind === SpanKind.SERVER));
  assert.equal(spans.length, asked * 2 + askedOf5300 * 2, 'no other spans');
  const stats = agent.protocolStats.get('dns');
  assert.deepEqual(stats && { ...stats }, { requests: spans.length, exchanges: spans.length, parseErrors: 0, unmatchedResponses: 0, expired: 0 });
  // A/AAAA answers named their addresses (the last asker wins: getent asked for dual.test last)
  assert.equal(agent.names.lookup('127.0.0.2'), 'web.test');
  assert.equal(agent.names.lookup('10.1.2.3'), 'dual.test');
  assert.equal(agent.names.lookup('10.9.9.9'), 'svc.test');
});
