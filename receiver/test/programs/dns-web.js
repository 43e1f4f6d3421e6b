// A tiny HTTP server on a given address (127.0.0.2 in the DNS tests: the address
// a DNS answer named), accepting HTTP/1.1 requests without a Host header.
// Prints its port once listening. Usage: node dns-web.js HOST
'use strict';
const http = require('node:http');

const server = http.createServer({ requireHostHeader: false }, (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from ${req.url}`);
});
server.listen(0, process.argv[2] || '127.0.0.2', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
