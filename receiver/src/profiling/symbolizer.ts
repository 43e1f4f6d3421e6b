/**
 * User stacks to text, in user space and only on demand (a stack that ends up
 * on a selected span): each address is found in the process's memory map;
 * in a file-backed mapping it is looked up in that ELF's .symtab/.dynsym, in
 * anonymous memory in the process's perf map (JIT runtimes). Parsed ELF files
 * are kept in a bounded LRU keyed by device and inode; evictions and failures
 * are counted. Nothing here throws: what cannot be resolved prints as an
 * address, `0x8612b (libc.so.6)` (the address inside the module) or `0x7f3a…`.
 *
 * A leaf without frame pointers (Debian's libc) hides its caller from the
 * kernel's frame-pointer walk. The stack record carries the words from the
 * stack pointer up; those below the frame pointer that are return addresses
 * (they point into executable code right after a call instruction) are put
 * back between the leaf and the rest of the walk. When the walk got no further
 * than the leaf, the stack is partial (`kindling.stack.truncated`).
 *
 * Example:
 *   const sym = new Symbolizer();
 *   sym.symbolize(stackEvent);   // ['__lll_lock_wait+0x2b (libc.so.6)', 'part_lock+0x5a (server)', ...]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseElf } from './elf';
import type { ElfSymbols, Reader } from './elf';
import { PerfMap, findMapping, isFileBacked, parseMaps } from './proc-maps';
import type { Mapping } from './proc-maps';

export interface StackInput {
  pid: number;
  /** return addresses, innermost first (the first is the instruction pointer) */
  frames: readonly number[];
  sp: number;
  bp: number;
  /** words of the stack from sp up */
  scan: readonly number[];
}

export interface SymbolizerStats {
  stacks: number;
  frames: number;
  /** frames resolved to a function name */
  resolved: number;
  /** frames recovered from the stack words (a frame-pointer-less leaf's callers) */
  recovered: number;
  /** ELF files parsed, and pushed out of the cache */
  filesParsed: number;
  fileEvictions: number;
  /** by what: maps (process gone), elf (unreadable or malformed file), perfmap */
  failures: { maps: number; elf: number; perfmap: number };
  lastFailure: string;
}

export interface SymbolizerOptions {
  /** ELF files kept parsed (default 64) */
  maxFiles?: number;
  /** perf maps kept parsed (default 8) */
  maxPerfMaps?: number;
  /** where /proc is (tests) */
  proc?: string;
  /** where a pid's perf map is; default: its /tmp (through /proc/PID/root), then ours */
  perfMapPaths?: (pid: number) => string[];
}

/** at most this many return addresses are recovered from the stack words */
const MAX_RECOVERED = 8;

export class Symbolizer {
  readonly #files = new Map<string, ElfSymbols | undefined>();
  readonly #perf = new Map<string, { mtimeMs: number; size: number; map: PerfMap }>();
  readonly #maxFiles: number;
  readonly #maxPerf: number;
  readonly #proc: string;
  readonly #perfPaths: (pid: number) => string[];
  readonly stats: SymbolizerStats = { stacks: 0, frames: 0, resolved: 0, recovered: 0, filesParsed: 0, fileEvictions: 0, failures: { maps: 0, elf: 0, perfmap: 0 }, lastFailure: '' };

  constructor(o: SymbolizerOptions = {}) {
    this.#maxFiles = o.maxFiles ?? 64;
    this.#maxPerf = o.maxPerfMaps ?? 8;
    this.#proc = o.proc ?? '/proc';
    this.#perfPaths = o.perfMapPaths ?? ((pid) => [`${this.#proc}/${pid}/root/tmp/perf-${nsPid(this.#proc, pid)}.map`, `/tmp/perf-${pid}.map`]);
  }

  /** One line per frame, innermost first. */
  symbolize(s: StackInput): string[] {
    return this.resolve(s).lines;
  }

