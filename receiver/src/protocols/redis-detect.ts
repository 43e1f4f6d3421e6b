/**
 * Does a segment start with a Redis command? Strict, because a false yes steals a
 * connection from another protocol: a RESP array of bulk strings whose first
 * element, wholly captured, is a command Redis has.
 * https://redis.io/docs/latest/develop/reference/protocol-spec/#sending-commands-to-a-redis-server
 *
 * Example:
 *   looksLikeCommand(bytes('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'))  // true
 *   looksLikeCommand(bytes('*1\r\n$4\r\nNOPE\r\n'))                      // false: not a command
 *   looksLikeInlineCommand(bytes('PING\r\n'), 6)                         // true (resync only: not used to detect)
 */
import { commandName } from './redis-commands';

const STAR = 0x2a;
const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;

/** Digits from `at` up to CRLF: [value, index after the LF], or undefined. */
function number(data: Uint8Array, at: number, maxDigits: number): [number, number] | undefined {
  let n = 0;
  let i = at;
  for (; i < data.length && i - at <= maxDigits; i++) {
    const d = (data[i] ?? 0) - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (i === at || i - at > maxDigits || data[i] !== CR || data[i + 1] !== LF) return undefined;
  return [n, i + 2];
}

/** The command named by a RESP array at the start of `data`, and its argument count. */
export function commandAt(data: Uint8Array): { name: string; argc: number } | undefined {
  if (data[0] !== STAR) return undefined;
  const argc = number(data, 1, 7);
  if (argc === undefined || argc[0] < 1 || data[argc[1]] !== DOLLAR) return undefined;
  const len = number(data, argc[1] + 1, 2);
  if (len === undefined) return undefined;
  const start = len[1];
  const end = start + len[0];
  if (data[end] !== CR || data[end + 1] !== LF) return undefined;
  const name = commandName(data, start, end);
  return name === undefined ? undefined : { name, argc: argc[0] };
}

export function looksLikeCommand(data: Uint8Array): boolean {
  return commandAt(data) !== undefined;
}

/**
 * An inline command (a line of words) that starts with a known command: trusted only
 * to resynchronise a connection already known to be Redis, and only when the whole
 * segment was captured and ends a line.
 */
export function looksLikeInlineCommand(data: Uint8Array, total: number): boolean {
  if (data.length !== total || data.length < 4 || data[data.length - 1] !== LF) return false;
  let i = 0;
  while (i < data.length && i <= 20) {
    const c = data[i] ?? 0;
    if (c === 0x20 || c === CR || c === LF) break;
    if (c < 0x21 || c > 0x7e) return false;
    i++;
  }
  return commandName(data, 0, i) !== undefined;
}
