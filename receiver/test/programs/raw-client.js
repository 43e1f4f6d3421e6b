// A raw TCP client for bad-input tests: sends exactly the bytes asked for (or
// nothing), then reads until the server closes, and prints what happened as one
// JSON line. Errors such as a reset are outcomes, not failures.
// Usage: node raw-client.js PORT MODE [ARG]
//   random N        N pseudo-random bytes (fixed seed; the first byte is 0x00, never HTTP)
//   text STRING     STRING as latin1 (\r and \n escapes allowed)
//   big-header N    a GET whose one header line carries N bytes of value, in one write
//   big-header-pieces N P   the same in writes of P bytes, one syscall each, then a half-close
//   none            sends nothing, only reads
'use strict';
const net = require('node:net');

const [port, mode, arg] = process.argv.slice(2);

function payload() {
  switch (mode) {
    case 'random': {
      const b = Buffer.alloc(Number(arg));
      let x = 0x2545f491;
      for (let i = 0; i < b.length; i++) {
        // xorshift32: the same bytes every run
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b[i] = x & 0xff;
      }
      b[0] = 0;
      return b;
    }
    case 'text':
      return Buffer.from(String(arg).replace(/\\r/g, '\r').replace(/\\n/g, '\n'), 'latin1');
    case 'big-header':
    case 'big-header-pieces': {
      const head = `GET /big HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: `;
      return Buffer.concat([Buffer.from(head), Buffer.alloc(Number(arg), 0x61), Buffer.from('\r\n\r\n')]);
    }
    case 'none':
      return undefined;
    default:
      process.stderr.write(`unknown mode ${mode}\n`);
      process.exit(2);
  }
}

const data = payload();
const received = [];
let error;

/** one write per piece: the next starts when the previous one's callback ran, so each is its own syscall */
function writePieces(sock, buf, size) {
  let off = 0;
  const next = () => {
    if (off >= buf.length || sock.destroyed) return sock.end();
    const piece = buf.subarray(off, off + size);
    off += size;
    sock.write(piece, (err) => (err ? undefined : next()));
  };
  next();
}

const sock = net.connect(Number(port), '127.0.0.1', () => {
  if (!data) return;
  if (mode === 'big-header-pieces') writePieces(sock, data, Number(process.argv[5]));
  else sock.write(data);
});
sock.on('data', (d) => received.push(d));
sock.on('error', (e) => (error = e.code ?? String(e)));
sock.on('close', () => {
  const all = Buffer.concat(received);
  const firstLine = all.toString('latin1').split('\r\n')[0];
  process.stdout.write(`${JSON.stringify({ sent: sock.bytesWritten, received: all.length, firstLine, error })}\n`);
  process.exit(0);
});
setTimeout(() => {
  // the server kept the connection open: that is an outcome too
  error = error ?? 'timeout';
  sock.destroy();
}, 5000).unref();
