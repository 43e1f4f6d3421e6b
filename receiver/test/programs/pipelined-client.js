// Sends requests pipelined on one connection (all written before any reply is
// read) and waits for every response. Usage: node pipelined-client.js PORT PATH...
'use strict';
const net = require('node:net');

const [port, ...paths] = process.argv.slice(2);
const sock = net.connect(Number(port), '127.0.0.1', () => {
  sock.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: pipelined-client\r\n\r\n`).join(''));
});
let got = '';
sock.on('data', (d) => {
  got += d.toString('latin1');
  // every response is complete once the last one's body (JSON or a final chunk) has arrived
  const responses = got.split('HTTP/1.1 ').length - 1;
  if (responses >= paths.length && (/\}$/.test(got) || /\r\n0\r\n\r\n$/.test(got))) sock.end();
});
sock.on('close', () => {
  process.stdout.write(got);
  process.exit(0);
});
setTimeout(() => {
  process.stderr.write('timed out waiting for responses\n');
  process.exit(1);
}, 5000);
