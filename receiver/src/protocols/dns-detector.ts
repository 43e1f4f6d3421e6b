/**
 * Is this socket's traffic DNS? On port 53, a plausible message is enough. On
 * any other port (a test resolver, a service's own resolver) the message must
 * be strictly valid: a sane header, a question that parses, and, over TCP, a
 * query (length-prefixed, or without its prefix when that came in earlier
 * reads). Strictness matters: a false detection takes the socket from every
 * other protocol.
 *
 * Example:
 *   const detectors = [http1Detector(deps), dnsDetector(ctx)];
 *   dnsDetector(ctx).detect('egress', query, { transport: 'udp', localPort: 40000, remotePort: 53 }); // 'client'
 */
import type { ProtocolContext } from './context';
import { HEADER_BYTES, looksLikeDns } from './dns';
import type { DnsMessage, Strictness } from './dns';
import { DnsSession } from './dns-session';
import type { DetectContext, Detector } from './registry';
import type { Direction, Role } from './types';

export const DNS_PORT = 53;

/** The DNS detector, wired with the protocol context (a ProtocolFactory). */
export function dnsDetector(ctx: ProtocolContext): Detector {
  const stats = ctx.stats('dns');
  return {
    protocol: 'dns',
    transports: ['udp', 'tcp'],
    detect: detectDns,
    create(_role, conn) {
      const lenient = conn.local.port === DNS_PORT || conn.remote.port === DNS_PORT;
      return new DnsSession({ ctx, stats, transport: conn.transport, lenient });
    },
  };
}

/** who this process is, given a message it sent or received */
const roleOf = (direction: Direction, m: DnsMessage): Role => (!m.header.response === (direction === 'egress') ? 'client' : 'server');

/**
 * A capture limit (payload sizes are powers of two): a datagram of exactly this
 * many captured bytes may be longer than what was kept.
 */
const mayBeCut = (n: number): boolean => n >= 64 && (n & (n - 1)) === 0;

export function detectDns(direction: Direction, data: Uint8Array, where: DetectContext): Role | undefined {
  const port53 = where.localPort === DNS_PORT || where.remotePort === DNS_PORT;
  const strictness: Strictness = port53 ? 'plausible' : 'strict';
  if (where.transport === 'udp') {
    // detect() does not get the datagram's true length: the captured bytes are all of it,
    // unless they fill a capture limit
    const m = looksLikeDns(data, data.length, strictness) ?? (mayBeCut(data.length) ? looksLikeDns(data, 0xffff, strictness) : undefined);
    return m && roleOf(direction, m);
  }
  if (data.length >= 2) {
    const size = ((data[0] ?? 0) << 8) | (data[1] ?? 0);
    if (size >= HEADER_BYTES) {
      const m = looksLikeDns(data.subarray(2), size, strictness);
      if (m && (port53 || !m.header.response)) return roleOf(direction, m);
      // a server reading the prefix alone first (a plausible length on port 53)
      if (port53 && data.length === 2) return where.localPort === DNS_PORT ? 'server' : 'client';
    }
  }
  // a query whose prefix came in reads made before the socket was known to be DNS (dnsmasq reads it byte by byte)
  const bare = looksLikeDns(data, data.length, 'strict');
  return bare && !bare.header.response ? roleOf(direction, bare) : undefined;
}
