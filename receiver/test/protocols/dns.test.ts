// DNS messages: real dnsmasq/dig/glibc bytes checked against dig's own reading,
// every truncated capture, compression attacks, and random bytes.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { MAX_ANSWERS, looksLikeDns, parseDnsMessage, rcodeName, typeName } from '../../src/protocols/dns';
import type { DnsMessage } from '../../src/protocols/dns';
import { readName } from '../../src/protocols/dns-names';
import { ALL_FIXTURES, bytesOf, expectedOf, isGlibc } from './fixtures/dns-harness';
import type { DnsWireFixture } from './fixtures/dns-harness';

/** Every whole message of a fixture side, framed (TCP prefixes removed). */
function messages(f: DnsWireFixture, side: 'client' | 'server', dir: 'egress' | 'ingress'): Uint8Array[] {
  const segs = f[side].filter((s) => s.dir === dir && s.len > 0);
  if (f.transport === 'udp') return segs.map((s) => bytesOf(s.hex));
  const out: Uint8Array[] = [];
  for (const sock of new Set(segs.map((s) => s.sock))) {
    const all = Buffer.concat(segs.filter((s) => s.sock === sock).map((s) => Buffer.from(s.hex, 'hex')));
    for (let at = 0; at + 2 <= all.length; ) {
      const n = all.readUInt16BE(at);
      out.push(new Uint8Array(all.subarray(at + 2, at + 2 + n)));
      at += 2 + n;
    }
  }
  return out;
}

function parsed(b: Uint8Array, size = b.length): DnsMessage {
  const r = parseDnsMessage(b, size);
  assert.ok(r.ok, `parse failed: ${r.ok ? '' : r.reason}`);
  return r.message;
}

const view = (m: DnsMessage): unknown => ({ rcode: rcodeName(m.rcode), questionName: m.question?.name, questionType: typeName(m.question?.type ?? 0), answers: m.answers });

describe('recorded responses read as dig read them', () => {
  for (const f of ALL_FIXTURES) {
    test(f.name, () => {
      const want = expectedOf(f);
      assert.ok(want.length > 0, 'the fixture has an answer');
      for (const side of ['client', 'server'] as const) {
        const responses = messages(f, side, side === 'client' ? 'ingress' : 'egress').map((b) => parsed(b));
        const queries = messages(f, side, side === 'client' ? 'egress' : 'ingress').map((b) => parsed(b));
        assert.equal(responses.length, want.length, `${side}: responses`);
        assert.equal(queries.length, want.length, `${side}: queries`);
        // glibc's two responses may come in either order: compare as sets by type
        const got = responses.map(view);
        const expected = want.map((w) => ({ rcode: w.rcode, questionName: w.questionName, questionType: w.questionType, answers: w.answers }));
        if (isGlibc(f)) assert.deepEqual(new Set(got.map((x) => JSON.stringify(x))), new Set(expected.map((x) => JSON.stringify(x))));
        else assert.deepEqual(got, expected);
        for (const [i, r] of responses.entries()) {
          const w = want[i];
          if (w?.id !== undefined) assert.equal(r.header.id, w.id, 'id');
          assert.equal(r.header.response, true);
          assert.equal(r.truncated, false);
        }
        for (const q of queries) {
          assert.equal(q.header.response, false);
          assert.equal(q.answers.length, 0);
          assert.ok(responses.some((r) => r.header.id === q.header.id && r.question?.name === q.question?.name), 'each query has its response');
        }
      }
    });
  }
});

test('every recorded message is strictly valid, and what the EDNS OPT record says is read', () => {
  let withOpt = 0;
  for (const f of ALL_FIXTURES) {
    for (const side of ['client', 'server'] as const) {
      for (const dir of ['egress', 'ingress'] as const) {
        for (const b of messages(f, side, dir)) {
          const m = looksLikeDns(b, b.length, 'strict');
          assert.ok(m, `${f.name}: ${side} ${dir} strictly valid`);
          assert.equal(m.parsedBytes, b.length);
          if (m.edns) {
            withOpt++;
            assert.equal(m.edns.version, 0);
            assert.ok(m.edns.udpSize >= 512, `udp size ${m.edns.udpSize}`);
          }
        }
      }
    }
  }
  assert.ok(withOpt > 20, `dig sends EDNS0 by default: ${withOpt} messages with OPT`);
});

