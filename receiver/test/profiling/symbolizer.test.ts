// The ELF reader and symbolizer against a real binary compiled here, malformed ELF bytes, and
// perf maps (JIT runtimes); no root needed: the binary runs as our own child.
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { bufferReader, parseElf } from '../../src/profiling/elf';
import { PerfMap, findMapping, parseMaps } from '../../src/profiling/proc-maps';
import { Symbolizer } from '../../src/profiling/symbolizer';

const SOURCE = `
#include <unistd.h>
__attribute__((noinline)) int kd_probe_alpha(int x) { return x * 3 + 1; }
__attribute__((noinline)) int kd_probe_beta(int x) { return kd_probe_alpha(x) + 2; }
int main(void) { if (kd_probe_beta(1) > 0) pause(); return 0; }
`;

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** a small PIE with two known functions, or undefined without a C compiler */
function probeBinary(): string | undefined {
  if (!has('cc')) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-elf-'));
  fs.writeFileSync(path.join(dir, 'probe.c'), SOURCE);
  execFileSync('cc', ['-O1', '-fPIE', '-pie', '-o', path.join(dir, 'kd-probe'), path.join(dir, 'probe.c')]);
  return path.join(dir, 'kd-probe');
}

const binary = probeBinary();
const noCc = binary === undefined ? 'no C compiler here' : false;

/** function addresses as nm reads them, or as our own parse does when binutils is missing */
function nmAddresses(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of execFileSync('nm', [file], { encoding: 'utf8' }).split('\n')) {
    const [addr, type, name] = line.trim().split(/\s+/);
    if (name && addr && /^[tT]$/.test(type ?? '')) out.set(name, parseInt(addr, 16));
  }
  return out;
}

test('a known function of a real binary resolves to its name (addresses cross-checked with nm)', { skip: noCc }, () => {
  const file = binary as string;
  const r = parseElf(bufferReader(fs.readFileSync(file)));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const elf = r.value;
  const names = has('nm') ? nmAddresses(file) : undefined;
  for (const fn of ['kd_probe_alpha', 'kd_probe_beta', 'main']) {
    const addr = names?.get(fn);
    if (addr === undefined) continue;
    assert.equal(elf.lookup(addr)?.name, fn, `${fn} at its start`);
    assert.equal(elf.lookup(addr + 1)?.name, fn, `${fn} inside`);
    assert.equal(elf.lookup(addr)?.start, addr);
  }
  assert.ok(elf.count > 3, 'symbols from .symtab and .dynsym');
  assert.equal(elf.lookup(0), undefined, 'nothing at 0');
  // PIE: the text segment's file offsets map to its addresses
  const text = elf.segments.find((s) => s.filesz > 0 && s.offset > 0);
  if (text) assert.equal(elf.toVaddr(text.offset + 4), text.vaddr + 4);
});

