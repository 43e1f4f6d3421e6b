// DNS detection: the role a first message implies, and strictness: other
// protocols and random bytes on a high port are not taken for DNS.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { Connection } from '../../src/conn/connection';
import { SOCK_EVENT } from '../../src/events/abi';
import { decodeBatch } from '../../src/events/decode';
import { SockEvent } from '../../src/events/types';
import { emptyStats } from '../../src/protocols/context';
import type { ProtocolContext } from '../../src/protocols/context';
import { detectDns, dnsDetector } from '../../src/protocols/dns-detector';
import { DnsSession } from '../../src/protocols/dns-session';
import { sockRecord } from '../helpers/records';
import { ALL_FIXTURES, bytesOf } from './fixtures/dns-harness';

describe('detection', () => {
  const high = { localPort: 40000, remotePort: 15353 };
  test('recorded queries and responses: the role each implies, on port 53 and on a high port', () => {
    for (const f of ALL_FIXTURES) {
      const first = (side: 'client' | 'server', dir: 'egress' | 'ingress'): Uint8Array => bytesOf(f[side].find((x) => x.dir === dir && x.len > 2)?.hex ?? '');
      for (const where of [high, { localPort: 40000, remotePort: 53 }]) {
        const w = { transport: f.transport, ...where };
        assert.equal(detectDns('egress', first('client', 'egress'), w), 'client', `${f.name}: query sent`);
        assert.equal(detectDns('ingress', first('server', 'ingress'), w), 'server', `${f.name}: query received (dnsmasq: over TCP without its prefix)`);
        if (f.transport === 'udp' || where.remotePort === 53) {
          assert.equal(detectDns('ingress', first('client', 'ingress'), w), 'client', `${f.name}: response received`);
          assert.equal(detectDns('egress', first('server', 'egress'), w), 'server', `${f.name}: response sent`);
        }
      }
    }
    assert.equal(detectDns('ingress', new Uint8Array([0, 49]), { transport: 'tcp', localPort: 53, remotePort: 40000 }), 'server', 'a prefix read alone on port 53');
    assert.equal(detectDns('ingress', new Uint8Array([0, 49]), { transport: 'tcp', ...high }), undefined);
  });

  const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
  const NOT_DNS: [string, Uint8Array][] = [
    ['NTP client request', hex(`23 00 00 00 ${'00'.repeat(44)}`)],
    ['NTP server reply', hex(`24 02 03 e8 00000000 00000012 c0a80001 ${'e9c3c1b2'.repeat(8)}`)],
    ['STUN binding request', hex('0001 0000 2112a442 b7e7a701bc34d686fa87dfae')],
    ['SSDP M-SEARCH', new Uint8Array(Buffer.from('M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n'))],
    ['statsd', new Uint8Array(Buffer.from('api.requests:1|c\n'))],
    ['QUIC initial', hex(`c3 00000001 08 0102030405060708 00 4496 ${'5a'.repeat(60)}`)],
    ['TLS ClientHello', hex(`16 0301 00f1 01 0000ed 0303 ${'11'.repeat(32)} 20 ${'22'.repeat(32)} 0002 1301 0100`)],
    ['PostgreSQL startup', hex(`00000029 00030000 ${Buffer.from('user\0postgres\0database\0db\0\0').toString('hex')}`)],
    ['HTTP', new Uint8Array(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))],
    ['zeros', new Uint8Array(64)],
  ];
  test('other protocols on a high port are not DNS, over UDP or TCP', () => {
    for (const [what, data] of NOT_DNS) {
      for (const transport of ['udp', 'tcp'] as const) {
        for (const dir of ['egress', 'ingress'] as const) assert.equal(detectDns(dir, data, { transport, ...high }), undefined, `${what} ${transport} ${dir}`);
      }
    }
  });

  test('random bytes on a high port are (practically) never DNS; never a throw', () => {
    let hits = 0;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 600 }), fc.constantFrom('udp' as const, 'tcp' as const), fc.boolean(), (b, transport, port53) => {
        const r = detectDns('egress', b, { transport, localPort: 40000, remotePort: port53 ? 53 : 15353 });
        if (r && !port53) hits++;
      }),
      { numRuns: 20000, seed: 42 },
    );
    assert.equal(hits, 0);
  });

  test('the factory: both transports, a session per socket, its transport from the socket', () => {
    const stats = emptyStats();
    const ctx: ProtocolContext = { db: { onOperation: () => undefined }, dns: { onLookup: () => undefined }, names: { learn: () => undefined }, stats: () => stats, timeoutNs: 1e9, maxPending: 16, fingerprint: true };
    const d = dnsDetector(ctx);
    assert.deepEqual([d.protocol, d.transports], ['dns', ['udp', 'tcp']]);
    for (const protocol of [6, 17]) {
      const rec = sockRecord({ payload: new Uint8Array(0) });
      rec.writeUInt16LE(protocol, SOCK_EVENT.protocol[0]);
      const session = d.create('client', new Connection(decodeBatch(rec).events[0] as SockEvent));
      assert.ok(session instanceof DnsSession);
      assert.equal(session.transport, protocol === 6 ? 'tcp' : 'udp');
    }
  });
});

