/**
 * memcached text and meta commands: what a request line means (its operation, keys,
 * noreply/quiet flags, opaque, fingerprinted text, the data block that follows), and
 * whether a segment starts with a command or a response (detection, resynchronisation).
 * https://github.com/memcached/memcached/blob/master/doc/protocol.txt
 *
 * Example:
 *   parseCommand(['set', 'k', '0', '0', '5', 'noreply'], true)
 *   // → { req: { op: 'set', keys: 1, noreply: true, text: 'set ? ? ? ? noreply', ... }, block: 5 }
 */
import { LF, latin1 } from './cursor';
import type { McRequest } from './memcached-text';

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);
const META = new Set(['mg', 'ms', 'md', 'ma', 'mn', 'me']);
const OTHER = new Set(['delete', 'incr', 'decr', 'touch', 'stats', 'version', 'verbosity', 'flush_all', 'quit', 'shutdown', 'cache_memlimit', 'lru_crawler', 'lru', 'slabs', 'watch', 'misbehave', 'debugtime']);
export const ERRORS = new Set(['ERROR', 'CLIENT_ERROR', 'SERVER_ERROR']);
const RESPONSE_WORDS = new Set([
  ...ERRORS,
  ...'VALUE END STORED NOT_STORED EXISTS NOT_FOUND DELETED TOUCHED OK VERSION STAT ITEM RESET BUSY BADCLASS NOSPARE NOTFULL UNSAFE SAME HD VA EN NS EX NF MN ME'.split(' '),
]);
const NOT_FIRST = new Set(['quit', 'shutdown', 'misbehave', 'debugtime', 'lru', 'slabs', 'cache_memlimit']);
/** lines that belong to a multi-line response (closed by END) */
export const SERIES = new Set(['STAT', 'ITEM', 'PREFIX']);

export const KEEP = 512;
export const MAX_LINE = 64 * 1024;
const MAX_KEY = 250;
export const MAX_BLOCK = 2 ** 31;

export function isMcCommand(word: string): boolean {
  return STORAGE.has(word) || RETRIEVAL.has(word) || META.has(word) || OTHER.has(word);
}

export const isNumber = (t: string | undefined): boolean => t !== undefined && /^\d{1,20}$/.test(t);
const isSigned = (t: string | undefined): boolean => t !== undefined && /^-?\d{1,20}$/.test(t);
const isKey = (t: string | undefined): boolean => t !== undefined && t.length > 0 && t.length <= MAX_KEY && /^[\x21-\x7e\x80-\xff]+$/.test(t);

/**
 * A request line's meaning, or a reason it is malformed. `block`: the data block that
 * follows (bytes, CRLF excluded), -1 for none. Used both to parse and to detect.
 */
