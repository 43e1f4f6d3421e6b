/**
 * DNS names on the wire (RFC 1035 §3.1, §4.1.4 https://www.rfc-editor.org/rfc/rfc1035#section-4.1.4):
 * length-prefixed labels ending in a zero byte, or in a compression pointer
 * (two bytes 0b11xxxxxx xxxxxxxx: an offset from the start of the message).
 *
 * Example bytes: "www.example.com" then a pointer back to "example.com" at offset 16
 *   03 77 77 77 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00      ... c0 10
 *
 * A pointer must point strictly before the labels that lead to it, so every
 * hop goes backwards and a loop cannot exist; names are also bounded to 255
 * wire bytes and 128 hops. Names come out lower case (ASCII only), without the
 * trailing dot ("." is the root), with bytes outside printable ASCII and the
 * characters `.` and `\` escaped as dig prints them (\DDD, \.).
 */
import { Cursor, latin1 } from './cursor';

/** the wire limit of a name (RFC 1035 §2.3.4) */
export const MAX_NAME_WIRE = 255;
const MAX_HOPS = 128;

/** Where a name read ended: its text and the position after it, or why it failed. */
export type NameRead =
  | { ok: true; name: string; next: number }
  /** cut: the name runs into bytes the capture did not keep (not an error) */
  | { ok: false; cut: true }
  | { ok: false; cut: false; reason: string };

const CUT: NameRead = { ok: false, cut: true };
const fail = (reason: string): NameRead => ({ ok: false, cut: false, reason });

/**
 * Names already read in one message, by the offset they start at: compression
 * points most names of a response back at the question, read once.
 */
export type NameCache = Map<number, string>;

/**
 * Reads the name at `at` in `msg` (the whole message from its first byte, so that
 * pointers resolve). `captured` is how many bytes of the message are known,
 * `size` its true length: running past `captured` but not past `size` is a cut.
 */
export function readName(msg: Uint8Array, at: number, captured: number, size: number, cache?: NameCache): NameRead {
  const end = Math.min(captured, size, msg.length);
  const c = new Cursor(msg, 0, end);
  if (!c.seek(at)) return at < size ? CUT : fail('name starts past the end of the message');
  const labels: string[] = [];
  // where each run of labels started, and how many labels came before it
  const runs: number[] = [at, 0];
  let next = -1;
  let runStart = at;
  let wire = 0;
  let tail: string | undefined;
  for (let hops = 0; ; ) {
    const len = c.readU8();
    if (len === undefined) return c.position < size ? CUT : fail('name runs past the end of the message');
    if (len === 0) {
      if (next < 0) next = c.position;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      const low = c.readU8();
      if (low === undefined) return c.position < size ? CUT : fail('compression pointer cut by the end of the message');
      if (next < 0) next = c.position;
      const target = ((len & 0x3f) << 8) | low;
      // strictly backwards: no loop can form, and what lies behind was captured
      if (target >= runStart) return fail('compression pointer does not point backwards');
      if (++hops > MAX_HOPS) return fail('too many compression pointers');
      tail = cache?.get(target);
      if (tail !== undefined) {
        // the wire length of a cached name is within bounds by construction; recount it to keep the 255 limit
        if (wire + wireLength(tail) > MAX_NAME_WIRE) return fail('name longer than 255 bytes');
        break;
      }
      c.seek(target);
      runStart = target;
      runs.push(target, labels.length);
      continue;
    }
    if (kind !== 0) return fail(`label type 0x${kind.toString(16)} is not supported`);
    wire += len + 1;
    if (wire + 1 > MAX_NAME_WIRE) return fail('name longer than 255 bytes');
    const from = c.position;
    if (!c.skip(len)) return from + len <= size ? CUT : fail('label runs past the end of the message');
    labels.push(labelText(msg, from, from + len));
  }
  if (tail !== undefined && tail !== '.') labels.push(tail);
  const name = labels.length === 0 ? '.' : labels.join('.');
  if (cache) {
    for (let i = 0; i < runs.length; i += 2) {
      const from = runs[i + 1] ?? 0;
      cache.set(runs[i] ?? 0, from === 0 ? name : from >= labels.length ? '.' : labels.slice(from).join('.'));
    }
  }
  return { ok: true, name, next };
}

/** wire bytes of a name as text (escapes counted as the byte they stand for) */
function wireLength(name: string): number {
  if (name === '.') return 1;
  let n = 2; // the first label's length byte and the root
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x5c) {
      // \DDD or \X
      const d = name.charCodeAt(i + 1);
      i += d >= 0x30 && d <= 0x39 ? 3 : 1;
      n++;
    } else n++;
  }
  return n;
}

/** One label as text: ASCII lower case, escapes as dig prints them. */
function labelText(b: Uint8Array, from: number, to: number): string {
  let plain = true;
  for (let i = from; i < to; i++) {
    const x = b[i] ?? 0;
    if (x <= 0x20 || x >= 0x7f || x === 0x2e || x === 0x5c || (x >= 0x41 && x <= 0x5a)) {
      plain = false;
      break;
    }
  }
  if (plain) return latin1(b, from, to);
  let s = '';
  for (let i = from; i < to; i++) {
    const x = b[i] ?? 0;
    if (x >= 0x41 && x <= 0x5a) s += String.fromCharCode(x + 0x20);
    else if (x === 0x2e || x === 0x5c) s += `\\${String.fromCharCode(x)}`;
    else if (x <= 0x20 || x >= 0x7f) s += `\\${String(x).padStart(3, '0')}`;
    else s += String.fromCharCode(x);
  }
  return s;
}
