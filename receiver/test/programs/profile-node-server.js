// An event-loop HTTP server for the trace-profiling tests: every request runs
// on the one main thread, so blocking shows up on that thread's counters.
//   /fsync     open a temp file in DIR, fs.writeFileSync 1 MiB, fs.fsyncSync, close, unlink
//              (all synchronous on the loop thread: disk time); with `fsyncs=N` (default 1)
//              the MiB goes in N equal writes, each followed by an fsync
//   /upstream  an HTTP GET of UPSTREAM_URL?ms=N (an upstream that answers after N ms,
//              e.g. profile-server's /sleep), awaited: the loop idles in epoll meanwhile
// Query `ms` (default 20) goes to the upstream. Each body reports the server's own
// measure of the time the loop thread did not run during the part: wall time
// (process.hrtime) minus CPU time (process.cpuUsage: the whole process, but the
// other threads are idle meanwhile; Node 20 has no per-thread CPU clock):
//   {"endpoint":"fsync","measured_ns":N,"wall_ns":W,"cpu_ns":C}
// Prints its port on stdout once listening.
// Usage: node profile-node-server.js UPSTREAM_URL [DIR (default /var/tmp)]
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const upstream = process.argv[2];
const dir = process.argv[3] || '/var/tmp';
const DATA = Buffer.alloc(1 << 20, 'k');
// one kept-alive connection to the upstream: no connect in the measured part after the first
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let files = 0;

/** starts a measure; calling the result ends it */
function measure() {
  const wall0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  return () => {
    const wall = Number(process.hrtime.bigint() - wall0);
    const used = process.cpuUsage(cpu0);
    const cpu = (used.user + used.system) * 1000;
    return { measured_ns: Math.max(0, wall - cpu), wall_ns: wall, cpu_ns: cpu };
  };
}

function fsyncPart(fsyncs) {
  const file = path.join(dir, `profile-node-server-${process.pid}-${files++}.tmp`);
  const part = Math.floor(DATA.length / fsyncs);
  const done = measure();
  const fd = fs.openSync(file, 'w');
  try {
    for (let i = 0; i < fsyncs; i++) {
      fs.writeFileSync(fd, DATA.subarray(i * part, i === fsyncs - 1 ? DATA.length : (i + 1) * part));
      fs.fsyncSync(fd);
    }
  } finally {
    fs.closeSync(fd);
    fs.unlinkSync(file);
  }
  return done();
}

function upstreamPart(ms) {
  const url = `${upstream}${upstream.includes('?') ? '&' : '?'}ms=${ms}`;
  return new Promise((resolve, reject) => {
    const done = measure();
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(done()) : reject(new Error(`upstream said ${res.statusCode}`))));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  // content-length known: headers and body leave in one write, where the span ends
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url || '/', 'http://x');
  const ms = Number(url.searchParams.get('ms') ?? 20);
  if (url.pathname === '/fsync') {
    const fsyncs = Number(url.searchParams.get('fsyncs') ?? 1);
    if (!Number.isInteger(fsyncs) || fsyncs < 1 || fsyncs > 256) return send(res, 400, { error: 'fsyncs out of range' });
    try {
      return send(res, 200, { endpoint: 'fsync', bytes: DATA.length, fsyncs, tid: process.pid, ...fsyncPart(fsyncs) });
    } catch (e) {
      return send(res, 500, { error: String(e) });
    }
  }
  if (url.pathname === '/upstream') {
    if (!upstream) return send(res, 500, { error: 'no upstream URL given' });
    upstreamPart(ms).then(
      (m) => send(res, 200, { endpoint: 'upstream', ms, tid: process.pid, ...m }),
      (e) => send(res, 500, { error: String(e) }),
    );
    return;
  }
  send(res, 404, { error: 'no such endpoint' });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
