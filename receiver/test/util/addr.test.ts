import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointToString, ipv6ToString } from '../../src/util/addr';

const v6 = (hex: string): string => ipv6ToString(Buffer.from(hex.replace(/:/g, ''), 'hex'), 0);

test('IPv6 text follows RFC 5952', () => {
  assert.equal(v6('0000:0000:0000:0000:0000:0000:0000:0001'), '::1');
  assert.equal(v6('0000:0000:0000:0000:0000:0000:0000:0000'), '::');
  assert.equal(v6('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.equal(v6('2001:0db8:0000:0001:0001:0001:0001:0001'), '2001:db8:0:1:1:1:1:1');
  assert.equal(v6('fe80:0000:0000:0000:0202:b3ff:fe1e:8329'), 'fe80::202:b3ff:fe1e:8329');
  assert.equal(v6('0000:0000:0000:0000:0000:ffff:7f00:0001'), '::ffff:127.0.0.1');
  assert.equal(v6('2001:0db8:0000:0000:0000:0000:0002:0001'), '2001:db8::2:1');
});

test('endpoints bracket IPv6', () => {
  assert.equal(endpointToString(10, '::1', 80), '[::1]:80');
  assert.equal(endpointToString(2, '10.1.2.3', 443), '10.1.2.3:443');
});