  /** The lines, and whether the stack is partial: the frame-pointer walk stopped at the leaf. */
  resolve(s: StackInput): { lines: string[]; partial: boolean } {
    this.stats.stacks++;
    let maps: Mapping[] = [];
    try {
      maps = parseMaps(fs.readFileSync(`${this.#proc}/${s.pid}/maps`, 'utf8'));
    } catch (e) {
      this.#fail('maps', `pid ${s.pid}: ${(e as Error).message}`);
    }
    const addrs = [...s.frames];
    const recovered = maps.length ? this.#recover(s, maps) : [];
    if (recovered.length) {
      addrs.splice(1, 0, ...recovered);
      this.stats.recovered += recovered.length;
    }
    return { lines: addrs.map((a, i) => this.#frame(s.pid, maps, a, i > 0)), partial: s.frames.length === 1 };
  }

  #frame(pid: number, maps: Mapping[], addr: number, isReturn: boolean): string {
    this.stats.frames++;
    // a return address points after the call: look up the call itself (a noreturn call may end its function)
    const at = isReturn ? addr - 1 : addr;
    const hex = `0x${addr.toString(16)}`;
    const m = findMapping(maps, at);
    if (m && isFileBacked(m)) {
      const base = path.basename(m.path.replace(/ \(deleted\)$/, ''));
      const elf = this.#elf(pid, m);
      const fileOffset = at - m.start + m.offset;
      const vaddr = elf?.toVaddr(fileOffset);
      const sym = vaddr !== undefined ? elf?.lookup(vaddr) : undefined;
      if (sym && vaddr !== undefined) {
        this.stats.resolved++;
        return `${sym.name}+0x${(vaddr + (addr - at) - sym.start).toString(16)} (${base})`;
      }
      return `0x${((vaddr ?? fileOffset) + (addr - at)).toString(16)} (${base})`;
    }
    if (!m || m.executable) {
      const name = this.#perfMap(pid)?.lookup(at);
      if (name) {
        this.stats.resolved++;
        return `${name} (jit)`;
      }
    }
    return m && m.path ? `${hex} (${m.path})` : hex;
  }

  /**
   * Return addresses below the frame pointer: the callers a frame-pointer-less
   * leaf hid. When the walk stopped at the leaf (no usable frame pointer at all),
   * only the first one above the stack pointer, the leaf's own caller: further
   * up, stale return addresses in the callers' frames look just as valid.
   */
  #recover(s: StackInput, maps: Mapping[]): number[] {
    if (s.frames.length === 0) return [];
    let words: number;
    let most = MAX_RECOVERED;
    if (s.bp > s.sp && s.bp <= s.sp + 8 * s.scan.length) {
      words = Math.floor((s.bp - s.sp) / 8);
    } else if (s.frames.length === 1) {
      words = s.scan.length;
      most = 1;
    } else {
      return [];
    }
    const out: number[] = [];
    for (let i = 0; i < words && out.length < most; i++) {
      const w = s.scan[i] ?? 0;
      if (w === s.frames[0] || w === s.frames[1]) continue;
      const m = findMapping(maps, w);
      if (!m || !m.executable || !isFileBacked(m)) continue;
      if (afterCall(this.#open(s.pid, m), w - m.start + m.offset)) out.push(w);
    }
    return out;
  }

  #open(pid: number, m: Mapping): string[] {
    const file = m.path.replace(/ \(deleted\)$/, '');
    return [`${this.#proc}/${pid}/root${file}`, file];
  }

  #elf(pid: number, m: Mapping): ElfSymbols | undefined {
    const key = `${m.dev}:${m.inode}:${m.path}`;
    if (this.#files.has(key)) {
      const hit = this.#files.get(key);
      this.#files.delete(key);
      this.#files.set(key, hit);
      return hit;
    }
    let parsed: ElfSymbols | undefined;
    const r = withFile(this.#open(pid, m), (read) => parseElf(read));
    if (!r) this.#fail('elf', `${m.path}: cannot open`);
    else if (!r.ok) this.#fail('elf', `${m.path}: ${r.reason}`);
    else parsed = r.value;
    this.stats.filesParsed++;
    if (this.#files.size >= this.#maxFiles) {
      this.#files.delete(this.#files.keys().next().value as string);
      this.stats.fileEvictions++;
    }
    // a failure is cached too: a bad file is not parsed again on every frame
    this.#files.set(key, parsed);
    return parsed;
  }

  #perfMap(pid: number): PerfMap | undefined {
    for (const file of this.#perfPaths(pid)) {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        continue;
      }
      const hit = this.#perf.get(file);
      if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.map;
      try {
        if (st.size > 256 * 1024 * 1024) throw new Error(`${st.size} bytes`);
        const map = new PerfMap(fs.readFileSync(file, 'utf8'));
        if (this.#perf.size >= this.#maxPerf && !this.#perf.has(file)) this.#perf.delete(this.#perf.keys().next().value as string);
        this.#perf.set(file, { mtimeMs: st.mtimeMs, size: st.size, map });
        return map;
      } catch (e) {
        this.#fail('perfmap', `${file}: ${(e as Error).message}`);
        return undefined;
      }
    }
    return undefined;
  }

