// The `kindling` command as users run it: a child process, its output and exit code.
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../src/util/paths';
import { kernelTest } from '../helpers/kernel';
import { RecordingReader, RecordingWriter } from '../../src/source/recording';
import { curl, startHttpServer } from '../helpers/peers';

const BIN = (): string => path.join(packageRoot(), 'bin', 'kindling.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI, optionally under a wrapper (setpriv, unshare). */
function kindling(args: string[], wrapper: string[] = [], timeoutMs = 30_000): Promise<Run> {
  const cmd = [...wrapper, process.execPath, BIN(), ...args];
  return new Promise((resolve) => {
    execFile(cmd[0]!, cmd.slice(1), { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

// root with every capability dropped: the same files, no eBPF privileges
const UNPRIVILEGED = ['setpriv', '--bounding-set', '-all', '--inh-caps', '-all', '--'];

function noStackTrace(r: Run): void {
  assert.doesNotMatch(r.stdout + r.stderr, /^\s+at .+\(.+:\d+:\d+\)$/m, 'no stack trace');
}

test('bad options get one clear line and exit 2', async () => {
  const r = await kindling(['capture', '--payload-bytes', '300']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--payload-bytes must be an integer from 16 to 4096|payloadBytes must be a power of two/);
  const u = await kindling(['frobnicate']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown command "frobnicate"/);
  noStackTrace(u);
});

test('a corrupt capture file names the byte offset, without a stack trace', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-cli-'));
  // two copies of the fixture's batches, the second cut short
  const reader = new RecordingReader(path.join(packageRoot(), 'receiver', 'test', 'fixtures', 'traffic.kdcap'));
  const blocks = [];
  for (let b = reader.next(); b; b = reader.next()) blocks.push(b);
  reader.close();
  const two = path.join(dir, 'two.kdcap');
  const w = new RecordingWriter(two, { createdAt: 'now', host: 'h', kernel: 'k', payloadBytes: 512 });
  for (const b of [...blocks, ...blocks]) w.write(b.raw, b.records);
  w.close();
  const bad = path.join(dir, 'bad.kdcap');
  const full = fs.readFileSync(two);
  fs.writeFileSync(bad, full.subarray(0, full.length - 3000));
  const r = await kindling(['capture', '--replay', bad, '--json']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /corrupt capture file .*bad\.kdcap at byte offset \d+: file ends inside a block/);
  assert.match(r.stderr, /KINDLING_ERR_CAPTURE_FORMAT/);
  assert.ok(r.stdout.split('\n').filter(Boolean).length > 0, 'the sound part was printed before the error');
  noStackTrace(r);
});

test('replay prints JSON lines with the payload in base64', async () => {
  const src = path.join(packageRoot(), 'receiver', 'test', 'fixtures', 'traffic.kdcap');
  const r = await kindling(['capture', '--replay', src, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 128);
  const req = lines.find((l) => l['syscall'] === 'write' && Buffer.from(String(l['payload']), 'base64').toString().startsWith('GET /hello'));
  assert.ok(req, 'a request line with its payload');
  assert.match(r.stderr, /events: 128/);
});

kernelTest('check as root: every hook attached, exit 0', async () => {
  const r = await kindling(['check']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const hook of ['read', 'write', 'readv', 'writev', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'connect', 'accept', 'accept4', 'close', 'inet_sock_set_state', 'process_exec', 'process_exit']) {
    assert.match(r.stdout, new RegExp(`^  ${hook}\\s+attached`, 'm'), hook);
  }
  assert.match(r.stdout, /BTF\s+ok/);
  assert.match(r.stdout, /capture works/);
});

kernelTest('without privileges: check says what is missing and exits 1; capture exits 2; no stack traces', async () => {
  const c = await kindling(['check'], UNPRIVILEGED);
  assert.equal(c.code, 1, c.stdout + c.stderr);
  assert.match(c.stdout, /capabilities\s+FAIL\s+missing CAP_BPF and CAP_PERFMON/);
  assert.match(c.stdout, /capture cannot work/);
  noStackTrace(c);
  const r = await kindling(['capture', '--duration', '1'], UNPRIVILEGED);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /eBPF capture needs privileges: missing CAP_BPF and CAP_PERFMON .*\[KINDLING_ERR_PERMISSION\]/);
  noStackTrace(r);
});

kernelTest('without kernel BTF: check and capture say so', async () => {
  // a private mount namespace where the BTF file is empty, as on a kernel built without it
  const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-btf-')), 'vmlinux');
  fs.writeFileSync(empty, '');
  const wrap = ['unshare', '-m', '--', 'sh', '-c', `mount --bind ${empty} /sys/kernel/btf/vmlinux && exec "$@"`, 'sh'];
  const c = await kindling(['check'], wrap);
  assert.equal(c.code, 1, c.stdout + c.stderr);
  assert.match(c.stdout, /BTF\s+FAIL\s+\/sys\/kernel\/btf\/vmlinux is empty/);
  noStackTrace(c);
  const r = await kindling(['capture', '--duration', '1'], wrap);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /eBPF capture needs kernel BTF.*\[KINDLING_ERR_NO_BTF\]/);
  noStackTrace(r);
});

/** Start `kindling capture`, wait until it is capturing, run `during`, then wait for it to end. */
async function captureDuring(args: string[], during: () => Promise<void>): Promise<Run> {
  const child = spawn(process.execPath, [BIN(), 'capture', ...args], { stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/capturing/.test(stderr)) resolve();
    });
    child.once('exit', () => reject(new Error(`capture exited early: ${stderr}`)));
  });
  await ready;
  await during();
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, stdout, stderr };
}

