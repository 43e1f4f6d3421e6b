/**
 * The memcached binary protocol from captured segments.
 * https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped
 *
 * Every packet is a 24-byte header then a body of `total body length` bytes (extras,
 * key, value), skipped by count. Requests start with magic 0x80, responses with 0x81;
 * a response echoes its request's opcode and opaque. Quiet opcodes answer less:
 * GetQ/GetKQ/GATQ answer hits only, the other quiet ones (SetQ, DeleteQ, ...) errors only.
 *
 * Example:
 *   const p = new McBinaryParser('request');
 *   p.push(seg(header(0x80, GET, key 'k', opaque 7) + 'k'))  // → [{ opcode: 0, keyLen: 1, opaque: 7, ... }]
 */
import type { Segment } from './types';
import { segmentLength } from './types';

export const REQUEST_MAGIC = 0x80;
export const RESPONSE_MAGIC = 0x81;
export const HEADER = 24;
const MAX_BODY = 2 ** 30;

export interface McPacket {
  opcode: number;
  keyLen: number;
  extLen: number;
  /** responses: the status; requests: the vbucket */
  status: number;
  bodyLen: number;
  opaque: number;
  startNs: number;
  endNs: number;
  truncated: boolean;
}

export type McBinaryEvent = { kind: 'packet'; packet: McPacket } | { kind: 'lost'; reason: string; error: boolean; atNs: number };

interface OpInfo {
  /** the text command's name for the same operation */
  name: string;
  quiet: boolean;
  /** extras length a request carries (-1: any) */
  extras: number;
  key: 'required' | 'none' | 'optional';
}

const op = (name: string, extras: number, key: OpInfo['key'], quiet = false): OpInfo => ({ name, quiet, extras, key });

/** Opcodes by number (protocol_binary.h). */
export const OPCODES: ReadonlyMap<number, OpInfo> = new Map([
  [0x00, op('get', 0, 'required')],
  [0x01, op('set', 8, 'required')],
  [0x02, op('add', 8, 'required')],
  [0x03, op('replace', 8, 'required')],
  [0x04, op('delete', 0, 'required')],
  [0x05, op('incr', 20, 'required')],
  [0x06, op('decr', 20, 'required')],
  [0x07, op('quit', 0, 'none')],
  [0x08, op('flush_all', -1, 'none')],
  [0x09, op('get', 0, 'required', true)],
  [0x0a, op('noop', 0, 'none')],
  [0x0b, op('version', 0, 'none')],
  [0x0c, op('get', 0, 'required')],
  [0x0d, op('get', 0, 'required', true)],
  [0x0e, op('append', 0, 'required')],
  [0x0f, op('prepend', 0, 'required')],
  [0x10, op('stats', 0, 'optional')],
  [0x11, op('set', 8, 'required', true)],
  [0x12, op('add', 8, 'required', true)],
  [0x13, op('replace', 8, 'required', true)],
  [0x14, op('delete', 0, 'required', true)],
  [0x15, op('incr', 20, 'required', true)],
  [0x16, op('decr', 20, 'required', true)],
  [0x17, op('quit', 0, 'none', true)],
  [0x18, op('flush_all', -1, 'none', true)],
  [0x19, op('append', 0, 'required', true)],
  [0x1a, op('prepend', 0, 'required', true)],
  [0x1b, op('verbosity', 4, 'none')],
  [0x1c, op('touch', 4, 'required')],
  [0x1d, op('gat', 4, 'required')],
  [0x1e, op('gat', 4, 'required', true)],
  [0x20, op('sasl_list_mechs', 0, 'none')],
  [0x21, op('sasl_auth', 0, 'optional')],
  [0x22, op('sasl_step', 0, 'optional')],
  [0x23, op('gat', 4, 'required')],
  [0x24, op('gat', 4, 'required', true)],
]);

/** Get-family opcodes: a hit returns one value. */
export const GETS = new Set([0x00, 0x09, 0x0c, 0x0d, 0x1d, 0x1e, 0x23, 0x24]);
/** Quiet gets answer hits only (a miss is silent); other quiet opcodes answer errors only. */
export const QUIET_GETS = new Set([0x09, 0x0d, 0x1e, 0x24]);

/** Response statuses that are outcomes, not errors: no error, key not found, key exists, item not stored. */
const OUTCOMES = new Set([0x0000, 0x0001, 0x0002, 0x0005]);
const STATUS_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0001, 'KEY_ENOENT'],
  [0x0002, 'KEY_EEXISTS'],
  [0x0003, 'E2BIG'],
  [0x0004, 'EINVAL'],
  [0x0005, 'NOT_STORED'],
  [0x0006, 'DELTA_BADVAL'],
  [0x0007, 'NOT_MY_VBUCKET'],
  [0x0008, 'AUTH_ERROR'],
  [0x0009, 'AUTH_CONTINUE'],
  [0x0020, 'AUTH_ERROR'],
  [0x0021, 'AUTH_CONTINUE'],
  [0x0081, 'UNKNOWN_COMMAND'],
  [0x0082, 'ENOMEM'],
  [0x0083, 'NOT_SUPPORTED'],
  [0x0084, 'EINTERNAL'],
  [0x0085, 'EBUSY'],
  [0x0086, 'ETMPFAIL'],
]);

/** The status as db.response.status_code when it is an error, else undefined. */
export function binaryError(status: number): string | undefined {
  if (OUTCOMES.has(status)) return undefined;
  return STATUS_NAMES.get(status) ?? `STATUS_0x${status.toString(16).padStart(4, '0')}`;
}

