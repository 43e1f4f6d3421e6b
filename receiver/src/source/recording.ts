/**
 * Capture files (".kdcap"): the kernel's records exactly as delivered, batch by
 * batch, so a replay decodes to the very same events.
 *
 * Layout (little-endian):
 *   0   8 bytes  magic "KDLNGCAP"
 *   8   u32      file format version (1)
 *   12  u32      event ABI version
 *   16  u32      header length H
 *   20  H bytes  header: JSON (RecordingHeader)
 *   then blocks, each:
 *       u32 block magic "KDBK", u32 length L, u32 record count, u32 CRC-32 of the L bytes,
 *       L bytes of records
 *
 * A reader stops at the first damage with KINDLING_ERR_CAPTURE_FORMAT naming the
 * byte offset; blocks before it are still delivered.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { ABI_VERSION, READABLE_ABI_VERSIONS } from '../events/abi';
import { checkRecord, align8 } from '../events/decode';
import { KindlingError } from '../errors';

const MAGIC = Buffer.from('KDLNGCAP', 'latin1');
const BLOCK_MAGIC = 0x4b42444b; // "KDBK" read as little-endian u32
const FORMAT_VERSION = 1;
const PREAMBLE = 20;
const BLOCK_HEADER = 16;
const MAX_HEADER = 1 << 20;
/** a block is one batch; the addon's batches are ~256 KiB */
export const MAX_BLOCK = 64 << 20;

export interface RecordingHeader {
  createdAt: string;
  host: string;
  kernel: string;
  payloadBytes: number;
  /** free-form notes from the writer (a test stores its scenario here) */
  meta?: Record<string, unknown>;
}

export class RecordingWriter {
  #fd: number;
  #offset: number;
  readonly file: string;
  blocks = 0;
  records = 0;

  constructor(file: string, header: RecordingHeader) {
    this.file = file;
    try {
      this.#fd = fs.openSync(file, 'w');
    } catch (e) {
      throw new KindlingError('KINDLING_ERR_IO', `cannot create capture file ${file}: ${(e as Error).message}`, { cause: e });
    }
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const pre = Buffer.alloc(PREAMBLE);
    MAGIC.copy(pre, 0);
    pre.writeUInt32LE(FORMAT_VERSION, 8);
    pre.writeUInt32LE(ABI_VERSION, 12);
    pre.writeUInt32LE(json.length, 16);
    fs.writeSync(this.#fd, pre);
    fs.writeSync(this.#fd, json);
    this.#offset = PREAMBLE + json.length;
  }

  /** Append one batch of raw records. */
  write(raw: Uint8Array, records: number): void {
    const head = Buffer.alloc(BLOCK_HEADER);
    head.writeUInt32LE(BLOCK_MAGIC, 0);
    head.writeUInt32LE(raw.byteLength, 4);
    head.writeUInt32LE(records, 8);
    head.writeUInt32LE(zlib.crc32(raw), 12);
    fs.writeSync(this.#fd, head);
    fs.writeSync(this.#fd, raw);
    this.#offset += BLOCK_HEADER + raw.byteLength;
    this.blocks++;
    this.records += records;
  }

  get bytesWritten(): number {
    return this.#offset;
  }

  close(): void {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

/** Number of records in a batch (the same walk the decoder does). */
export function countRecords(raw: Uint8Array): number {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let n = 0;
  for (let at = 0; at + 4 <= raw.byteLength; n++) {
    const size = dv.getUint16(at + 2, true);
    if (size < 4) break;
    at += align8(size);
  }
  return n;
}

export interface RecordingBlock {
  /** byte offset of the block header in the file */
  offset: number;
  records: number;
  raw: Uint8Array;
}

function corrupt(file: string, offset: number, why: string): KindlingError {
  return new KindlingError('KINDLING_ERR_CAPTURE_FORMAT', `corrupt capture file ${file} at byte offset ${offset}: ${why}`);
}

export class RecordingReader {
  readonly file: string;
  readonly header: RecordingHeader;
  readonly abiVersion: number;
  #fd: number;
  #pos: number;
  #size: number;

  constructor(file: string) {
    this.file = file;
    try {
      this.#fd = fs.openSync(file, 'r');
      this.#size = fs.fstatSync(this.#fd).size;
    } catch (e) {
      throw new KindlingError('KINDLING_ERR_IO', `cannot open capture file ${file}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const pre = this.#read(0, PREAMBLE, 'the file header');
      if (!pre.subarray(0, 8).equals(MAGIC)) throw corrupt(file, 0, 'not a Kindling capture file (bad magic)');
      const version = pre.readUInt32LE(8);
      if (version !== FORMAT_VERSION) throw corrupt(file, 8, `unknown file format version ${version}`);
      this.abiVersion = pre.readUInt32LE(12);
      if (!READABLE_ABI_VERSIONS.includes(this.abiVersion)) {
        throw new KindlingError('KINDLING_ERR_CAPTURE_ABI', `capture file ${file} uses event ABI ${this.abiVersion}; this build reads ABI ${ABI_VERSION}`);
      }
      const hlen = pre.readUInt32LE(16);
      if (hlen > MAX_HEADER) throw corrupt(file, 16, `header length ${hlen} is implausible`);
      const json = this.#read(PREAMBLE, hlen, 'the JSON header');
      try {
        this.header = JSON.parse(json.toString('utf8')) as RecordingHeader;
      } catch (e) {
        throw corrupt(file, PREAMBLE, `header is not valid JSON (${(e as Error).message})`);
      }
      this.#pos = PREAMBLE + hlen;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  #read(at: number, len: number, what: string): Buffer {
    if (at + len > this.#size) {
      throw corrupt(this.file, at, `file ends inside ${what} (${this.#size - at} of ${len} bytes present)`);
    }
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(this.#fd, buf, got, len - got, at + got);
      if (n === 0) throw corrupt(this.file, at + got, `file ends inside ${what}`);
      got += n;
    }
    return buf;
  }

  /** The next block, undefined at a clean end; throws KINDLING_ERR_CAPTURE_FORMAT on damage. */
  next(): RecordingBlock | undefined {
    if (this.#pos === this.#size) return undefined;
    const at = this.#pos;
    const head = this.#read(at, BLOCK_HEADER, 'a block header');
    if (head.readUInt32LE(0) !== BLOCK_MAGIC) throw corrupt(this.file, at, 'bad block magic');
    const len = head.readUInt32LE(4);
    const records = head.readUInt32LE(8);
    const crc = head.readUInt32LE(12);
    if (len > MAX_BLOCK) throw corrupt(this.file, at + 4, `block length ${len} exceeds ${MAX_BLOCK}`);
    const raw = this.#read(at + BLOCK_HEADER, len, `a block of ${len} bytes`);
    if (zlib.crc32(raw) !== crc) throw corrupt(this.file, at + BLOCK_HEADER, 'block checksum mismatch');
    // the records themselves must hold together, or the decoder would silently stop early
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let n = 0;
    for (let r = 0; r < len; n++) {
      const bad = checkRecord(dv, r, len);
      if (bad !== undefined) throw corrupt(this.file, at + BLOCK_HEADER + r, bad);
      r += align8(dv.getUint16(r + 2, true));
    }
    if (n !== records) throw corrupt(this.file, at + 8, `block says ${records} records but holds ${n}`);
    this.#pos = at + BLOCK_HEADER + len;
    return { offset: at, records, raw };
  }

  close(): void {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}
