/**
 * DNS messages: RFC 1035 §4.1 (https://www.rfc-editor.org/rfc/rfc1035#section-4.1),
 * AAAA from RFC 3596, the EDNS0 OPT pseudo-record from RFC 6891 §6.1
 * (https://www.rfc-editor.org/rfc/rfc6891#section-6.1).
 *
 * A message is a 12-byte header, then the question, answer, authority and
 * additional sections. A query for "svc.test" A with an OPT record, as dig sends it:
 *   a1 b2 01 20 00 01 00 00 00 00 00 01        id, flags (RD AD), 1 question, 1 additional
 *   03 73 76 63 04 74 65 73 74 00 00 01 00 01  svc.test A IN
 *   00 00 29 04 d0 00 00 00 00 00 00           OPT: udp 1232, no options
 *
 * Captures keep a prefix of each message: what the prefix holds is parsed (the
 * header, the question, the answers so far) and the message is marked
 * truncated; a message that contradicts itself within its true length is an
 * error. Nothing here throws.
 */
import { Cursor } from './cursor';
import { readName } from './dns-names';
import type { NameCache } from './dns-names';
import { TYPE, rdataText, typeName } from './dns-rdata';

export { rcodeName, typeName } from './dns-rdata';

export const HEADER_BYTES = 12;
/** answers reported per message (the rest are parsed past, not kept) */
export const MAX_ANSWERS = 64;

export interface DnsHeader {
  id: number;
  /** QR: false for a query, true for a response */
  response: boolean;
  opcode: number;
  /** the whole flags word (AA TC RD RA Z AD CD in the middle) */
  flags: number;
  /** the header's 4-bit RCODE */
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface DnsQuestion {
  /** lower case, no trailing dot ("." for the root) */
  name: string;
  type: number;
  qclass: number;
}

export interface DnsAnswer {
  name: string;
  type: string;
  ttl: number;
  /** dotted or colon IP for A/AAAA, the target name for CNAME/PTR/NS, ... */
  data: string;
}

export interface DnsMessage {
  header: DnsHeader;
  /** the first question, when captured */
  question?: DnsQuestion;
  answers: DnsAnswer[];
  /** RCODE with the OPT record's upper bits when that record was captured */
  rcode: number;
  edns?: { udpSize: number; version: number };
  /** the capture ended before the message did: what is here is right, what is missing is unknown */
  truncated: boolean;
  /** bytes the parsed sections took, when all were parsed */
  parsedBytes?: number;
}

export type DnsParse = { ok: true; message: DnsMessage } | { ok: false; reason: string };

/**
 * How much a header must convince before a message is taken as DNS.
 * - 'plausible': a DNS socket (port 53, or already detected): sane counts.
 * - 'strict': any port: also only what real queries and responses carry.
 */
export type Strictness = 'plausible' | 'strict';

export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, Z: 0x0040, AD: 0x0020, CD: 0x0010 } as const;

export function readHeader(data: Uint8Array): DnsHeader | undefined {
  const c = new Cursor(data);
  const id = c.readU16BE();
  const flags = c.readU16BE();
  const qdcount = c.readU16BE();
  const ancount = c.readU16BE();
  const nscount = c.readU16BE();
  const arcount = c.readU16BE();
  if (id === undefined || flags === undefined || qdcount === undefined || ancount === undefined || nscount === undefined || arcount === undefined) return undefined;
  return { id, response: (flags & FLAG.QR) !== 0, opcode: (flags >> 11) & 0xf, flags, rcode: flags & 0xf, qdcount, ancount, nscount, arcount };
}

/** Why a header cannot start a DNS message of `size` bytes, or undefined when it can. */
export function headerProblem(h: DnsHeader, size: number, strictness: Strictness): string | undefined {
  const strict = strictness === 'strict';
  if (h.opcode !== 0) return `opcode ${h.opcode}`;
  if (h.flags & FLAG.Z) return 'Z bit set';
  // each question takes at least 5 bytes, each record at least 11
  if (HEADER_BYTES + 5 * h.qdcount + 11 * (h.ancount + h.nscount + h.arcount) > size) return 'counts do not fit the message';
  if (!h.response) {
    if (h.qdcount !== 1) return `query with ${h.qdcount} questions`;
    if (h.rcode !== 0 || h.flags & (FLAG.AA | FLAG.TC)) return 'query with response flags';
    if (h.ancount !== 0 || h.nscount > (strict ? 0 : 2) || h.arcount > (strict ? 2 : 4)) return 'query with records';
    return undefined;
  }
  if (h.qdcount > (strict ? 1 : 4)) return `response with ${h.qdcount} questions`;
  if (strict && h.qdcount === 0) return 'response without its question';
  if (strict && h.rcode > 10) return `rcode ${h.rcode}`;
  return undefined;
}