test('every truncated capture of every recorded message: the header, the question and the answers so far', () => {
  for (const f of ALL_FIXTURES) {
    for (const b of [...messages(f, 'client', 'egress'), ...messages(f, 'client', 'ingress')]) {
      const full = parsed(b);
      const qEnd = 12 + (full.question ? (readName(b, 12, b.length, b.length) as { next: number }).next - 12 + 4 : 0);
      for (let k = 0; k < b.length; k++) {
        const r = parseDnsMessage(b.subarray(0, k), b.length);
        if (k < 12) {
          assert.equal(r.ok, false, `${f.name}: ${k} bytes: no header`);
          continue;
        }
        assert.ok(r.ok, `${f.name}: ${k}/${b.length}: ${r.ok ? '' : r.reason}`);
        const m = r.message;
        assert.equal(m.truncated, true);
        assert.deepEqual(m.header, full.header);
        assert.deepEqual(m.question, k >= qEnd ? full.question : undefined, `${f.name}: question at ${k}`);
        assert.deepEqual(m.answers, full.answers.slice(0, m.answers.length), `${f.name}: answers so far at ${k}`);
        // the same bytes with their true length unknown to the parser are a malformed message or a shorter one, never a throw
        parseDnsMessage(b.subarray(0, k));
      }
    }
  }
});

test('the 678-byte response captured to 512 bytes: 30 of its 40 answers', () => {
  const f = ALL_FIXTURES.find((x) => x.name.startsWith('udp 40 A'));
  assert.ok(f);
  const [b] = messages(f, 'client', 'ingress');
  assert.ok(b && b.length === 678);
  const m = parsed(b.subarray(0, 512), b.length);
  assert.equal(m.truncated, true);
  assert.equal(m.header.ancount, 40);
  assert.equal(m.answers.length, 30); // 27 bytes of header and question, 16 per compressed A record
  assert.deepEqual(m.answers[0], { name: 'many.test', type: 'A', ttl: 60, data: m.answers[0]?.data });
});

// ---- hand-made messages ---------------------------------------------------------------------

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const HDR_Q = 'beef 0100 0001 0000 0000 0000';
const HDR_R = (an: number, ar = 0, rcode = 0): string => `beef ${(0x8180 | rcode).toString(16)} 0001 ${an.toString(16).padStart(4, '0')} 0000 ${ar.toString(16).padStart(4, '0')}`;
const Q_EXAMPLE = '07 4578616d706c65 03 636f6d 00 0001 0001'; // "Example.com" A IN

test('names: lower case, compression, escapes, the root', () => {
  const m = parsed(hex(`${HDR_R(2)} ${Q_EXAMPLE} c00c 0005 0001 0000012c 0006 03 777777 c00c  c029 0001 0001 00000e10 0004 5db8d822`));
  assert.deepEqual(m.question, { name: 'example.com', type: 1, qclass: 1 });
  assert.deepEqual(m.answers, [
    { name: 'example.com', type: 'CNAME', ttl: 300, data: 'www.example.com' },
    { name: 'www.example.com', type: 'A', ttl: 3600, data: '93.184.216.34' },
  ]);
  assert.deepEqual(parsed(hex(`${HDR_Q} 00 0002 0001`)).question, { name: '.', type: 2, qclass: 1 });
  const odd = parsed(hex(`${HDR_Q} 04 612e5c20 05 00ff41427a 00 0001 0001`)).question?.name;
  assert.equal(odd, 'a\\.\\\\\\032.\\000\\255abz');
});