kernelTest('capture shows both sides of curl against a local server, with the right pids and payloads', async () => {
  const server = spawn(process.execPath, ['-e', "require('http').createServer((q,s)=>s.end('hello from the test server')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"]);
  const port = await new Promise<number>((r) => server.stdout.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-cap-'));
  const record = path.join(dir, 'curl.kdcap');
  let curlPid = 0;
  try {
    const r = await captureDuring(['--json', '--port', String(port), '--duration', '2', '--record', record], async () => {
      const curl = spawn('curl', ['-s', `http://127.0.0.1:${port}/hello`]);
      curlPid = curl.pid ?? 0;
      await new Promise((res) => curl.once('exit', res));
    });
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const text = (e: Record<string, unknown>): string => Buffer.from(String(e['payload']), 'base64').toString();
    const curlSide = events.filter((e) => e['pid'] === curlPid);
    const serverSide = events.filter((e) => e['pid'] === server.pid);
    assert.ok(curlSide.some((e) => e['direction'] === 'egress' && text(e).startsWith('GET /hello HTTP/1.1\r\n') && e['comm'] === 'curl'), 'curl sends the request');
    assert.ok(curlSide.some((e) => e['direction'] === 'ingress' && text(e).startsWith('HTTP/1.1 200 OK') && text(e).endsWith('hello from the test server')), 'curl receives the response');
    assert.ok(serverSide.some((e) => e['direction'] === 'ingress' && text(e).startsWith('GET /hello HTTP/1.1')), 'the server reads the request');
    assert.ok(serverSide.some((e) => e['direction'] === 'egress' && text(e).includes('hello from the test server')), 'the server writes the response');
    assert.ok(curlSide.some((e) => e['syscall'] === 'connect' && e['remotePort'] === port));
    assert.ok(serverSide.some((e) => e['syscall'] === 'accept4' || e['syscall'] === 'accept'));
    assert.match(r.stderr, /events: \d+/);
    assert.match(r.stderr, /lost: 0/);

    // the recording replays to the same lines (the wall-clock rendering aside)
    const replay = await kindling(['capture', '--replay', record, '--json', '--port', String(port)]);
    assert.equal(replay.code, 0, replay.stderr);
    const strip = (s: string): unknown[] => s.split('\n').filter(Boolean).map((l) => ({ ...(JSON.parse(l) as object), time: undefined }));
    assert.deepEqual(strip(replay.stdout), strip(r.stdout));
  } finally {
    server.kill();
  }
});

kernelTest('the table view shows one readable line per event', async () => {
  const server = spawn(process.execPath, ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"]);
  const port = await new Promise<number>((r) => server.stdout.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  try {
    const r = await captureDuring(['--port', String(port), '--duration', '1.5'], async () => {
      const curl = spawn('curl', ['-s', `http://127.0.0.1:${port}/t`]);
      await new Promise((res) => curl.once('exit', res));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`curl \\d+/\\d+ sendto fd=\\d+ tcp4 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port} egress len=\\d+ ret=\\d+ off=0 [\\d.]+us "GET /t HTTP/1\\.1\\\\r\\\\n`));
    assert.match(r.stderr, /hook\s+emitted\s+lost/);
  } finally {
    server.kill();
  }
});

kernelTest('run with no configuration: spans on the console, Prometheus on :9464', async () => {
  const server = await startHttpServer();
  const child = spawn(process.execPath, [BIN(), 'run'], { stdio: 'pipe', env: { PATH: process.env['PATH'] ?? '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`agent did not start: ${stderr}`)), 15_000);
      child.stderr.on('data', () => {
        if (/metrics -> prometheus/.test(stderr)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    assert.match(stderr, /traces -> console; metrics -> prometheus http:\/\/0\.0\.0\.0:9464\/metrics/);
    await curl(`http://127.0.0.1:${server.port}/users/7?x=1`);
    const deadline = Date.now() + 10_000;
    while (!/SERVER node "GET \/users\/\{id\}"/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(stdout, /SERVER node "GET \/users\/\{id\}" [\d.]+ms trace=[0-9a-f]{32} span=[0-9a-f]{16} parent=[0-9a-f]{16} http\.request\.method="GET" http\.response\.status_code=200/);
    assert.match(stdout, /CLIENT curl "GET" /);
    const metrics = await (await fetch('http://127.0.0.1:9464/metrics')).text();
    assert.match(metrics, new RegExp(`http_server_request_duration_seconds_count\\{[^}]*http_route="/users/\\{id\\}"[^}]*job="node"[^}]*\\} 1`));
    assert.match(metrics, /kindling_source_events_total\{job="kindling"/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await server.close();
  }
  assert.match(stderr, /http: \d+ requests, \d+ paired/);
});

kernelTest('Ctrl-C while the programs load: the agent finishes starting, then stops cleanly (exit 0, summary printed)', async () => {
  const child = spawn(process.execPath, [BIN(), 'run'], {
    stdio: 'pipe',
    env: { PATH: process.env['PATH'] ?? '', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', KINDLING_KUBERNETES: 'off' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // the identity line comes before the BPF load, the start line after it: interrupt in between
  const deadline = Date.now() + 15_000;
  while (!/^identity:/m.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.doesNotMatch(stderr, /kindling [\d.]+: source/, 'interrupted before the programs were loaded');
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /kindling [\d.]+: source ebpf/);
  assert.match(stderr, /http: \d+ requests, \d+ paired/);
});
