// A raw-socket memcached client for the end-to-end tests: a known mix of operations,
// one request (or one pipelined batch) at a time, each waiting for its answer.
// Prints one JSON line: the operations sent by name, and what came back.
// Usage: node memcached-client.js PORT text K M D I   |   node memcached-client.js PORT binary K G
//   text:   K sets, M three-key gets (two hits, one miss each), D deletes, I incrs, one set
//           noreply, one incr on a non-number (CLIENT_ERROR), one unknown command (ERROR),
//           version, touch, gat, a meta pipeline (mg hit, quiet mg miss, ms, mn), quit
//   binary: K sets, G gets (hits), one get miss, a GetQ miss + GetQ hit + NoOp pipeline,
//           a SetQ + NoOp pipeline, delete, incr on a non-number (DELTA_BADVAL), version, quit
'use strict';
const net = require('node:net');

const [port, mode, ...counts] = process.argv.slice(2);
const n = counts.map(Number);
const sock = net.connect(Number(port), '127.0.0.1');
sock.setNoDelay(true);
let buf = Buffer.alloc(0);
let wake = () => undefined;
sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  wake();
});
sock.on('error', (e) => {
  process.stderr.write(`memcached-client: ${e.message}\n`);
  process.exit(1);
});
const sent = {};
const got = { errors: [], hits: 0 };
const count = (op, k = 1) => (sent[op] = (sent[op] ?? 0) + k);

/** Waits until `done(buf)` returns a length: that many bytes are one answer, consumed. */
function answer(done) {
  return new Promise((resolve) => {
    const check = () => {
      const len = done(buf);
      if (len < 0) return void (wake = check);
      const a = buf.subarray(0, len);
      buf = buf.subarray(len);
      wake = () => undefined;
      resolve(a);
    };
    check();
  });
}

// ---- text -------------------------------------------------------------------------------

const line = (b) => {
  const i = b.indexOf('\r\n');
  return i < 0 ? -1 : i + 2;
};
const untilEnd = (b) => {
  const i = b.indexOf('END\r\n');
  return i < 0 ? -1 : i + 5;
};
function untilLast(word) {
  return (b) => {
    const i = b.indexOf(`${word}\r\n`);
    return i < 0 ? -1 : i + word.length + 2;
  };
}

async function text(cmd, op, done = line) {
  count(op);
  sock.write(cmd);
  const a = (await answer(done)).toString('latin1');
  for (const m of a.matchAll(/^(ERROR|CLIENT_ERROR|SERVER_ERROR)/gm)) got.errors.push(m[1]);
  got.hits += (a.match(/^VALUE /gm) ?? []).length;
  return a;
}

async function textMix([k, m, d, i]) {
  for (let j = 0; j < k; j++) await text(`set key:${j} 0 0 5\r\nval-${j % 10}\r\n`, 'set');
  await text('set counter 0 0 1\r\n7\r\n', 'set');
  for (let j = 0; j < m; j++) await text(`get key:${j % k} key:${(j + 1) % k} nokey:${j}\r\n`, 'get', untilEnd);
  for (let j = 0; j < d; j++) await text(`delete key:${j}\r\n`, 'delete');
  for (let j = 0; j < i; j++) await text('incr counter 1\r\n', 'incr');
  count('set');
  sock.write('set quiet 0 0 2 noreply\r\nhi\r\n');
  await text(`incr key:${k - 1} 1\r\n`, 'incr');
  await text('bogus\r\n', 'unknown');
  await text('version\r\n', 'version');
  await text('touch quiet 100\r\n', 'touch');
  await text('gat 100 quiet\r\n', 'gat', untilEnd);
  count('mg', 2);
  count('ms');
  count('mn');
  sock.write('mg quiet v\r\nmg nokey v q\r\nms meta 2\r\nhi\r\nmn\r\n');
  await answer(untilLast('MN'));
  got.hits++;
  count('quit');
  sock.write('quit\r\n');
}

// ---- binary -----------------------------------------------------------------------------

const OP = { get: 0x00, set: 0x01, delete: 0x04, incr: 0x05, quit: 0x07, getq: 0x09, noop: 0x0a, version: 0x0b, setq: 0x11 };
let opaque = 0;

function packet(opcode, key = '', extras = Buffer.alloc(0), value = Buffer.alloc(0)) {
  const k = Buffer.from(key);
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = opcode;
  h.writeUInt16BE(k.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(extras.length + k.length + value.length, 8);
  h.writeUInt32BE(++opaque, 12);
  return Buffer.concat([h, extras, k, value]);
}

/** Complete response packets in b: the length of the first `count`, or -1. */
const packets = (count) => (b) => {
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (b.length < at + 24) return -1;
    at += 24 + b.readUInt32BE(at + 8);
    if (b.length < at) return -1;
  }
  return at;
};

async function binary(bufs, ops, responses) {
  for (const op of ops) count(op);
  sock.write(Buffer.concat(bufs));
  const a = await answer(packets(responses));
  for (let at = 0; at < a.length; at += 24 + a.readUInt32BE(at + 8)) {
    const status = a.readUInt16BE(at + 6);
    if (status === 0 && (a[at + 1] === OP.get || a[at + 1] === OP.getq)) got.hits++;
    if (status !== 0 && status !== 1) got.errors.push(status);
  }
}

async function binaryMix([k, g]) {
  const setExtras = () => Buffer.alloc(8);
  for (let j = 0; j < k; j++) await binary([packet(OP.set, `bkey:${j}`, setExtras(), Buffer.from(`value-${j}`))], ['set'], 1);
  for (let j = 0; j < g; j++) await binary([packet(OP.get, `bkey:${j % k}`)], ['get'], 1);
  await binary([packet(OP.get, 'bnokey')], ['get'], 1);
  await binary([packet(OP.getq, 'bnokey'), packet(OP.getq, 'bkey:0'), packet(OP.noop)], ['get', 'get', 'noop'], 2);
  await binary([packet(OP.setq, 'bq', setExtras(), Buffer.from('q')), packet(OP.noop)], ['set', 'noop'], 1);
  await binary([packet(OP.delete, 'bkey:0')], ['delete'], 1);
  const incr = Buffer.alloc(20);
  incr.writeUInt32BE(1, 4);
  await binary([packet(OP.incr, 'bkey:1', incr)], ['incr'], 1);
  await binary([packet(OP.version)], ['version'], 1);
  await binary([packet(OP.quit)], ['quit'], 1);
}

async function main() {
  await new Promise((r) => sock.once('connect', r));
  if (mode === 'text') await textMix(n);
  else if (mode === 'binary') await binaryMix(n);
  else throw new Error(`unknown mode ${mode}`);
  await new Promise((r) => sock.end(r));
  process.stdout.write(`${JSON.stringify({ sent, got })}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`memcached-client: ${e.stack}\n`);
    process.exit(1);
  },
);
setTimeout(() => {
  process.stderr.write(`memcached-client: timed out; sent ${JSON.stringify(sent)}, buffered ${JSON.stringify(buf.toString('latin1'))}\n`);
  process.exit(1);
}, 20000).unref();
