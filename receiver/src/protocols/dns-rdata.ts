/**
 * DNS codes as names, and record data (RDATA) as text, the way dig shows them:
 * A (RFC 1035 §3.4.1), AAAA (RFC 3596 §2.2 https://www.rfc-editor.org/rfc/rfc3596#section-2.2),
 * CNAME/NS/PTR/MX/SOA/TXT (RFC 1035 §3.3), SRV (RFC 2782), SVCB/HTTPS
 * (RFC 9460 §2.2: priority and target only), anything else in the generic
 * form of RFC 3597 §5 ("\# 4 0a000001", at most 64 bytes shown).
 */
import { Cursor } from './cursor';
import { readName } from './dns-names';
import type { NameCache } from './dns-names';
import { ipv4ToString, ipv6ToString } from '../util/addr';

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, SVCB: 64, HTTPS: 65, ANY: 255 } as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** "A", "AAAA", ..., or "TYPE<n>" (RFC 3597 §5) */
export function typeName(t: number): string {
  return TYPE_NAMES.get(t) ?? `TYPE${t}`;
}

/** "NOERROR", "NXDOMAIN", ..., or "RCODE<n>" */
export function rcodeName(r: number): string {
  return RCODE_NAMES[r] ?? `RCODE${r}`;
}

/** longest TXT text kept (the rest is dropped with "...") */
const MAX_TEXT = 256;
const MAX_GENERIC = 64;

export type RdataRead = { ok: true; text: string } | { ok: false; reason: string };

/**
 * The text of the RDATA at [at, at + rdlength) of `msg`, which is captured up to
 * there (the caller checks). Names inside may point back anywhere in the message.
 */
export function rdataText(type: number, msg: Uint8Array, at: number, rdlength: number, size: number, cache?: NameCache): RdataRead {
  const end = at + rdlength;
  const name = (from: number): { ok: true; name: string; next: number } | { ok: false; reason: string } => {
    const r = readName(msg, from, end, size, cache);
    if (r.ok) return r;
    return { ok: false, reason: r.cut ? 'name runs past its record' : r.reason };
  };
  const c = new Cursor(msg, at, end);
  const exact = (text: string, next: number): RdataRead => (next === end ? { ok: true, text } : { ok: false, reason: `${typeName(type)} data has ${end - next} extra bytes` });
  switch (type) {
    case TYPE.A:
      return rdlength === 4 ? { ok: true, text: ipv4ToString(msg, at) } : { ok: false, reason: `A data of ${rdlength} bytes` };
    case TYPE.AAAA:
      return rdlength === 16 ? { ok: true, text: ipv6ToString(msg, at) } : { ok: false, reason: `AAAA data of ${rdlength} bytes` };
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR: {
      const n = name(at);
      return n.ok ? exact(n.name, n.next) : n;
    }
    case TYPE.MX: {
      const pref = c.readU16BE();
      if (pref === undefined) return { ok: false, reason: 'MX data too short' };
      const n = name(c.position);
      return n.ok ? exact(`${pref} ${n.name}`, n.next) : n;
    }
    case TYPE.SRV: {
      const prio = c.readU16BE();
      const weight = c.readU16BE();
      const port = c.readU16BE();
      if (port === undefined) return { ok: false, reason: 'SRV data too short' };
      const n = name(c.position);
      return n.ok ? exact(`${prio} ${weight} ${port} ${n.name}`, n.next) : n;
    }
    case TYPE.SVCB:
    case TYPE.HTTPS: {
      const prio = c.readU16BE();
      if (prio === undefined) return { ok: false, reason: `${typeName(type)} data too short` };
      const n = name(c.position);
      // the SvcParams that follow are not shown
      return n.ok ? { ok: true, text: `${prio} ${n.name}` } : n;
    }
    case TYPE.SOA: {
      const m = name(at);
      if (!m.ok) return m;
      const r = name(m.next);
      if (!r.ok) return r;
      const t = new Cursor(msg, r.next, end);
      const nums = [t.readU32BE(), t.readU32BE(), t.readU32BE(), t.readU32BE(), t.readU32BE()];
      if (nums[4] === undefined) return { ok: false, reason: 'SOA data too short' };
      return exact(`${m.name} ${r.name} ${nums.join(' ')}`, t.position);
    }
    case TYPE.TXT:
      return txtText(c);
    default:
      return { ok: true, text: generic(msg, at, rdlength) };
  }
}

/** TXT: one or more <character-string>s, each quoted, escaped as dig does */
function txtText(c: Cursor): RdataRead {
  const parts: string[] = [];
  let total = 0;
  while (c.remaining > 0) {
    const len = c.readU8() ?? 0;
    const bytes = c.readBytes(len);
    if (bytes === undefined) return { ok: false, reason: 'TXT string runs past its record' };
    if (total >= MAX_TEXT) continue;
    let s = '';
    for (const x of bytes) {
      if (x === 0x22 || x === 0x5c) s += `\\${String.fromCharCode(x)}`;
      else if (x < 0x20 || x >= 0x7f) s += `\\${String(x).padStart(3, '0')}`;
      else s += String.fromCharCode(x);
    }
    if (total + s.length > MAX_TEXT) s = `${s.slice(0, MAX_TEXT - total)}...`;
    total += s.length;
    parts.push(`"${s}"`);
  }
  return { ok: true, text: parts.join(' ') };
}

function generic(msg: Uint8Array, at: number, rdlength: number): string {
  if (rdlength === 0) return '\\# 0';
  const shown = Math.min(rdlength, MAX_GENERIC);
  const hex = Buffer.from(msg.buffer, msg.byteOffset + at, shown).toString('hex');
  return `\\# ${rdlength} ${hex}${shown < rdlength ? '...' : ''}`;
}
