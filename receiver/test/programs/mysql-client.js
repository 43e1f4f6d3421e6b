'use strict';
// A small MySQL/MariaDB client over a raw socket, for the tests: handshake with
// mysql_native_password (auth switch included), text queries, prepared statements
// (binary protocol), COM_INIT_DB, COM_PING, COM_STMT_RESET/CLOSE, COM_QUIT.
//
//   node mysql-client.js '{"port":3306,"user":"u","password":"p","db":"d","deprecateEof":false,
//                          "steps":[["query","SELECT 1"],["prepare","s1","SELECT ?"],["execute","s1",["7"]],
//                                   ["close","s1"],["ping"],["initdb","d"],["hold"],["quit"]]}'
//
// Prints one JSON line per step ({"step":..., "ok":true, "rows":N} or {"error":1146,...}), then
// {"done":true}. "hold" prints {"holding":true} and waits for a line on stdin (the connection stays open).
// ["raw", HEX, MS] writes bytes as they are (garbage included) and reports what came back within MS;
// with "handshake": false the raw bytes go out right after the server's greeting.
// Protocol: https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
const net = require('node:net');
const crypto = require('node:crypto');

const CLIENT = {
  LONG_PASSWORD: 1, LONG_FLAG: 4, CONNECT_WITH_DB: 8, PROTOCOL_41: 0x200, TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000, MULTI_STATEMENTS: 0x10000, MULTI_RESULTS: 0x20000, PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000, SESSION_TRACK: 0x800000, DEPRECATE_EOF: 0x1000000,
};

class Conn {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.closed = false;
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.pump();
    });
    socket.on('close', () => {
      this.closed = true;
      this.pump();
    });
  }

  pump() {
    while (this.waiters.length > 0) {
      if (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length >= 4 + len) {
          const seq = this.buf[3];
          const payload = this.buf.subarray(4, 4 + len);
          this.buf = this.buf.subarray(4 + len);
          this.seq = seq;
          this.waiters.shift().resolve(payload);
          continue;
        }
      }
      if (this.closed) this.waiters.shift().reject(new Error('connection closed'));
      else break;
    }
  }

  read() {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.pump();
    });
  }

  write(seq, payload) {
    const h = Buffer.alloc(4);
    h.writeUIntLE(payload.length, 0, 3);
    h[3] = seq & 0xff;
    this.socket.write(Buffer.concat([h, payload]));
  }
}

function lenenc(b, at) {
  const f = b[at];
  if (f < 0xfb) return [f, at + 1];
  if (f === 0xfc) return [b.readUInt16LE(at + 1), at + 3];
  if (f === 0xfd) return [b.readUIntLE(at + 1, 3), at + 4];
  return [Number(b.readBigUInt64LE(at + 1)), at + 9];
}

function lenencBuf(n) {
  if (n < 0xfb) return Buffer.from([n]);
  const b = Buffer.alloc(3);
  b[0] = 0xfc;
  b.writeUInt16LE(n, 1);
  return b;
}

const sha1 = (...parts) => crypto.createHash('sha1').update(Buffer.concat(parts)).digest();

function nativePassword(password, scramble) {
  if (!password) return Buffer.alloc(0);
  const p1 = sha1(Buffer.from(password));
  const p2 = sha1(p1);
  const p3 = sha1(scramble.subarray(0, 20), p2);
  return Buffer.from(p1.map((v, i) => v ^ p3[i]));
}

const isErr = (p) => p[0] === 0xff;
const errOf = (p) => ({ error: p.readUInt16LE(1), sqlState: p[3] === 0x23 ? p.subarray(4, 9).toString() : undefined });

async function handshake(c, o) {
  const g = await c.read();
  if (isErr(g)) throw new Error(`refused: ${JSON.stringify(errOf(g))}`);
  let at = 1;
  const vEnd = g.indexOf(0, at);
  const version = g.subarray(at, vEnd).toString();
  at = vEnd + 1 + 4;
  const s1 = g.subarray(at, at + 8);
  at += 9;
  let serverCaps = g.readUInt16LE(at);
  at += 2 + 1 + 2;
  serverCaps |= g.readUInt16LE(at) << 16;
  at += 2;
  const authLen = g[at];
  at += 1 + 10;
  const s2 = g.subarray(at, at + Math.max(13, authLen - 8) - 1);
  const scramble = Buffer.concat([s1, s2]);
  let caps = CLIENT.LONG_PASSWORD | CLIENT.LONG_FLAG | CLIENT.PROTOCOL_41 | CLIENT.TRANSACTIONS | CLIENT.SECURE_CONNECTION |
    CLIENT.MULTI_STATEMENTS | CLIENT.MULTI_RESULTS | CLIENT.PS_MULTI_RESULTS | CLIENT.PLUGIN_AUTH | CLIENT.SESSION_TRACK;
  if (o.db) caps |= CLIENT.CONNECT_WITH_DB;
  if (o.deprecateEof) caps |= CLIENT.DEPRECATE_EOF;
  caps = (caps & serverCaps) >>> 0;
  c.caps = caps;
  const head = Buffer.alloc(32);
  head.writeUInt32LE(caps, 0);
  head.writeUInt32LE(16 * 1024 * 1024, 4);
  head[8] = 33; // utf8_general_ci
  const token = nativePassword(o.password, scramble);
  const parts = [head, Buffer.from(`${o.user}\0`), Buffer.from([token.length]), token];
  if (o.db) parts.push(Buffer.from(`${o.db}\0`));
  parts.push(Buffer.from('mysql_native_password\0'));
  c.write(1, Buffer.concat(parts));
  for (;;) {
    const r = await c.read();
    if (r[0] === 0x00) return version;
    if (isErr(r)) throw new Error(`login failed: ${JSON.stringify(errOf(r))}`);
    if (r[0] === 0xfe) {
      const nul = r.indexOf(0, 1);
      const plugin = r.subarray(1, nul).toString();
      if (plugin !== 'mysql_native_password') throw new Error(`auth plugin ${plugin} not supported`);
      c.write(c.seq + 1, nativePassword(o.password, r.subarray(nul + 1)));
      continue;
    }
    throw new Error(`unexpected auth packet ${r[0]}`);
  }
}

