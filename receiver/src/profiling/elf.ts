/**
 * A small ELF64 little-endian reader for symbolization: the PT_LOAD segments
 * (file offset -> virtual address) and the function symbols of .symtab and
 * .dynsym, sorted for binary search. Reads through a positional reader, so a
 * large binary is never loaded whole; every offset is bounds-checked and a
 * malformed file gives a failure value, never a throw.
 *
 * Example:
 *   const r = parseElf(fileReader(fd, size));
 *   if (r.ok) r.value.lookup(r.value.toVaddr(fileOffset) ?? 0);   // 'main', or undefined
 */

/** Reads `length` bytes at `offset`; a shorter (or empty) buffer past the end. */
export type Reader = (offset: number, length: number) => Buffer;

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface Segment {
  offset: number;
  vaddr: number;
  filesz: number;
}

const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const SYM_SIZE = 24;
/** no symbol table we read is larger than this (a huge one is refused, not read) */
const MAX_SECTION = 256 * 1024 * 1024;
/** nor a header table */
const MAX_HEADERS = 1024 * 1024;

export class ElfSymbols {
  readonly segments: Segment[];
  readonly #addr: Float64Array;
  readonly #size: Float64Array;
  readonly #names: string[];

  constructor(segments: Segment[], syms: { addr: number; size: number; name: string }[]) {
    this.segments = segments;
    // by address; among aliases at one address, a public name (no leading '_') first, then the shortest
    syms.sort((a, b) => a.addr - b.addr || Number(a.name.startsWith('_')) - Number(b.name.startsWith('_')) || a.name.length - b.name.length);
    const kept = syms.filter((s, i) => i === 0 || s.addr !== (syms[i - 1] as { addr: number }).addr);
    this.#addr = Float64Array.from(kept, (s) => s.addr);
    this.#size = Float64Array.from(kept, (s) => s.size);
    this.#names = kept.map((s) => s.name);
  }

  get count(): number {
    return this.#names.length;
  }

  /** The virtual address of a file offset, through the PT_LOAD segment holding it. */
  toVaddr(fileOffset: number): number | undefined {
    for (const s of this.segments) {
      if (fileOffset >= s.offset && fileOffset < s.offset + s.filesz) return fileOffset - s.offset + s.vaddr;
    }
    return undefined;
  }

  /** The function containing vaddr: its name and start, or undefined. */
  lookup(vaddr: number): { name: string; start: number } | undefined {
    let lo = 0;
    let hi = this.#addr.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#addr[mid] ?? 0) <= vaddr) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (at < 0) return undefined;
    const start = this.#addr[at] ?? 0;
    const size = this.#size[at] ?? 0;
    // a sized symbol covers exactly its bytes; an unsized one (assembly) runs to the next symbol
    if (size > 0 ? vaddr >= start + size : at + 1 < this.#addr.length && vaddr >= (this.#addr[at + 1] ?? 0)) return undefined;
    return { name: this.#names[at] ?? '?', start };
  }
}

function u64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

/** Parse an ELF64 little-endian file's load segments and function symbols. */
export function parseElf(read: Reader): Result<ElfSymbols> {
  try {
    return parse(read);
  } catch (e) {
    // the checks below should make this unreachable; a reader error lands here too
    return { ok: false, reason: `unreadable ELF: ${(e as Error).message}` };
  }
}

function parse(read: Reader): Result<ElfSymbols> {
  const h = read(0, 64);
  if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46) return { ok: false, reason: 'not an ELF file' };
  if (h[4] !== 2 || h[5] !== 1) return { ok: false, reason: 'not ELF64 little-endian' };
  const phoff = u64(h, 32);
  const shoff = u64(h, 40);
  const phentsize = h.readUInt16LE(54);
  const phnum = h.readUInt16LE(56);
  const shentsize = h.readUInt16LE(58);
  const shnum = h.readUInt16LE(60);

  const segments: Segment[] = [];
  if (phnum > 0) {
    if (phentsize < 56 || phnum * phentsize > MAX_HEADERS) return { ok: false, reason: `${phnum} program header entries of ${phentsize} bytes` };
    const ph = read(phoff, phnum * phentsize);
    if (ph.length < phnum * phentsize) return { ok: false, reason: 'program headers past the end of the file' };
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      if (ph.readUInt32LE(at) !== PT_LOAD) continue;
      segments.push({ offset: u64(ph, at + 8), vaddr: u64(ph, at + 16), filesz: u64(ph, at + 32) });
    }
  }
  if (segments.length === 0) return { ok: false, reason: 'no loadable segment' };

  const syms: { addr: number; size: number; name: string }[] = [];
  if (shnum > 0) {
    if (shentsize < 64 || shnum * shentsize > MAX_HEADERS) return { ok: false, reason: `${shnum} section header entries of ${shentsize} bytes` };
    const sh = read(shoff, shnum * shentsize);
    if (sh.length < shnum * shentsize) return { ok: false, reason: 'section headers past the end of the file' };
    const section = (i: number): { type: number; offset: number; size: number; link: number; entsize: number } => {
      const at = i * shentsize;
      return { type: sh.readUInt32LE(at + 4), offset: u64(sh, at + 24), size: u64(sh, at + 32), link: sh.readUInt32LE(at + 40), entsize: u64(sh, at + 56) };
    };
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      if (s.type !== SHT_SYMTAB && s.type !== SHT_DYNSYM) continue;
      if (s.link >= shnum || s.size > MAX_SECTION || (s.entsize !== 0 && s.entsize < SYM_SIZE)) return { ok: false, reason: `bad symbol table in section ${i}` };
      const str = section(s.link);
      if (str.size > MAX_SECTION) return { ok: false, reason: `bad string table in section ${s.link}` };
      const table = read(s.offset, s.size);
      const strings = read(str.offset, str.size);
      if (table.length < s.size || strings.length < str.size) return { ok: false, reason: `section ${i} runs past the end of the file` };
      const step = s.entsize || SYM_SIZE;
      for (let at = 0; at + SYM_SIZE <= table.length; at += step) {
        const type = (table[at + 4] ?? 0) & 0xf;
        const shndx = table.readUInt16LE(at + 6);
        const value = u64(table, at + 8);
        if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || shndx === 0 || value === 0) continue;
        const nameAt = table.readUInt32LE(at);
        if (nameAt >= strings.length) continue;
        const end = strings.indexOf(0, nameAt);
        const name = strings.toString('utf8', nameAt, end < 0 ? strings.length : end);
        if (name) syms.push({ addr: value, size: u64(table, at + 16), name });
      }
    }
  }
  return { ok: true, value: new ElfSymbols(segments, syms) };
}

/** A positional reader over a Buffer (tests, small files). */
export function bufferReader(b: Buffer): Reader {
  return (offset, length) => (offset >= b.length || offset < 0 ? Buffer.alloc(0) : b.subarray(offset, Math.min(b.length, offset + length)));
}
