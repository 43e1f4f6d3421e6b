/**
 * The protocols the agent parses by default, besides HTTP/1 (wired by the
 * agent itself). Each is a factory over the ProtocolContext.
 */
import type { ProtocolFactory } from './context';

export const DEFAULT_PROTOCOLS: ProtocolFactory[] = [];
