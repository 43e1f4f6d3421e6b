/**
 * Redis (RESP2 and RESP3) for Kindling: the detector and its session.
 * https://redis.io/docs/latest/develop/reference/protocol-spec/
 *
 * A connection is Redis when its first captured bytes are a RESP array of bulk
 * strings whose first element is a command Redis has (redis-detect.ts): sent by
 * this process, it is the client; received, the server. Inline commands are parsed
 * once a connection is known to be Redis, but never detect one ("get x" is also
 * memcached). Each command becomes a DbOperationRecord with db.system.name "redis"
 * (redis-session.ts): CLIENT records from clients, SERVER records from redis-server.
 *
 * Example (wiring):
 *   new Agent(config, { protocols: [redisDetector] })
 */
import type { ProtocolContext, ProtocolFactory } from './context';
import { looksLikeCommand } from './redis-detect';
import type { Detector } from './registry';
import { RedisSession } from './redis-session';

export { looksLikeCommand } from './redis-detect';
export { RedisSession } from './redis-session';
export type { RedisOperationRecord } from './redis-session';

export const redisDetector: ProtocolFactory = (ctx: ProtocolContext): Detector => ({
  protocol: 'redis',
  detect(direction, data) {
    if (!looksLikeCommand(data)) return undefined;
    // whoever sends a command is the client
    return direction === 'egress' ? 'client' : 'server';
  },
  create(role) {
    return new RedisSession(role, ctx);
  },
});
