// postgres-client: a raw PostgreSQL protocol 3.0 client over TCP (trust
// authentication only) for tests, run as its own process so the agent sees it.
// Each step is one write of whole messages; the client then reads until as many
// ReadyForQuery as the step's Sync/Query messages ask for (or until the server
// closes, for a cancel request).
//
// usage: node postgres-client.js PORT SCENARIO [USER] [DATABASE]
//   scenarios: extended, errors, copy, cancel, garbage, pipeline N, bigrows N
// Prints one JSON line: {"pid":..,"steps":[{"sent":"PBDES","got":"12TDCZ"},...]}
// where "got" lists the type bytes of the messages the server answered with.
'use strict';
const net = require('node:net');

const [port, scenario, user = 'postgres', database = 'postgres', arg] = process.argv.slice(2);

// ---- message builders (protocol-message-formats.html) ----
const cstr = (s) => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
const i16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const i32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const msg = (type, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type, 'latin1'), i32(body.length + 4), body]);
};
const startup = (params) => {
  const body = Buffer.concat([i32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([i32(body.length + 4), body]);
};
const Q = (sql) => msg('Q', cstr(sql));
const P = (name, sql, types = []) => msg('P', cstr(name), cstr(sql), i16(types.length), ...types.map(i32));
const B = (portal, stmt, params = []) =>
  msg('B', cstr(portal), cstr(stmt), i16(0), i16(params.length), ...params.flatMap((p) => (p === null ? [i32(-1)] : [i32(Buffer.byteLength(p)), Buffer.from(p)])), i16(0));
const D = (kind, name) => msg('D', Buffer.from(kind), cstr(name));
const E = (portal, maxRows = 0) => msg('E', cstr(portal), i32(maxRows));
const C = (kind, name) => msg('C', Buffer.from(kind), cstr(name));
const S = () => msg('S');
const X = () => msg('X');
const d = (data) => msg('d', Buffer.from(data));
const c = () => msg('c');

// ---- scenarios: lists of steps, each [buffers, ReadyForQuery count to wait for (0: CopyInResponse)] ----
function scenarios(name) {
  switch (name) {
    case 'extended':
      return [
        // unnamed statement, unnamed portal
        [[P('', 'SELECT $1::int + 1 AS n'), B('', '', ['41']), D('P', ''), E(''), S()], 1],
        // a named statement, prepared alone: not an operation
        [[P('s_named', 'SELECT relname FROM pg_class WHERE relkind = $1 ORDER BY oid LIMIT 3'), S()], 1],
        // two Executes of it in one batch
        [[B('', 's_named', ['r']), E(''), B('', 's_named', ['i']), E(''), S()], 1],
        // a named portal run in two steps: PortalSuspended, then the rest
        [[B('p1', 's_named', ['r']), E('p1', 2), E('p1', 0), S()], 1],
        // describe and close the statement: no operations
        [[D('S', 's_named'), S()], 1],
        [[C('S', 's_named'), S()], 1],
        // a simple query on the same connection
        [[Q('SELECT 7 AS seven')], 1],
      ];
    case 'errors':
      return [
        [[Q('SELECT * FROM no_such_table')], 1],
        // the second of three statements fails: the third never runs
        [[Q('SELECT 1; SELECT 1/0; SELECT 3')], 1],
        [[P('div', 'SELECT 10 / $1::int AS q'), S()], 1],
        // three Executes in one batch, the second fails: the third is skipped and fails with it
        [[B('', 'div', ['2']), E(''), B('', 'div', ['0']), E(''), B('', 'div', ['5']), E(''), S()], 1],
        // a syntax error at Parse fails the Execute of its batch
        [[P('', 'SELEC 1'), B('', ''), E(''), S()], 1],
        // an unknown statement fails at Bind
        [[B('', 'no_such_statement'), E(''), S()], 1],
        [[Q('SELECT 2 AS fine')], 1],
      ];
    case 'copy':
      return [
        [[Q('CREATE TEMP TABLE copy_t (a int, b text)')], 1],
        [[Q('COPY copy_t FROM STDIN')], 0],
        [[d('1\tone\n'), d('2\ttwo\n'), d('3\tthree\n'), c()], 1],
        [[Q('COPY copy_t TO STDOUT')], 1],
      ];
    case 'pipeline': {
      // N simple selects, each its own round trip, then N Bind/Execute/Sync of one prepared statement
      const n = Number(arg ?? 10);
      const steps = [];
      for (let i = 0; i < n; i++) steps.push([[Q(`SELECT ${i} AS i`)], 1]);
      steps.push([[P('pl', 'SELECT $1::int AS v'), S()], 1]);
      for (let i = 0; i < n; i++) steps.push([[B('', 'pl', [String(i)]), E(''), S()], 1]);
      return steps;
    }
    case 'bigrows':
      return [[[Q(`SELECT generate_series(1, ${Number(arg ?? 100000)})`)], 1]];
    default:
      throw new Error(`unknown scenario ${name}`);
  }
}

function main() {
  const sock = net.connect(Number(port), '127.0.0.1');
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let waiting = null;
  const steps = [];
  const got = [];
  let closed = false;
  const finish = () => {
    process.stdout.write(`${JSON.stringify({ pid: process.pid, steps })}\n`);
    process.exit(0);
  };
  sock.on('close', () => {
    closed = true;
    if (waiting) waiting();
  });
  sock.on('error', (e) => {
    process.stderr.write(`postgres-client: ${e.message}\n`);
    process.exit(1);
  });
  let zs = 0;
  sock.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 5) {
      const len = buf.readInt32BE(1);
      if (buf.length < 1 + len) break;
      const type = String.fromCharCode(buf[0]);
      got.push(type);
      if (type === 'Z') zs++;
      buf = buf.subarray(1 + len);
    }
    if (waiting) waiting();
  });
  const until = (cond) =>
    new Promise((resolve) => {
      const check = () => {
        if (cond() || closed) {
          waiting = null;
          resolve();
        }
      };
      waiting = check;
      check();
    });
  const waitZ = (n) => until(() => zs >= n);
  sock.once('connect', async () => {
    if (scenario === 'cancel') {
      sock.write(Buffer.concat([i32(16), i32(80877102), i32(12345), i32(67890)]));
      await waitZ(1);
      return finish();
    }
    if (scenario === 'garbage') {
      // protocol-shaped garbage: a valid startup, then messages with impossible lengths and unknown types
      sock.write(startup({ user, database }));
      await waitZ(1);
      sock.write(Buffer.concat([Buffer.from('Q\x00\x00\x00\x02', 'latin1'), Buffer.from('\xff\xfe\x00\x01garbage', 'latin1')]));
      await new Promise((r) => setTimeout(r, 200));
      sock.end();
      await waitZ(99);
      return finish();
    }
    sock.write(startup({ user, database, application_name: 'kindling-test' }));
    await waitZ(1);
    for (const [parts, zWanted] of scenarios(scenario)) {
      const before = got.length;
      const z0 = zs;
      sock.write(Buffer.concat(parts));
      // 0: a COPY FROM STDIN, answered by CopyInResponse
      await (zWanted === 0 ? until(() => got.slice(before).includes('G')) : waitZ(z0 + zWanted));
      steps.push({ sent: parts.map((p) => String.fromCharCode(p[0])).join(''), got: got.slice(before).join('') });
    }
    sock.write(X());
    sock.end();
    finish();
  });
}

main();
