// Raw DNS (and one raw HTTP) clients for the DNS tests; each prints one JSON line.
// Usage: node dns-client.js MODE ...
//   udp-garbage PORT               every GARBAGE datagram from one socket, then one valid query from another
//   tcp-garbage PORT               TCP_GARBAGE on a connection; then a valid query and TCP_GARBAGE on a second one
//   flood PORT N SOCKETS HOLD_MS   N queries over SOCKETS unconnected sockets to 127.0.0.1:PORT; sockets kept HOLD_MS
//   http HOST PORT PATH            GET PATH over HTTP/1.1 without a Host header; prints the status line
'use strict';
const dgram = require('node:dgram');
const net = require('node:net');
const { GARBAGE, TCP_GARBAGE } = require('./dns-garbage.js');

const [mode, ...args] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** a standard query with RD set */
function query(id, name, type = 1) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([h, ...labels, Buffer.from([0]), tail]);
}

const prefixed = (m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);

function udpSocket() {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

async function udpGarbage(port) {
  const s = await udpSocket();
  let replies = 0;
  s.on('message', () => replies++);
  for (const [, bytes] of GARBAGE) {
    await new Promise((r) => s.send(bytes, port, '127.0.0.1', r));
    await sleep(20);
  }
  await sleep(200);
  s.close();
  const v = await udpSocket();
  const answered = await new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 2000);
    v.once('message', () => {
      clearTimeout(t);
      resolve(true);
    });
    v.send(query(0x4242, 'svc.test'), port, '127.0.0.1');
  });
  v.close();
  return { replies, answered };
}

/** writes `chunks` one after the other (waiting `gapMs` between), reads until the peer closes or `waitMs` passes */
function tcpExchange(port, chunks, gapMs, waitMs) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let received = 0;
    let outcome = 'closed';
    sock.on('data', (d) => (received += d.length));
    sock.on('error', (e) => (outcome = e.code || String(e)));
    const timer = setTimeout(() => {
      outcome = 'still open';
      sock.destroy();
    }, waitMs);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ received, outcome });
    });
    sock.on('connect', async () => {
      for (const c of chunks) {
        sock.write(c);
        await sleep(gapMs);
      }
    });
  });
}

async function tcpGarbage(port) {
  const alone = await tcpExchange(port, [TCP_GARBAGE], 100, 1500);
  const after = await tcpExchange(port, [prefixed(query(0x4343, 'svc.test')), TCP_GARBAGE], 300, 1500);
  return { alone, after };
}

async function flood(port, n, sockets, holdMs) {
  const socks = [];
  for (let i = 0; i < sockets; i++) socks.push(await udpSocket());
  let sent = 0;
  for (let i = 0; i < n; i++) {
    const s = socks[i % sockets];
    // ids distinct per socket; names distinct overall
    const id = Math.floor(i / sockets) & 0xffff;
    await new Promise((r) => s.send(query(id, `q${i}.flood.test`), port, '127.0.0.1', r));
    sent++;
  }
  await sleep(holdMs);
  for (const s of socks) s.close();
  return { sent };
}

function http(host, port, path) {
  return new Promise((resolve) => {
    const sock = net.connect(Number(port), host);
    let data = '';
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('error', (e) => resolve({ error: String(e) }));
    sock.on('close', () => resolve({ firstLine: data.split('\r\n')[0] }));
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nConnection: close\r\n\r\n`));
  });
}

async function main() {
  let out;
  if (mode === 'udp-garbage') out = await udpGarbage(Number(args[0]));
  else if (mode === 'tcp-garbage') out = await tcpGarbage(Number(args[0]));
  else if (mode === 'flood') out = await flood(Number(args[0]), Number(args[1]), Number(args[2]), Number(args[3]));
  else if (mode === 'http') out = await http(args[0], args[1], args[2]);
  else throw new Error(`unknown mode ${mode}`);
  process.stdout.write(JSON.stringify({ pid: process.pid, ...out }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
