/**
 * memcached (text, meta and binary protocols) for Kindling: the detector and its session.
 * https://github.com/memcached/memcached/blob/master/doc/protocol.txt
 * https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped
 *
 * A connection is memcached when its first captured bytes are a whole, well-formed
 * command line ("get k1 k2", "set k 0 0 5", "mg k v", "version", ...: the command, its
 * arity, numeric fields and key rules are checked) or a binary request header (magic
 * 0x80, a known opcode, extras and key lengths that fit the opcode and the body).
 * Sent by this process it is the client; received, the server (memcached's SERVER spans).
 *
 * Example (wiring):
 *   new Agent(config, { protocols: [redisDetector, memcachedDetector] })
 */
import type { ProtocolContext, ProtocolFactory } from './context';
import { plausibleHeader, REQUEST_MAGIC } from './memcached-binary';
import { MemcachedSession } from './memcached-session';
import { looksLikeTextCommand } from './memcached-text';
import type { Detector } from './registry';

export { MemcachedSession } from './memcached-session';

/** Does this segment start with a memcached request, text or binary? */
export function looksLikeMemcached(data: Uint8Array): 'text' | 'binary' | undefined {
  if (data[0] === REQUEST_MAGIC) return plausibleHeader(data, REQUEST_MAGIC) ? 'binary' : undefined;
  return looksLikeTextCommand(data) ? 'text' : undefined;
}

export const memcachedDetector: ProtocolFactory = (ctx: ProtocolContext): Detector => ({
  protocol: 'memcached',
  detect(direction, data) {
    if (looksLikeMemcached(data) === undefined) return undefined;
    // whoever sends a request is the client
    return direction === 'egress' ? 'client' : 'server';
  },
  create(role) {
    // text or binary is learned from the first segment, the one detect() just accepted
    return new MemcachedSession(role, undefined, ctx);
  },
});
