/**
 * The protocols the agent parses by default, besides HTTP/1 (wired by the
 * agent itself). Each is a factory over the ProtocolContext; order matters
 * only where first bytes could match two detectors (they are kept strict).
 */
import type { ProtocolFactory } from './context';
import { dnsDetector } from './dns-detector';
import { memcachedDetector } from './memcached';
import { mysqlDetector } from './mysql';
import { postgresDetector } from './postgres';
import { redisDetector } from './redis';

export const DEFAULT_PROTOCOLS: ProtocolFactory[] = [redisDetector, memcachedDetector, mysqlDetector, postgresDetector, dnsDetector];
