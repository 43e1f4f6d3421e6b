import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { Cursor, latin1 } from '../../src/protocols/cursor';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

test('every fixed-width read at every position stays in bounds', () => {
  const b = Uint8Array.from({ length: 11 }, (_, i) => 0xf0 + i);
  const reads: Array<[number, (c: Cursor) => number | undefined]> = [
    [1, (c) => c.readU8()],
    [2, (c) => c.readU16BE()],
    [2, (c) => c.readU16LE()],
    [4, (c) => c.readU32BE()],
    [4, (c) => c.readU32LE()],
    [4, (c) => c.readI32BE()],
    [4, (c) => c.readI32LE()],
  ];
  // a cursor over a window [start, end) of b must never read outside the window
  for (let start = 0; start <= b.length; start++) {
    for (let end = start; end <= b.length; end++) {
      for (let p = start; p <= end; p++) {
        for (const [width, read] of reads) {
          const c = new Cursor(b, start, end);
          assert.ok(c.seek(p));
          const v = read(c);
          if (p + width <= end) {
            assert.notEqual(v, undefined);
            assert.equal(c.position, p + width);
          } else {
            assert.equal(v, undefined, `width ${width} at ${p} in [${start}, ${end})`);
            assert.equal(c.position, p, 'a failed read does not move');
          }
        }
        const c = new Cursor(b, start, end);
        c.seek(p);
        assert.equal(c.remaining, end - p);
        assert.equal(c.peek(), p < end ? b[p] : undefined);
        assert.equal(c.readBytes(end - p + 1), undefined);
        assert.equal(c.skip(end - p + 1), false);
        assert.equal(c.position, p);
        assert.equal(c.readBytes(end - p)?.length, end - p);
        assert.equal(c.remaining, 0);
      }
    }
  }
});

test('values are decoded in the right byte order and sign', () => {
  const c = new Cursor(Uint8Array.from([0x12, 0x34, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0xef, 0xbe, 0xad, 0xde, 0xff, 0xff, 0xff, 0xfe]));
  assert.equal(c.readU16BE(), 0x1234);
  assert.equal(c.readU16LE(), 0x3412);
  assert.equal(c.readU32BE(), 0xdeadbeef);
  assert.equal(c.readU32LE(), 0xdeadbeef);
  assert.equal(c.readI32BE(), -2);
  assert.equal(c.readU8(), undefined);
  const d = new Cursor(Uint8Array.from([0xfe, 0xff, 0xff, 0xff]));
  assert.equal(d.readI32LE(), -2);
});

test('bad arguments are refused, not thrown', () => {
  const c = new Cursor(bytes('abcdef'), 1, 4);
  for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(c.readBytes(n), undefined);
    assert.equal(c.skip(n), false);
    assert.equal(c.readLatin1(n), undefined);
    assert.equal(c.seek(n), false);
    assert.equal(c.peek(n), undefined);
  }
  assert.equal(c.seek(5), false, 'past the window');
  assert.equal(c.position, 1);
  const clamped = new Cursor(bytes('abc'), -5, 99);
  assert.deepEqual([clamped.position, clamped.end], [0, 3]);
});

test('views are zero-copy: same buffer, right offset', () => {
  const backing = new Uint8Array(64);
  backing.set(bytes('xxGET / HTTP/1.1\r\nHost: a\r\n\r\n'), 0);
  const b = backing.subarray(2, 30);
  const c = new Cursor(b);
  const line = c.readLine();
  assert.ok(line);
  assert.equal(line.buffer, backing.buffer);
  assert.equal(line.byteOffset, 2);
  const rest = c.rest();
  assert.equal(rest.buffer, backing.buffer);
  const host = c.readBytes(4);
  assert.equal(host?.buffer, backing.buffer);
  backing[18] = 0x68; // 'h': the view sees the change
  assert.equal(latin1(host ?? new Uint8Array()), 'host');
});

