import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Conntrack, parseConntrackLine } from '../../src/metadata/conntrack';

const LINES = [
  // a ClusterIP connection DNATed to a pod
  'ipv4     2 tcp      6 86395 ESTABLISHED src=10.0.0.7 dst=10.96.0.10 sport=41000 dport=80 src=10.244.1.5 dst=10.0.0.7 sport=8080 dport=41000 [ASSURED] mark=0 zone=0 use=2',
  // no translation
  'ipv4     2 tcp      6 117 TIME_WAIT src=10.0.0.7 dst=10.0.0.8 sport=41001 dport=443 src=10.0.0.8 dst=10.0.0.7 sport=443 dport=41001 [ASSURED] mark=0 zone=0 use=2',
  // UDP DNS to a ClusterIP
  'ipv4     2 udp      17 29 src=10.0.0.7 dst=10.96.0.10 sport=53000 dport=53 src=10.244.0.3 dst=10.0.0.7 sport=53 dport=53000 mark=0 zone=0 use=2',
  // IPv6, fully expanded as the kernel prints it
  'ipv6     10 tcp      6 299 ESTABLISHED src=fd00:0000:0000:0000:0000:0000:0000:0007 dst=fd00:0000:0000:0000:0000:0000:0000:0a00 sport=42000 dport=80 src=fd00:0000:0000:0000:0000:0000:0001:0005 dst=fd00:0000:0000:0000:0000:0000:0000:0007 sport=8080 dport=42000 [ASSURED] mark=0 zone=0 use=2',
  'garbage line',
];

test('lines parse into original and reply tuples', () => {
  const e = parseConntrackLine(LINES[0] as string);
  assert.deepEqual(e, {
    original: { src: '10.0.0.7', dst: '10.96.0.10', sport: 41000, dport: 80 },
    reply: { src: '10.244.1.5', dst: '10.0.0.7', sport: 8080, dport: 41000 },
  });
  assert.equal(parseConntrackLine('garbage'), undefined);
  assert.equal(parseConntrackLine(LINES[3] as string)?.reply.src, 'fd00::1:5');
});

test('a translated destination resolves to its backend; an untranslated one does not', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-ct-')), 'nf_conntrack');
  fs.writeFileSync(file, LINES.join('\n'));
  const ct = new Conntrack({ file, minIntervalMs: 0 });
  assert.ok(ct.available);
  assert.deepEqual(ct.backend({ addr: '10.0.0.7', port: 41000 }, { addr: '10.96.0.10', port: 80 }), { addr: '10.244.1.5', port: 8080 });
  assert.deepEqual(ct.backend({ addr: '10.0.0.7', port: 53000 }, { addr: '10.96.0.10', port: 53 }), { addr: '10.244.0.3', port: 53 });
  assert.deepEqual(ct.backend({ addr: 'fd00::7', port: 42000 }, { addr: 'fd00::a00', port: 80 }), { addr: 'fd00::1:5', port: 8080 });
  assert.equal(ct.backend({ addr: '10.0.0.7', port: 41001 }, { addr: '10.0.0.8', port: 443 }), undefined);
});

test('reads are rate-limited, and a missing table is simply unavailable', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-ct-')), 'nf_conntrack');
  fs.writeFileSync(file, '');
  const ct = new Conntrack({ file, minIntervalMs: 60_000 });
  for (let i = 0; i < 100; i++) ct.backend({ addr: 'a', port: i }, { addr: 'b', port: 1 }, 1_000_000 + i);
  assert.equal(ct.reads, 1);
  const none = new Conntrack({ file: '/nonexistent/nf_conntrack' });
  assert.equal(none.available, false);
  assert.equal(none.backend({ addr: 'a', port: 1 }, { addr: 'b', port: 2 }), undefined);
  assert.match(none.status(), /not available/);
});