/** Question classes seen in practice: IN, CH, HS, ANY. */
const CLASSES = new Set([1, 3, 4, 255]);

/**
 * Parses one message: `data` is its captured prefix, `size` its true length.
 * Example: parseDnsMessage(datagram.payload, datagram.len)
 */
export function parseDnsMessage(data: Uint8Array, size: number = data.length, strictness: Strictness = 'plausible'): DnsParse {
  const captured = Math.min(data.length, size);
  if (size < HEADER_BYTES) return { ok: false, reason: `${size} bytes is shorter than a header` };
  const header = readHeader(data.subarray(0, captured));
  if (!header) return { ok: false, reason: 'header not captured' };
  const problem = headerProblem(header, size, strictness);
  if (problem) return { ok: false, reason: problem };
  const m: DnsMessage = { header, answers: [], rcode: header.rcode, truncated: false };
  const cut = (): DnsParse => {
    m.truncated = true;
    return { ok: true, message: m };
  };

  const names: NameCache = new Map();
  let at = HEADER_BYTES;
  for (let i = 0; i < header.qdcount; i++) {
    const n = readName(data, at, captured, size, names);
    if (!n.ok) return n.cut ? cut() : { ok: false, reason: `question name: ${n.reason}` };
    const c = new Cursor(data, n.next, captured);
    const type = c.readU16BE();
    const qclass = c.readU16BE();
    if (qclass === undefined) return n.next + 4 <= size ? cut() : { ok: false, reason: 'question runs past the end' };
    if (strictness === 'strict' && (type === 0 || !CLASSES.has(qclass))) return { ok: false, reason: `question type ${type ?? 0} class ${qclass}` };
    if (i === 0) m.question = { name: n.name, type: type ?? 0, qclass };
    at = c.position;
  }

  const records = header.ancount + header.nscount + header.arcount;
  for (let i = 0; i < records; i++) {
    const n = readName(data, at, captured, size, names);
    if (!n.ok) return n.cut ? cut() : { ok: false, reason: `record name: ${n.reason}` };
    const c = new Cursor(data, n.next, captured);
    const type = c.readU16BE();
    const rclass = c.readU16BE();
    const ttl = c.readU32BE();
    const rdlength = c.readU16BE();
    if (type === undefined || rclass === undefined || ttl === undefined || rdlength === undefined) {
      return n.next + 10 <= size ? cut() : { ok: false, reason: 'record runs past the end' };
    }
    const rdata = c.position;
    const next = rdata + rdlength;
    if (next > size) return { ok: false, reason: 'record data runs past the end' };
    const inAnswers = i < header.ancount;
    const isOpt = type === TYPE.OPT && i >= header.ancount + header.nscount;
    if (next > captured) {
      // the record is cut: an OPT's fixed part is already here
      if (isOpt) setEdns(m, header, rclass, ttl);
      return cut();
    }
    if (isOpt) {
      if (m.edns) return { ok: false, reason: 'two OPT records' };
      setEdns(m, header, rclass, ttl);
    } else if (inAnswers) {
      const text = rdataText(type, data, rdata, rdlength, size, names);
      if (!text.ok) return { ok: false, reason: `${typeName(type)} record: ${text.reason}` };
      if (m.answers.length < MAX_ANSWERS) m.answers.push({ name: n.name, type: typeName(type), ttl, data: text.text });
    }
    at = next;
  }
  m.parsedBytes = at;
  if (captured < size) m.truncated = true;
  return { ok: true, message: m };
}

function setEdns(m: DnsMessage, h: DnsHeader, rclass: number, ttl: number): void {
  // the TTL field holds EXTENDED-RCODE (upper 8 bits of the 12-bit RCODE), VERSION, DO and Z
  m.edns = { udpSize: rclass, version: (ttl >>> 16) & 0xff };
  m.rcode = ((ttl >>> 24) << 4) | h.rcode;
}

/**
 * A message fit to start a DNS conversation: its header passes `strictness`, the
 * question parses, and everything captured parses. Under 'strict' the parsed
 * sections must also end exactly at `size` (nothing after them) when all of it
 * was captured.
 */
export function looksLikeDns(data: Uint8Array, size: number, strictness: Strictness): DnsMessage | undefined {
  const r = parseDnsMessage(data, size, strictness);
  if (!r.ok) return undefined;
  const m = r.message;
  if (m.header.qdcount > 0 && !m.question) return strictness === 'strict' ? undefined : m;
  if (strictness === 'strict' && !m.truncated && m.parsedBytes !== size) return undefined;
  return m;
}
