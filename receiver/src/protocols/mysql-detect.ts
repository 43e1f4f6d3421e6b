/**
 * Is this the start of a MySQL / MariaDB connection? Strict tests:
 *
 * - the server's greeting (HandshakeV10), the first packet of every
 *   connection: sequence id 0, protocol version 10, a printable version string
 *   starting "N.N", NUL, thread id, 8 scramble bytes, a zero filler, and
 *   capabilities with CLIENT_PROTOCOL_41;
 * - for connections already past their handshake when capture started: a
 *   COM_QUERY or COM_STMT_PREPARE with sequence id 0 whose text starts with a
 *   SQL keyword, printable throughout the captured bytes; or, on the side that
 *   reads the header and the payload separately (mariadbd), the payload alone.
 *
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
 *
 * Example:
 *   looksLikeGreeting(hex('640000000a352e352e352d31302e31312e...'))   // true
 *   looksLikeCommand(hex('10000000 03 73656c656374202a2066726f6d2074'))  // "select * from t": true
 */
import { COM_QUERY, COM_STMT_PREPARE, CLIENT_PROTOCOL_41, u24 } from './mysql-wire';

/** the longest greeting accepted (real ones are about 80-130 bytes) */
const MAX_GREETING = 1024;

export function looksLikeGreeting(b: Uint8Array): boolean {
  if (b.length < 4 + 1 + 4 + 4 + 8 + 1 + 2) return false;
  const len = u24(b, 0);
  if (b[3] !== 0 || b[4] !== 0x0a || len < 1 + 4 + 4 + 8 + 1 + 2 || len > MAX_GREETING) return false;
  const end = Math.min(b.length, 4 + len);
  // version: "N.N..." printable, NUL-terminated, within 64 bytes
  let i = 5;
  if (!isDigit(b[i])) return false;
  while (i < end && i < 5 + 64 && b[i] !== 0) {
    const ch = b[i] ?? 0;
    if (ch < 0x20 || ch > 0x7e) return false;
    i++;
  }
  if (b[i] !== 0 || !/^\d+\.\d+/.test(Buffer.from(b.buffer, b.byteOffset + 5, i - 5).toString('latin1'))) return false;
  // thread id(4) scramble(8) filler 0, then capabilities (lower 16 bits)
  const filler = i + 1 + 4 + 8;
  if (filler + 2 >= end || b[filler] !== 0) return false;
  const caps = (b[filler + 1] ?? 0) | ((b[filler + 2] ?? 0) << 8);
  return (caps & CLIENT_PROTOCOL_41) !== 0;
}

const SQL_VERBS = new Set([
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'WITH', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'RENAME',
  'SET', 'SHOW', 'USE', 'BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'CALL', 'EXPLAIN',
  'DESCRIBE', 'DESC', 'GRANT', 'REVOKE', 'LOCK', 'UNLOCK', 'DO', 'HANDLER', 'LOAD', 'ANALYZE', 'OPTIMIZE',
  'CHECK', 'REPAIR', 'FLUSH', 'KILL', 'PREPARE', 'EXECUTE', 'DEALLOCATE', 'XA', 'VALUES', 'TABLE', 'SIGNAL',
]);

/**
 * A command packet with SQL text: COM_QUERY (optionally with MySQL 8's empty query
 * attributes, 00 01) or COM_STMT_PREPARE, sequence id 0, starting with a SQL verb.
 */
export function looksLikeCommand(b: Uint8Array): boolean {
  if (b.length < 4 + 1 + 2 || b[3] !== 0) return false;
  const len = u24(b, 0);
  if (len < 3) return false;
  // more captured than the packet holds: another packet follows, whose header must be there
  if (b.length > 4 + len && b.length < 4 + len + 4) return false;
  return sqlCommandAt(b, 4, Math.min(b.length, 4 + len), b.length >= 4 + len);
}

/**
 * The payload of such a command without its header: servers (mariadbd) read the 4-byte
 * header and the payload in two syscalls, so a connection picked up after its handshake
 * shows the server the payload alone. `len` is the segment's true length.
 */
export function looksLikeCommandPayload(b: Uint8Array, len: number): boolean {
  // without a header to check, ask for a little more text ("SELECT 1" is 9 bytes with its command byte)
  return b.length >= 7 && sqlCommandAt(b, 0, b.length, b.length >= len);
}

/** b[at] is COM_QUERY or COM_STMT_PREPARE and printable SQL starting with a verb follows, up to `end`. */
function sqlCommandAt(b: Uint8Array, at: number, end: number, whole: boolean): boolean {
  const cmd = b[at];
  if (cmd !== COM_QUERY && cmd !== COM_STMT_PREPARE) return false;
  let from = at + 1;
  if (cmd === COM_QUERY && b[from] === 0 && b[from + 1] === 1) from += 2;
  const stop = Math.min(end, from + 256);
  if (stop <= from) return false;
  for (let i = from; i < stop; i++) {
    const ch = b[i] ?? 0;
    if ((ch < 0x20 && ch !== 0x09 && ch !== 0x0a && ch !== 0x0d) || ch === 0x7f) return false;
  }
  const head = Buffer.from(b.buffer, b.byteOffset + from, stop - from).toString('latin1');
  const m = /^(?:\s|\(|\/\*[\s\S]*?\*\/)*([A-Za-z]+)(?=[^A-Za-z0-9_]|$)/.exec(head);
  const verb = m?.[1]?.toUpperCase();
  if (m === null || verb === undefined || !SQL_VERBS.has(verb)) return false;
  // a verb running into the end of what was captured may be a longer word
  return m[0].length < head.length || (whole && stop === end);
}

/**
 * After lost framing, a request segment that starts a command: sequence id 0, a command
 * byte clients send, and the whole packet in this segment (clients write a command at
 * once); or a lone 4-byte header with sequence id 0 (servers read the header first).
 */
export function looksLikeCommandStart(b: Uint8Array, len: number): boolean {
  if (b.length < 4 || b[3] !== 0) return false;
  const size = u24(b, 0);
  if (len === 4) return b.length === 4 && size >= 1;
  const cmd = b[4] ?? 0;
  return size >= 1 && 4 + size <= len && ((cmd >= 0x01 && cmd <= 0x20) || cmd === 0xfa) && (cmd !== COM_QUERY || looksLikeCommand(b));
}

function isDigit(ch: number | undefined): boolean {
  return ch !== undefined && ch >= 0x30 && ch <= 0x39;
}