export function parseCommand(tokens: string[], fingerprint: boolean): { req: Omit<McRequest, 'startNs' | 'endNs' | 'truncated'>; block: number } | string {
  const op = tokens[0] ?? '';
  const n = tokens.length;
  const last = tokens[n - 1];
  const noreply = last === 'noreply';
  const argsText = (from: number): string => (fingerprint ? tokens.slice(from).map((t) => (t === 'noreply' ? t : '?')) : tokens.slice(from)).join(' ');
  const base = { op, keys: 0, noreply: false, quiet: false, text: op };
  if (STORAGE.has(op)) {
    const want = op === 'cas' ? 6 : 5;
    if (n !== want && !(n === want + 1 && noreply)) return `${op}: wrong number of arguments`;
    if (!isKey(tokens[1]) || !isNumber(tokens[2]) || !isSigned(tokens[3]) || !isNumber(tokens[4]) || (op === 'cas' && !isNumber(tokens[5]))) return `${op}: bad arguments`;
    const block = Number(tokens[4]);
    if (block > MAX_BLOCK) return `${op}: data block too large`;
    return { req: { ...base, keys: 1, noreply, text: `${op} ${argsText(1)}` }, block };
  }
  if (RETRIEVAL.has(op)) {
    const first = op === 'gat' || op === 'gats' ? 2 : 1;
    if (n <= first || (first === 2 && !isSigned(tokens[1]))) return `${op}: no key`;
    for (let i = first; i < n; i++) if (!isKey(tokens[i])) return `${op}: bad key`;
    const keys = n - first;
    const shown = fingerprint ? `${first === 2 ? '? ' : ''}${keys <= 32 ? Array(keys).fill('?').join(' ') : `${Array(32).fill('?').join(' ')} ...`}` : tokens.slice(1).join(' ');
    return { req: { ...base, keys, text: `${op} ${shown}` }, block: -1 };
  }
  if (META.has(op)) {
    if (op === 'mn') return n === 1 ? { req: { ...base, flags: '' }, block: -1 } : 'mn: arguments';
    if (!isKey(tokens[1])) return `${op}: bad key`;
    let block = -1;
    let from = 2;
    if (op === 'ms') {
      if (!isNumber(tokens[2])) return 'ms: bad data length';
      block = Number(tokens[2]);
      if (block > MAX_BLOCK) return 'ms: data block too large';
      from = 3;
    }
    let quiet = false;
    let opaque: string | undefined;
    const flags: string[] = [];
    for (let i = from; i < n; i++) {
      const f = tokens[i] ?? '';
      if (!/^[A-Za-z]/.test(f)) return `${op}: bad flag`;
      if (f === 'q') quiet = true;
      if (f[0] === 'O') opaque = f.slice(1);
      flags.push(fingerprint ? f[0] ?? '' : f);
    }
    const text = [op, fingerprint ? '?' : (tokens[1] ?? ''), ...(op === 'ms' ? [fingerprint ? '?' : (tokens[2] ?? '')] : []), ...flags].join(' ');
    const letters = flags.map((f) => f[0] ?? '').join('');
    return { req: { ...base, keys: 1, quiet, flags: letters, ...(opaque !== undefined ? { opaque } : {}), text }, block };
  }
  if (OTHER.has(op)) {
    const keyed = op === 'delete' || op === 'incr' || op === 'decr' || op === 'touch';
    if (keyed) {
      if (n < 2 || !isKey(tokens[1])) return `${op}: no key`;
      if ((op === 'incr' || op === 'decr') && !isNumber(tokens[2])) return `${op}: bad delta`;
      if (op === 'touch' && !isSigned(tokens[2])) return 'touch: bad exptime';
      if (n > (op === 'delete' ? 4 : 4)) return `${op}: too many arguments`;
    }
    const quietOk = keyed || op === 'verbosity' || op === 'flush_all' || op === 'cache_memlimit';
    return { req: { ...base, keys: keyed ? 1 : 0, noreply: quietOk && noreply, text: n > 1 ? `${op} ${op === 'stats' || op === 'lru_crawler' || op === 'slabs' || op === 'lru' ? tokens.slice(1).map((t, i) => (i === 0 || !fingerprint ? t : '?')).join(' ') : argsText(1)}` : op }, block: -1 };
  }
  return 'unknown command';
}

export function tokenize(line: string): string[] {
  return line.split(' ').filter((t) => t.length > 0);
}

/** Does this segment start with a complete, well-formed memcached command line? */
export function looksLikeTextCommand(data: Uint8Array): boolean {
  const lf = data.indexOf(LF);
  if (lf < 2 || lf > KEEP) return false;
  const end = data[lf - 1] === 0x0d ? lf - 1 : lf;
  for (let i = 0; i < end; i++) {
    const c = data[i] ?? 0;
    if (c < 0x20 || c === 0x7f) return false;
  }
  const tokens = tokenize(latin1(data, 0, end));
  // commands that do not start a conversation are no evidence
  if (NOT_FIRST.has(tokens[0] ?? '')) return false;
  return typeof parseCommand(tokens, true) !== 'string';
}

/** Does this segment start with a response line? (resynchronisation) */
export function looksLikeResponse(data: Uint8Array): boolean {
  const lf = data.indexOf(LF);
  if (lf < 1 || lf > KEEP) return false;
  const word = latin1(data, 0, lf).replace(/\r$/, '').split(' ')[0] ?? '';
  return RESPONSE_WORDS.has(word) || /^\d{1,20}$/.test(word);
}