test('compression loops and other bad names are errors, never hangs', () => {
  const bad: [string, string][] = [
    ['pointer to itself', `${HDR_Q} c00c 0001 0001`],
    ['pointer forwards', `${HDR_Q} c00e c00c 0001 0001`],
    ['pointer loop through labels', `${HDR_Q} 01 61 c00c 0001 0001`],
    ['extended label type', `${HDR_Q} 41 00 0001 0001`],
    ['label type 0x80', `${HDR_Q} 81 61 00 0001 0001`],
    ['name of 256 bytes', `${HDR_Q} ${'3f' + '61'.repeat(63)}${'3f' + '61'.repeat(63)}${'3f' + '61'.repeat(63)}${'3f' + '61'.repeat(63)} 00 0001 0001`],
    ['label past the end', `${HDR_Q} 3f 6162 63`],
  ];
  for (const [why, h] of bad) {
    const r = parseDnsMessage(hex(h));
    assert.equal(r.ok, false, why);
    assert.equal(looksLikeDns(hex(h), hex(h).length, 'plausible'), undefined, why);
  }
  // a name that points back at a long question passes 255 bytes (the question was read, and remembered, first)
  const longName = `${'3f' + '61'.repeat(63)}${'3f' + '62'.repeat(63)}${'3f' + '63'.repeat(63)}${'39' + '64'.repeat(57)}00`;
  const over = parseDnsMessage(hex(`${HDR_R(1)} ${longName} 0001 0001 05 6162636465 c00c 0001 0001 0000003c 0004 0a000001`));
  assert.deepEqual(over, { ok: false, reason: 'record name: name longer than 255 bytes' });
  const within = parsed(hex(`${HDR_R(1)} ${longName} 0001 0001 03 616263 c00c 0001 0001 0000003c 0004 0a000001`));
  assert.equal(within.answers[0]?.name.length, 4 + 249); // 255 wire bytes: the limit itself
  // 100 pointers, each to the one before, kept in the data of an unknown record; the next
  // record's name enters the chain at its end: 101 hops, every one backwards
  const ptr = (target: number): string => (0xc000 | target).toString(16);
  const chainAt = 12 + 17 + 12; // after the header, the question and the first record's fixed part
  const chain = Array.from({ length: 100 }, (_, i) => ptr(i === 0 ? 12 : chainAt + 2 * (i - 1))).join('');
  const m = parsed(hex(`${HDR_R(2)} ${Q_EXAMPLE} c00c 0063 0001 0000003c 00c8 ${chain} ${ptr(chainAt + 2 * 99)} 0001 0001 0000003c 0004 0a000001`));
  assert.deepEqual(m.answers[1], { name: 'example.com', type: 'A', ttl: 60, data: '10.0.0.1' });
  // past 128 hops the name is refused
  const long = Array.from({ length: 130 }, (_, i) => ptr(i === 0 ? 12 : chainAt + 2 * (i - 1))).join('');
  const r = parseDnsMessage(hex(`${HDR_R(2)} ${Q_EXAMPLE} c00c 0063 0001 0000003c 0104 ${long} ${ptr(chainAt + 2 * 129)} 0001 0001 0000003c 0004 0a000001`));
  assert.deepEqual(r, { ok: false, reason: 'record name: too many compression pointers' });
});

test('record data: A/AAAA lengths checked, unknown types in generic form, OPT extended RCODE', () => {
  assert.equal(parseDnsMessage(hex(`${HDR_R(1)} ${Q_EXAMPLE} c00c 0001 0001 0000003c 0005 0a00000101`)).ok, false);
  assert.equal(parseDnsMessage(hex(`${HDR_R(1)} ${Q_EXAMPLE} c00c 001c 0001 0000003c 0004 0a000001`)).ok, false);
  const aaaa = parsed(hex(`${HDR_R(1)} ${Q_EXAMPLE} c00c 001c 0001 0000003c 0010 20010db8000000000000000000000001`));
  assert.equal(aaaa.answers[0]?.data, '2001:db8::1');
  const caa = parsed(hex(`${HDR_R(1)} ${Q_EXAMPLE} c00c 0101 0001 0000003c 0004 00056973`));
  assert.deepEqual(caa.answers[0], { name: 'example.com', type: 'TYPE257', ttl: 60, data: '\\# 4 00056973' });
  const https = parsed(hex(`${HDR_R(1)} ${Q_EXAMPLE} c00c 0041 0001 0000003c 0007 0001 00 0001 0002 00`));
  assert.equal(https.answers[0]?.data, '1 .');
  // BADVERS: extended RCODE 1, header RCODE 0 -> 16
  const badvers = parsed(hex(`${HDR_R(0, 1)} ${Q_EXAMPLE} 00 0029 04d0 01000000 0000`));
  assert.equal(rcodeName(badvers.rcode), 'RCODE16');
  assert.deepEqual(badvers.edns, { udpSize: 1232, version: 0 });
  assert.equal(parseDnsMessage(hex(`${HDR_R(0, 2)} ${Q_EXAMPLE} 00 0029 04d0 00000000 0000 00 0029 04d0 00000000 0000`)).ok, false, 'two OPT records');
  assert.equal(rcodeName(3), 'NXDOMAIN');
  assert.equal(rcodeName(9), 'RCODE9');
  assert.deepEqual([1, 2, 5, 6, 12, 15, 16, 28, 33, 64, 65, 255, 99].map(typeName), ['A', 'NS', 'CNAME', 'SOA', 'PTR', 'MX', 'TXT', 'AAAA', 'SRV', 'SVCB', 'HTTPS', 'ANY', 'TYPE99']);
});

