/**
 * The two text formats a symbolizer reads besides ELF: a process's memory map
 * (/proc/PID/maps) and a JIT runtime's perf map (/tmp/perf-PID.map, one
 * "START SIZE name" line per compiled function, hex, as `node --perf-basic-prof`
 * writes it). Both parsers skip lines they cannot read and never throw.
 *
 * Example:
 *   const maps = parseMaps(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
 *   const m = findMapping(maps, addr);          // { start, end, offset, path, ... }
 *   new PerfMap(text).lookup(addr);             // 'LazyCompile:*handler /app/server.js:12'
 */

export interface Mapping {
  start: number;
  end: number;
  /** file offset of `start` */
  offset: number;
  executable: boolean;
  /** "major:minor" of the file's device, and its inode (0 for anonymous memory) */
  dev: string;
  inode: number;
  /** the file, or a pseudo name ([vdso], [anon:...]), or '' */
  path: string;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/;

/** Every mapping of a /proc/PID/maps text, in address order. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    out.push({
      start: parseInt(m[1] ?? '0', 16),
      end: parseInt(m[2] ?? '0', 16),
      executable: (m[3] ?? '').charAt(2) === 'x',
      offset: parseInt(m[4] ?? '0', 16),
      dev: m[5] ?? '',
      inode: Number(m[6] ?? 0),
      path: (m[7] ?? '').trim(),
    });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The mapping holding addr, by binary search. */
export function findMapping(maps: readonly Mapping[], addr: number): Mapping | undefined {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = maps[mid] as Mapping;
    if (addr < m.start) hi = mid - 1;
    else if (addr >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}

/** A file-backed mapping (a path, an inode), as opposed to anonymous or pseudo memory */
export function isFileBacked(m: Mapping): boolean {
  return m.inode !== 0 && m.path.startsWith('/');
}

const PERF_LINE = /^(?:0x)?([0-9a-fA-F]+)\s+(?:0x)?([0-9a-fA-F]+)\s+(.+)$/;

/** A perf map's functions, sorted; a later line for the same start wins (code moved). */
export class PerfMap {
  readonly #start: Float64Array;
  readonly #end: Float64Array;
  readonly #names: string[];
  /** lines that were not "START SIZE name" */
  readonly skipped: number;

  constructor(text: string, maxEntries = 1_000_000) {
    const byStart = new Map<number, { end: number; name: string }>();
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const m = PERF_LINE.exec(line.trim());
      const start = m ? parseInt(m[1] ?? '', 16) : NaN;
      const size = m ? parseInt(m[2] ?? '', 16) : NaN;
      if (!m || !Number.isFinite(start) || !Number.isFinite(size) || byStart.size >= maxEntries) {
        skipped++;
        continue;
      }
      byStart.set(start, { end: start + size, name: (m[3] ?? '').trim() });
    }
    const sorted = [...byStart.entries()].sort((a, b) => a[0] - b[0]);
    this.#start = Float64Array.from(sorted, ([s]) => s);
    this.#end = Float64Array.from(sorted, ([, v]) => v.end);
    this.#names = sorted.map(([, v]) => v.name);
    this.skipped = skipped;
  }

  get size(): number {
    return this.#names.length;
  }

  /** The function whose code holds addr, or undefined. */
  lookup(addr: number): string | undefined {
    let lo = 0;
    let hi = this.#start.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#start[mid] ?? 0) <= addr) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return at >= 0 && addr < (this.#end[at] ?? 0) ? this.#names[at] : undefined;
  }
}