test('readLine: CRLF, bare LF, CR inside, and incomplete lines', () => {
  const c = new Cursor(bytes('one\r\ntwo\nthr\ree\r\n\r\n\nlast'));
  const lines: string[] = [];
  for (let l = c.readLine(); l !== undefined; l = c.readLine()) lines.push(latin1(l));
  assert.deepEqual(lines, ['one', 'two', 'thr\ree', '', '']);
  assert.equal(latin1(c.rest()), 'last', 'an incomplete line is not consumed');
  assert.equal(c.readLine(), undefined);
  // a CR at the end of the window is not a line end
  const d = new Cursor(bytes('abc\r'));
  assert.equal(d.readLine(), undefined);
  assert.equal(d.position, 0);
  // the window bounds the search for LF
  const e = new Cursor(bytes('abc\ndef\n'), 0, 3);
  assert.equal(e.readLine(), undefined);
  assert.equal(latin1(new Cursor(bytes('\n')).readLine() ?? bytes('x')), '');
});

test('indexOf finds bytes and sequences from the position, inside the window', () => {
  const c = new Cursor(bytes('ab\r\ncd\r\n\r\nef'), 0, 12);
  assert.equal(c.indexOf(0x0a), 3);
  assert.equal(c.indexOf(bytes('\r\n\r\n')), 6);
  assert.equal(c.indexOf(bytes('ef')), 10);
  assert.equal(c.indexOf(bytes('efg')), -1);
  assert.equal(c.indexOf(new Uint8Array(0)), 0);
  c.skip(7);
  assert.equal(c.indexOf(bytes('\r\n\r\n')), -1);
  assert.equal(c.indexOf(0x0a), 7);
  const w = new Cursor(bytes('xxab'), 0, 3);
  assert.equal(w.indexOf(bytes('ab')), -1, 'a sequence must end inside the window');
  assert.equal(w.indexOf(0x62), -1);
});

test('readUntil and readAsciiUntil', () => {
  const c = new Cursor(bytes('GET /path HTTP/1.1'));
  assert.equal(c.readAsciiUntil(0x20), 'GET');
  assert.equal(c.readAsciiUntil(0x20), '/path');
  assert.equal(c.readAsciiUntil(0x20), undefined);
  assert.equal(c.readLatin1(c.remaining), 'HTTP/1.1');
});

test('latin1 decodes one char per byte, short and long', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal(latin1(all), Buffer.from(all).toString('latin1'));
  const long = new Uint8Array(10_000).fill(0xe9);
  assert.equal(latin1(long), '\u00e9'.repeat(10_000));
  assert.equal(latin1(all, 250, 300), Buffer.from(all.subarray(250)).toString('latin1'));
  assert.equal(latin1(all, 10, 5), '');
});

test('property: random operations never throw and never leave the window', () => {
  const op = fc.oneof(
    fc.constantFrom('u8', 'u16be', 'u16le', 'u32be', 'u32le', 'i32be', 'i32le', 'line', 'rest', 'peek'),
    fc.tuple(fc.constantFrom('bytes', 'skip', 'seek', 'until', 'latin1'), fc.integer({ min: -3, max: 40 })),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(45), fc.nat(45), fc.array(op, { maxLength: 30 }), (b, s, e, ops) => {
      const c = new Cursor(b, s, e);
      for (const o of ops) {
        const before = c.position;
        if (typeof o === 'string') {
          if (o === 'u8') c.readU8();
          else if (o === 'u16be') c.readU16BE();
          else if (o === 'u16le') c.readU16LE();
          else if (o === 'u32be') c.readU32BE();
          else if (o === 'u32le') c.readU32LE();
          else if (o === 'i32be') c.readI32BE();
          else if (o === 'i32le') c.readI32LE();
          else if (o === 'line') c.readLine();
          else if (o === 'rest') assert.equal(c.rest().length, c.remaining);
          else c.peek();
        } else {
          const [name, n] = o;
          if (name === 'bytes') {
            const v = c.readBytes(n);
            if (v) assert.equal(v.length, n);
          } else if (name === 'skip') c.skip(n);
          else if (name === 'seek') c.seek(n);
          else if (name === 'until') c.readUntil(n & 0xff);
          else c.readLatin1(n);
        }
        assert.ok(c.position <= c.end && c.end <= b.length && c.remaining >= 0, `${JSON.stringify(o)} from ${before}`);
      }
    }),
  );
});