/** Reads OK / ERR / result sets (chained by SERVER_MORE_RESULTS_EXISTS); rows counted. */
async function readResult(c) {
  const deprecate = (c.caps & CLIENT.DEPRECATE_EOF) !== 0;
  let rows = 0;
  let sets = 0;
  for (;;) {
    const p = await c.read();
    if (isErr(p)) return { ...errOf(p), rows };
    let status;
    if (p[0] === 0x00) {
      let [, at] = lenenc(p, 1);
      [, at] = lenenc(p, at);
      status = p.readUInt16LE(at);
    } else {
      sets++;
      const [cols] = lenenc(p, 0);
      for (let i = 0; i < cols; i++) await c.read();
      if (!deprecate) await c.read(); // EOF
      for (;;) {
        const r = await c.read();
        if (isErr(r)) return { ...errOf(r), rows };
        if (r[0] === 0xfe && r.length < (deprecate ? 0xffffff : 9)) {
          status = deprecate ? okStatus(r) : r.readUInt16LE(3);
          break;
        }
        rows++;
      }
    }
    if ((status & 0x0008) === 0) return { ok: true, rows, sets };
  }
}

function okStatus(p) {
  let [, at] = lenenc(p, 1);
  [, at] = lenenc(p, at);
  return p.readUInt16LE(at);
}

async function prepare(c, sql) {
  c.write(0, Buffer.concat([Buffer.from([0x16]), Buffer.from(sql)]));
  const p = await c.read();
  if (isErr(p)) return errOf(p);
  const id = p.readUInt32LE(1);
  const cols = p.readUInt16LE(5);
  const params = p.readUInt16LE(7);
  const deprecate = (c.caps & CLIENT.DEPRECATE_EOF) !== 0;
  for (const n of [params, cols]) {
    if (n === 0) continue;
    for (let i = 0; i < n; i++) await c.read();
    if (!deprecate) await c.read();
  }
  return { ok: true, id, params, cols };
}

function execute(c, st, values) {
  const parts = [Buffer.from([0x17]), u32(st.id), Buffer.from([0]), u32(1)];
  if (st.params > 0) {
    parts.push(Buffer.alloc((st.params + 7) >> 3), Buffer.from([1]));
    for (let i = 0; i < st.params; i++) parts.push(Buffer.from([0xfd, 0x00]));
    for (let i = 0; i < st.params; i++) {
      const v = Buffer.from(String(values[i] ?? ''));
      parts.push(lenencBuf(v.length), v);
    }
  }
  c.write(0, Buffer.concat(parts));
  return readResult(c);
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function waitLine() {
  return new Promise((resolve) => {
    process.stdin.once('data', () => resolve());
    process.stdin.once('end', () => resolve());
  });
}

async function main() {
  const o = JSON.parse(process.argv[2]);
  const socket = net.connect({ host: o.host ?? '127.0.0.1', port: o.port });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  const c = new Conn(socket);
  const out = (x) => process.stdout.write(`${JSON.stringify(x)}\n`);
  if (o.handshake === false) await c.read();
  else out({ connected: true, version: await handshake(c, o), caps: c.caps });
  const statements = new Map();
  for (const step of o.steps) {
    const [kind, a, b] = step;
    let r;
    switch (kind) {
      case 'query':
        c.write(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(a)]));
        r = await readResult(c);
        break;
      case 'prepare':
        r = await prepare(c, b);
        if (r.ok) statements.set(a, r);
        break;
      case 'execute':
        r = await execute(c, statements.get(a), b ?? []);
        break;
      case 'close':
        c.write(0, Buffer.concat([Buffer.from([0x19]), u32(statements.get(a).id)]));
        r = { ok: true };
        break;
      case 'reset':
        c.write(0, Buffer.concat([Buffer.from([0x1a]), u32(statements.get(a).id)]));
        r = await readResult(c);
        break;
      case 'ping':
        c.write(0, Buffer.from([0x0e]));
        r = await readResult(c);
        break;
      case 'initdb':
        c.write(0, Buffer.concat([Buffer.from([0x02]), Buffer.from(a)]));
        r = await readResult(c);
        break;
      case 'hold':
        out({ holding: true });
        await waitLine();
        r = { ok: true };
        break;
      case 'raw': {
        // the packet reader's view is over: count whatever arrives
        c.waiters.length = 0;
        const before = c.buf.length;
        socket.write(Buffer.from(a, 'hex'));
        await new Promise((resolve) => setTimeout(resolve, b ?? 300));
        r = { received: c.buf.length - before, closed: c.closed };
        c.buf = Buffer.alloc(0);
        break;
      }
      case 'quit':
        c.write(0, Buffer.from([0x01]));
        r = { ok: true };
        break;
      default:
        throw new Error(`unknown step ${kind}`);
    }
    out({ step: kind, ...r });
  }
  socket.end();
  if (!c.closed) await new Promise((resolve) => socket.once('close', resolve));
  out({ done: true });
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