test(`more than ${MAX_ANSWERS} answers: all parsed past, ${MAX_ANSWERS} kept`, () => {
  const n = 100;
  const m = parsed(hex(`${HDR_R(n)} ${Q_EXAMPLE} ${'c00c 0001 0001 0000003c 0004 0a000001 '.repeat(n)}`));
  assert.equal(m.answers.length, MAX_ANSWERS);
  assert.equal(m.parsedBytes, 12 + 17 + 16 * n);
});

test('headers that are not DNS: counts that cannot fit, opcodes, queries with answers', () => {
  const cases = [
    'beef 0100 0001 0000 0000 0000', // a query of 12 bytes cannot hold its question
    `beef 2900 0001 0000 0000 0000 ${Q_EXAMPLE}`, // opcode 5 (UPDATE)
    `beef 0140 0001 0000 0000 0000 ${Q_EXAMPLE}`, // Z set
    `beef 0100 0001 0001 0000 0000 ${Q_EXAMPLE}`, // a query with an answer count
    `beef 0100 0002 0000 0000 0000 ${Q_EXAMPLE} ${Q_EXAMPLE}`, // a query with two questions
    `beef 8180 ffff 0000 0000 0000 ${Q_EXAMPLE}`,
  ];
  for (const h of cases) assert.equal(looksLikeDns(hex(h), hex(h).length, 'plausible'), undefined, h);
  // strict also wants a known class and nothing after the sections
  assert.ok(looksLikeDns(hex(`${HDR_Q} ${Q_EXAMPLE}`), 29, 'strict'));
  assert.equal(looksLikeDns(hex(`${HDR_Q} ${Q_EXAMPLE} 00`), 30, 'strict'), undefined);
  assert.equal(looksLikeDns(hex(`${HDR_Q} 00 0001 0009`), 17, 'strict'), undefined);
  assert.ok(looksLikeDns(hex(`${HDR_Q} 00 0001 0009`), 17, 'plausible'));
});

// ---- properties ----------------------------------------------------------------------------

const recorded = ALL_FIXTURES.flatMap((f) => [...messages(f, 'client', 'egress'), ...messages(f, 'client', 'ingress')]);

test('random bytes never throw, and what parses is bounded', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), fc.nat(2000), (b, extra) => {
      for (const size of [b.length, b.length + extra]) {
        const r = parseDnsMessage(b, size);
        if (r.ok) assert.ok(r.message.answers.length <= MAX_ANSWERS);
        looksLikeDns(b, size, 'strict');
      }
    }),
    { numRuns: 3000 },
  );
});

test('mutated recorded messages never throw; names stay within 255 wire bytes', () => {
  fc.assert(
    fc.property(fc.constantFrom(...recorded), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(700), (orig, edits, cut) => {
      const b = new Uint8Array(orig);
      for (const [i, v] of edits) b[i % b.length] = v;
      const r = parseDnsMessage(b.subarray(0, Math.min(cut, b.length)), b.length);
      if (!r.ok) return;
      for (const a of r.message.answers) assert.ok(a.name.length <= 255 * 4);
      if (r.message.question) assert.ok(r.message.question.name.length <= 255 * 4);
    }),
    { numRuns: 5000 },
  );
});
