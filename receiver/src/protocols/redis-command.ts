/**
 * What a Redis command becomes in telemetry: its operation name and its query text.
 *
 * db.operation.name is the command in upper case; for commands whose first argument
 * is a subcommand (CONFIG, CLIENT, CLUSTER, XINFO, ...) it is both words, "CONFIG GET",
 * because "CONFIG" alone says little (the set of subcommands is small and fixed).
 * Commands Redis does not have (module commands such as JSON.GET) keep their name in
 * upper case when it looks like a command name, else "UNKNOWN".
 *
 * db.query.text, fingerprinted (the default): the operation and one '?' per remaining
 * argument, "SET ? ?", "CONFIG GET ?". Unfingerprinted: the command as sent, arguments
 * quoted when they hold spaces or unprintable bytes, cut at MAX_QUERY_TEXT characters.
 *
 * Example:
 *   describe(['set', 'k', 'v'], 3, true)             // { name: 'SET', op: 'SET', text: 'SET ? ?' }
 *   describe(['config', 'get', 'save'], 3, true)     // { name: 'CONFIG', op: 'CONFIG GET', text: 'CONFIG GET ?' }
 *   describe(['set', 'k', 'two words'], 3, false)    // { ..., text: 'SET k "two words"' }
 */
import type { DbOperationRecord } from './context';
import { isContainer, knownCommand, subcommandName } from './redis-commands';

export interface CommandInfo {
  /** the canonical command (upper case) when Redis has it */
  name: string | undefined;
  /** db.operation.name */
  op: string;
  /** db.query.text */
  text: string;
  /** the arguments kept (after the command name) */
  args: (string | undefined)[];
  argc: number;
}

export const MAX_QUERY_TEXT = 1024;
const WORDLIKE = /^[A-Za-z][A-Za-z0-9._-]{0,31}$/;
const PLAIN = /^[\x21-\x7e]+$/;

// fingerprinted texts by operation and argument count: the same few strings over and over
const texts = new Map<string, string>();
const MAX_TEXTS = 4096;

/**
 * `items`: the command and its first arguments as captured (undefined where not
 * captured); `argc`: how many elements the command had, the name included.
 */
export function describe(items: readonly (string | undefined)[], argc: number, fingerprint: boolean): CommandInfo {
  const raw = items[0];
  const name = raw === undefined ? undefined : knownCommand(raw);
  let op = name ?? (raw !== undefined && WORDLIKE.test(raw) ? raw.toUpperCase() : 'UNKNOWN');
  let named = 1;
  if (name !== undefined && isContainer(name)) {
    const sub = subcommandName(items[1]);
    if (sub !== undefined) {
      op = `${name} ${sub}`;
      named = 2;
    }
  }
  const args = items.slice(1);
  return { name, op, args, argc, text: fingerprint ? fingerprinted(op, Math.max(0, argc - named)) : literal(op, items, named, argc) };
}

function fingerprinted(op: string, params: number): string {
  const key = `${op}\u0000${params}`;
  let t = texts.get(key);
  if (t === undefined) {
    t = params <= 64 ? op + ' ?'.repeat(params) : `${op}${' ?'.repeat(64)} ...`;
    if (texts.size < MAX_TEXTS) texts.set(key, t);
  }
  return t;
}

function literal(op: string, items: readonly (string | undefined)[], named: number, argc: number): string {
  let t = op;
  let i = named;
  for (; i < argc && i < items.length; i++) {
    const a = items[i];
    if (a === undefined) break;
    t += ` ${quote(a)}`;
    if (t.length > MAX_QUERY_TEXT) return `${t.slice(0, MAX_QUERY_TEXT)}...`;
  }
  return i < argc ? `${t} ...` : t;
}

/** An argument as redis-cli would show it: bare when plain, else double-quoted with escapes. */
export function quote(a: string): string {
  if (PLAIN.test(a) && !a.includes('"') && !a.includes("'")) return a;
  let s = '"';
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) s += `\\${a[i]}`;
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else if (c < 0x20 || c > 0x7e) s += `\\x${c.toString(16).padStart(2, '0')}`;
    else s += a[i];
  }
  return `${s}"`;
}

/** The error prefix of an error reply ("WRONGTYPE Operation ..." → "WRONGTYPE"): its first word, if it is upper case. */
export function errorPrefix(text: string | undefined): string {
  if (text === undefined || text.length === 0) return 'ERR';
  const sp = text.indexOf(' ');
  const word = sp < 0 ? text : text.slice(0, sp);
  return /^[A-Z][A-Z0-9_-]{0,31}$/.test(word) ? word : 'ERR';
}

/** A Redis operation: a DbOperationRecord, plus the transaction (per connection, from 1) it ran in. */
export interface RedisOperationRecord extends DbOperationRecord {
  transaction?: number;
}

export interface Command {
  gap: false;
  info: CommandInfo;
  startNs: number;
  endNs: number;
  tid: number;
  /** (un)subscribe family: the confirmation kind and how many are due (-1: until that kind's count is 0) */
  confirm?: string;
  confirmations: number;
  /** the transaction it was sent in (MULTI, queued commands, EXEC/DISCARD) */
  tx: number;
  /** sent between MULTI and EXEC/DISCARD: answered +QUEUED, completed by EXEC */
  queued: boolean;
}

/** Fingerprinted, only these commands' first arguments matter: the subcommand, the database, the protocol, the reply mode. */
export function argumentsNeeded(raw: string): number {
  const name = knownCommand(raw);
  if (name === 'CLIENT') return 3;
  if (name === 'SELECT' || name === 'HELLO' || (name !== undefined && isContainer(name))) return 2;
  return 1;
}