/** A plausible packet header at `at`: the magic, a known opcode, sizes that add up. */
export function plausibleHeader(data: Uint8Array, magic: number, at = 0): boolean {
  if (data.length - at < HEADER || data[at] !== magic) return false;
  const info = OPCODES.get(data[at + 1] ?? -1);
  if (info === undefined || data[at + 5] !== 0) return false;
  const keyLen = ((data[at + 2] ?? 0) << 8) | (data[at + 3] ?? 0);
  const extLen = data[at + 4] ?? 0;
  const bodyLen = (((data[at + 8] ?? 0) << 24) | ((data[at + 9] ?? 0) << 16) | ((data[at + 10] ?? 0) << 8) | (data[at + 11] ?? 0)) >>> 0;
  if (bodyLen > MAX_BODY || keyLen + extLen > bodyLen || keyLen > 250) return false;
  if (magic === REQUEST_MAGIC) {
    if (info.extras >= 0 && extLen !== info.extras && !(info.name === 'flush_all' && extLen === 0)) return false;
    if (info.extras < 0 && extLen !== 0 && extLen !== 4) return false;
    if (info.key === 'required' && keyLen === 0) return false;
    if (info.key === 'none' && keyLen !== 0) return false;
  }
  return true;
}

const enum St {
  Header,
  Body,
  Lost,
}

export class McBinaryParser {
  readonly stats = { packets: 0, errors: 0, resyncs: 0, skippedSegments: 0 };
  private readonly magic: number;
  private st = St.Header;
  private readonly head = new Uint8Array(HEADER);
  private have = 0;
  private bodyLeft = 0;
  private pkt: McPacket | undefined;
  private seg: Segment | undefined;
  private out: McBinaryEvent[] = [];

  constructor(side: 'request' | 'response') {
    this.magic = side === 'request' ? REQUEST_MAGIC : RESPONSE_MAGIC;
  }

  get lost(): boolean {
    return this.st === St.Lost;
  }

  get atBoundary(): boolean {
    return this.st === St.Header && this.have === 0;
  }

  /** Never throws, whatever the bytes. */
  push(seg: Segment): McBinaryEvent[] {
    this.out = [];
    this.seg = seg;
    try {
      this.consume(seg);
    } catch (e) {
      this.lose(`internal error: ${String(e)}`, true);
    }
    this.seg = undefined;
    return this.out;
  }

  private consume(seg: Segment): void {
    const data = seg.data;
    const cap = data.length;
    const total = segmentLength(seg);
    if (total === 0) return;
    if (this.st === St.Lost) {
      if (!plausibleHeader(data, this.magic)) {
        this.stats.skippedSegments++;
        return;
      }
      this.st = St.Header;
    }
    let pos = 0;
    while (pos < total && (this.st as St) !== St.Lost) {
      if (this.st === St.Body) {
        const n = Math.min(this.bodyLeft, total - pos);
        pos += n;
        this.bodyLeft -= n;
        if (this.bodyLeft === 0) this.emit(false);
        continue;
      }
      if (pos >= cap) return void this.lose('a header in bytes the capture did not copy', false);
      if (this.have === 0 && this.pkt === undefined) this.pkt = { opcode: 0, keyLen: 0, extLen: 0, status: 0, bodyLen: 0, opaque: 0, startNs: seg.enterNs, endNs: 0, truncated: false };
      const k = Math.min(HEADER - this.have, cap - pos);
      this.head.set(data.subarray(pos, pos + k), this.have);
      this.have += k;
      pos += k;
      if (this.have < HEADER) {
        if (cap < total) return void this.lose('a header runs into bytes the capture did not copy', false);
        continue;
      }
      if (!plausibleHeader(this.head, this.magic)) return void this.lose('not a memcached binary header', true);
      const h = this.head;
      const p = this.pkt;
      if (p === undefined) return;
      p.opcode = h[1] ?? 0;
      p.keyLen = ((h[2] ?? 0) << 8) | (h[3] ?? 0);
      p.extLen = h[4] ?? 0;
      p.status = ((h[6] ?? 0) << 8) | (h[7] ?? 0);
      p.bodyLen = (((h[8] ?? 0) << 24) | ((h[9] ?? 0) << 16) | ((h[10] ?? 0) << 8) | (h[11] ?? 0)) >>> 0;
      p.opaque = (((h[12] ?? 0) << 24) | ((h[13] ?? 0) << 16) | ((h[14] ?? 0) << 8) | (h[15] ?? 0)) >>> 0;
      this.have = 0;
      this.bodyLeft = p.bodyLen;
      if (this.bodyLeft === 0) this.emit(false);
      else this.st = St.Body;
    }
  }

  private emit(truncated: boolean): void {
    const p = this.pkt;
    this.pkt = undefined;
    this.st = St.Header;
    if (p === undefined) return;
    p.endNs = this.seg?.exitNs ?? p.startNs;
    p.truncated = truncated;
    this.stats.packets++;
    this.out.push({ kind: 'packet', packet: p });
  }

  private lose(reason: string, error: boolean): void {
    if (error) this.stats.errors++;
    this.stats.resyncs++;
    this.out.push({ kind: 'lost', reason, error, atNs: this.seg?.enterNs ?? 0 });
    this.pkt = undefined;
    this.have = 0;
    this.bodyLeft = 0;
    this.st = St.Lost;
  }
}