test('a running process: its address resolves through /proc/PID/maps to `name+0xoff (module)`', { skip: noCc }, async () => {
  const file = binary as string;
  const child = spawn(file, [], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const pid = child.pid ?? 0;
    const elf = parseElf(bufferReader(fs.readFileSync(file)));
    assert.ok(elf.ok);
    const maps = parseMaps(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
    const exec = maps.find((m) => m.executable && m.path === fs.realpathSync(file));
    assert.ok(exec, 'the binary is mapped executable');
    // the runtime address of kd_probe_alpha + 4: vaddr -> file offset -> the mapping holding it
    const alpha = has('nm') ? nmAddresses(file).get('kd_probe_alpha') : undefined;
    if (alpha === undefined) return;
    const seg = elf.value.segments.find((s) => alpha >= s.vaddr && alpha < s.vaddr + s.filesz);
    assert.ok(seg);
    const fileOffset = alpha - seg.vaddr + seg.offset;
    const runtime = exec.start + (fileOffset - exec.offset) + 4;
    assert.equal(findMapping(maps, runtime), exec);
    const sym = new Symbolizer();
    const lines = sym.symbolize({ pid, frames: [runtime, runtime + 1], sp: 0, bp: 0, scan: [] });
    assert.deepEqual(lines, ['kd_probe_alpha+0x4 (kd-probe)', 'kd_probe_alpha+0x5 (kd-probe)']);
    assert.equal(sym.stats.resolved, 2);
    assert.equal(sym.stats.filesParsed, 1, 'parsed once, then cached');
    // an address in no mapping prints as itself
    assert.deepEqual(sym.symbolize({ pid, frames: [0x10], sp: 0, bp: 0, scan: [] }), ['0x10']);
  } finally {
    child.kill('SIGKILL');
  }
});

test('malformed ELF bytes never throw: every truncation, random bytes, mutated headers', { skip: noCc }, () => {
  const good = fs.readFileSync(binary as string);
  for (let n = 0; n < Math.min(good.length, 4096); n += 7) {
    const r = parseElf(bufferReader(good.subarray(0, n)));
    if (!r.ok) assert.ok(r.reason.length > 0);
  }
  // cut anywhere: the headers at the end of the file go first
  for (let n = good.length - 4096; n < good.length; n += 13) parseElf(bufferReader(good.subarray(0, Math.max(0, n))));
  for (let i = 0; i < 300; i++) {
    const r = parseElf(bufferReader(randomBytes(64 + (i % 200))));
    assert.equal(r.ok, false);
  }
  for (let i = 0; i < 300; i++) {
    const bad = Buffer.from(good);
    for (let k = 0; k < 8; k++) bad[16 + Math.floor(Math.random() * 48)] = Math.floor(Math.random() * 256);
    // section headers too
    const shoff = Number(good.readBigUInt64LE(40));
    for (let k = 0; k < 8 && shoff + 512 < bad.length; k++) bad[shoff + Math.floor(Math.random() * 512)] = Math.floor(Math.random() * 256);
    parseElf(bufferReader(bad));
  }
  assert.equal(parseElf(bufferReader(Buffer.from('not an elf at all'))).ok, false);
});

test('perf map: "START SIZE name" lines, bad lines skipped, a later line for the same start wins', () => {
  const map = new PerfMap(
    [
      '7f0000001000 40 LazyCompile:*handler /app/server.js:12',
      '0x7f0000002000 0x20 Builtin:ArrayMap',
      'garbage',
      '7f0000003000 zz broken size',
      '7f0000001000 80 LazyCompile:*handler /app/server.js:12 (moved)',
      '',
    ].join('\n'),
  );
  assert.equal(map.size, 2);
  assert.equal(map.skipped, 2);
  assert.equal(map.lookup(0x7f0000001000), 'LazyCompile:*handler /app/server.js:12 (moved)');
  assert.equal(map.lookup(0x7f000000107f), 'LazyCompile:*handler /app/server.js:12 (moved)');
  assert.equal(map.lookup(0x7f0000001080), undefined, 'past its size');
  assert.equal(map.lookup(0x7f000000201f), 'Builtin:ArrayMap');
  assert.equal(map.lookup(0x10), undefined);
  assert.equal(new PerfMap(randomBytes(4096).toString('latin1')).lookup(1), undefined, 'random text never throws');
});

test('anonymous executable memory resolves through the perf map; a gone process is a counted failure', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-proc-'));
  fs.mkdirSync(path.join(dir, '4242'));
  fs.writeFileSync(
    path.join(dir, '4242', 'maps'),
    ['55d000000000-55d000001000 r--p 00000000 fe:00 99 /nonexistent/app', '7f0000000000-7f0000100000 r-xp 00000000 00:00 0 ', '7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0 [vdso]', ''].join('\n'),
  );
  const perf = path.join(dir, 'perf-4242.map');
  fs.writeFileSync(perf, '7f0000001000 100 JS:~work /app/a.js:3\n');
  const sym = new Symbolizer({ proc: dir, perfMapPaths: () => [perf] });
  const lines = sym.symbolize({ pid: 4242, frames: [0x7f0000001010, 0x7f0000005000, 0x7ffd00000010], sp: 0, bp: 0, scan: [] });
  assert.deepEqual(lines, ['JS:~work /app/a.js:3 (jit)', '0x7f0000005000', '0x7ffd00000010 ([vdso])']);
  assert.deepEqual(sym.symbolize({ pid: 999999, frames: [0x1234], sp: 0, bp: 0, scan: [] }), ['0x1234']);
  assert.equal(sym.stats.failures.maps, 1);
  assert.match(sym.stats.lastFailure, /pid 999999/);
});

test('the ELF cache is a bounded LRU; evictions and unreadable files are counted', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-proc-'));
  fs.mkdirSync(path.join(dir, '7'));
  const lines: string[] = [];
  for (let i = 0; i < 4; i++) {
    const f = path.join(dir, `lib${i}.so`);
    fs.writeFileSync(f, i === 0 ? randomBytes(256) : 'x');
    lines.push(`${(0x100000 * (i + 1)).toString(16)}-${(0x100000 * (i + 1) + 0x1000).toString(16)} r-xp 00000000 fe:00 ${100 + i} ${f}`);
  }
  fs.writeFileSync(path.join(dir, '7', 'maps'), lines.join('\n'));
  const sym = new Symbolizer({ proc: dir, maxFiles: 2, perfMapPaths: () => [] });
  const frames = [0x100010, 0x200010, 0x300010, 0x400010];
  const out = sym.symbolize({ pid: 7, frames, sp: 0, bp: 0, scan: [] });
  // unresolved: the address inside its module
  assert.deepEqual(out, ['0x10 (lib0.so)', '0x10 (lib1.so)', '0x10 (lib2.so)', '0x10 (lib3.so)']);
  assert.equal(sym.stats.filesParsed, 4);
  assert.equal(sym.stats.fileEvictions, 2);
  assert.equal(sym.stats.failures.elf, 4, 'none of them is a valid ELF');
});