  #fail(what: keyof SymbolizerStats['failures'], why: string): void {
    this.stats.failures[what]++;
    this.stats.lastFailure = why;
  }
}

/** the pid as the process's own namespace numbers it (its perf map is named by that) */
function nsPid(proc: string, pid: number): number {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`${proc}/${pid}/status`, 'utf8'));
    const last = m?.[1]?.trim().split(/\s+/).pop();
    return last ? Number(last) : pid;
  } catch {
    return pid;
  }
}

/** Runs fn over the first of the files that opens; undefined when none does. */
function withFile<T>(candidates: string[], fn: (read: Reader) => T): T | undefined {
  for (const file of candidates) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      continue;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const read: Reader = (offset, length) => {
        if (offset < 0 || offset >= size || length <= 0) return Buffer.alloc(0);
        const n = Math.min(length, size - offset);
        const b = Buffer.allocUnsafe(n);
        return b.subarray(0, fs.readSync(fd, b, 0, n, offset));
      };
      return fn(read);
    } catch {
      return undefined;
    } finally {
      fs.closeSync(fd);
    }
  }
  return undefined;
}

/**
 * Whether the code before a file offset ends with an x86-64 call: e8 rel32, or
 * ff /2 (indirect: register, memory with 0/8/32-bit displacement, RIP-relative).
 */
function afterCall(candidates: string[], fileOffset: number): boolean {
  if (fileOffset < 7) return false;
  const b = withFile(candidates, (read) => read(fileOffset - 7, 7));
  if (!b || b.length < 7) return false;
  const at = (back: number): number => b[7 - back] ?? 0;
  const reg2 = (modrm: number): boolean => ((modrm >> 3) & 7) === 2;
  if (at(5) === 0xe8) return true;
  if (at(2) === 0xff && reg2(at(1)) && (at(1) >> 6 === 3 || (at(1) >> 6 === 0 && (at(1) & 7) !== 4 && (at(1) & 7) !== 5))) return true; // call *%reg, *(%reg)
  if (at(3) === 0xff && reg2(at(2)) && at(2) >> 6 === 1) return true; // call *disp8(%reg)
  if (at(4) === 0xff && reg2(at(3)) && at(3) >> 6 === 1 && (at(3) & 7) === 4) return true; // ... with SIB
  if (at(6) === 0xff && reg2(at(5)) && (at(5) >> 6 === 2 || (at(5) & 0xc7) === 0x05)) return true; // disp32, RIP-relative
  if (at(7) === 0xff && reg2(at(6)) && at(6) >> 6 === 2 && (at(6) & 7) === 4) return true; // ... with SIB
  return false;
}
