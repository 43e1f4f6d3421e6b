// A small HTTP/1.1 server for the tests: known routes, statuses and bodies.
// Prints its port on stdout once listening. Usage: node http-server.js [port]
'use strict';
const http = require('node:http');

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/missing') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    return res.end('not here');
  }
  if (path === '/boom') {
    res.writeHead(500, { 'content-type': 'text/plain' });
    return res.end('broken');
  }
  if (path === '/echo') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      // no content-length: a chunked response in several writes
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('echo:');
      res.write(Buffer.concat(chunks));
      res.end(':done');
    });
    return;
  }
  if (path.startsWith('/slow')) {
    return setTimeout(() => res.end('slow ' + path), 50);
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path }));
});
server.keepAliveTimeout = 2000;
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
