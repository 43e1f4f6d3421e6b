// A small raw-socket Redis client for the end-to-end tests: each scenario sends a
// known sequence of commands (RESP arrays of bulk strings), counts the replies and
// pushes it gets back, and prints one JSON line with what happened.
// Usage: node redis-client.js PORT SCENARIO [ARGS]
//   transaction        MULTI/SET/INCR/GET/EXEC, MULTI/SET/DISCARD, MULTI/SET/NOSUCHCMD/EXEC (EXECABORT),
//                      then one pipelined MULTI..EXEC in a single write
//   errors             INCR on a string (ERR), LPUSH on a string (WRONGTYPE), an unknown command,
//                      SELECT 3 then SET/GET there
//   subscribe CH N [3] (HELLO 3 first when 3) SUBSCRIBE CH, prints "ready", waits for N messages,
//                      then UNSUBSCRIBE, PING, QUIT
//   publish CH N       N PUBLISH CH msg-i, one at a time, then QUIT
//   pipeline N         N SETs in one write, then reads the N replies
//   flood N            N SETs in one write (big: the capture holds only a prefix), reads N replies
//   script CMD...      each CMD (words separated by spaces) sent alone, waiting for its reply
'use strict';
const net = require('node:net');

const [port, scenario, ...args] = process.argv.slice(2);

function encode(argv) {
  let s = `*${argv.length}\r\n`;
  for (const a of argv) s += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
  return s;
}

/** Index one past a complete RESP value starting at i, or -1 when incomplete. */
function skipValue(b, i) {
  if (i >= b.length) return -1;
  const lf = b.indexOf(10, i);
  if (lf < 0) return -1;
  const t = String.fromCharCode(b[i]);
  const line = b.toString('latin1', i + 1, lf - 1);
  let at = lf + 1;
  if ('$!='.includes(t)) {
    const n = Number(line);
    if (n < 0) return at;
    return at + n + 2 <= b.length ? at + n + 2 : -1;
  }
  if ('*%~>|'.includes(t)) {
    const n = Number(line);
    const elements = n < 0 ? 0 : t === '%' || t === '|' ? 2 * n : n;
    for (let k = 0; k < elements; k++) {
      at = skipValue(b, at);
      if (at < 0) return -1;
    }
    return t === '|' ? skipValue(b, at) : at;
  }
  return at;
}

const sock = net.connect(Number(port), '127.0.0.1');
sock.setNoDelay(true);
let buf = Buffer.alloc(0);
const stats = { replies: 0, pushes: 0, messages: 0, errors: [] };
let waiters = [];

sock.on('data', (d) => {
  buf = buf.length ? Buffer.concat([buf, d]) : d;
  for (;;) {
    const end = skipValue(buf, 0);
    if (end < 0) break;
    const v = buf.subarray(0, end);
    buf = buf.subarray(end);
    const text = v.toString('latin1');
    if (v[0] === 0x2d) stats.errors.push(text.slice(1, text.indexOf('\r')));
    const kind = /^[*>]\d+\r\n\$\d+\r\n([a-z]+)\r\n/.exec(text)?.[1] ?? '';
    if (/^(\*3|>3)\r\n\$7\r\nmessage\r\n/.test(text)) {
      stats.messages++;
      stats.pushes++;
    } else if (v[0] === 0x3e && !/subscribe$/.test(kind)) stats.pushes++;
    else stats.replies++;
    for (const w of waiters.splice(0)) w();
  }
});
sock.on('error', (e) => {
  process.stderr.write(`redis-client: ${e.message}\n`);
  process.exit(1);
});

function until(pred) {
  return new Promise((resolve) => {
    const check = () => (pred() ? resolve() : waiters.push(check));
    check();
  });
}

/** Sends commands in one write and waits for as many replies. */
async function send(...cmds) {
  const want = stats.replies + cmds.length;
  sock.write(cmds.map(encode).join(''));
  await until(() => stats.replies >= want);
}

async function main() {
  await new Promise((r) => sock.once('connect', r));
  switch (scenario) {
    case 'transaction':
      for (const c of [['MULTI'], ['SET', 'tx:a', '1'], ['INCR', 'tx:a'], ['GET', 'tx:a'], ['EXEC']]) await send(c);
      for (const c of [['MULTI'], ['SET', 'tx:b', '1'], ['DISCARD']]) await send(c);
      for (const c of [['MULTI'], ['SET', 'tx:c', '1'], ['NOSUCHCMD', 'x'], ['EXEC']]) await send(c);
      await send(['MULTI'], ['SET', 'tx:d', 'v'], ['LPUSH', 'tx:d', 'x'], ['EXEC']);
      break;
    case 'errors':
      for (const c of [['SET', 'e:s', 'str'], ['INCR', 'e:s'], ['LPUSH', 'e:s', 'x'], ['NOSUCHCMD'], ['SELECT', '3'], ['SET', 'e:k', 'v'], ['GET', 'e:k']]) await send(c);
      break;
    case 'subscribe': {
      const [ch, n, proto] = args;
      if (proto === '3') await send(['HELLO', '3']);
      const want = stats.replies + 1;
      sock.write(encode(['SUBSCRIBE', ch]));
      await until(() => stats.replies >= want);
      process.stdout.write('ready\n');
      await until(() => stats.messages >= Number(n));
      await send(['UNSUBSCRIBE', ch]);
      await send(['PING']);
      break;
    }
    case 'publish': {
      const [ch, n] = args;
      for (let i = 0; i < Number(n); i++) await send(['PUBLISH', ch, `msg-${i}`]);
      break;
    }
    case 'pipeline':
    case 'flood': {
      const n = Number(args[0]);
      await send(...Array.from({ length: n }, (_, i) => ['SET', `${scenario}:${i}`, 'v']));
      break;
    }
    case 'script':
      for (const c of args) await send(c.split(' '));
      break;
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
  await send(['QUIT']);
  sock.end();
  process.stdout.write(`${JSON.stringify(stats)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`redis-client: ${e.stack}\n`);
    process.exit(1);
  },
);
setTimeout(() => {
  process.stderr.write(`redis-client: timed out (${JSON.stringify(stats)})\n`);
  process.exit(1);
}, 20000).unref();
