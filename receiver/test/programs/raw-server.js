// A raw TCP server for bad-input tests. Prints its port on stdout once listening.
// Usage: node raw-server.js MODE [port]
//   eager   answers before it is asked: every client gets an HTTP response as soon
//           as it connects, then the connection is closed
//   sink    reads and discards everything; when the client half-closes, answers
//           431 and closes (a server that tolerates any header size)
'use strict';
const net = require('node:net');

const [mode, port] = process.argv.slice(2);
const EAGER = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const TOO_LARGE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

if (mode !== 'eager' && mode !== 'sink') {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
const server = net.createServer({ allowHalfOpen: true }, (sock) => {
  sock.on('error', () => undefined);
  if (mode === 'eager') return sock.end(EAGER);
  sock.on('data', () => undefined);
  sock.on('end', () => sock.end(TOO_LARGE));
});
server.listen(Number(port || 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
