/**
 * A throwaway nginx for benchmarks: one static file on 127.0.0.1, keep-alive,
 * no access log, everything (config, pid, logs, temp paths, docroot) in its own
 * temp dir. nginx runs in the foreground (`daemon off`) as the leader of its
 * own process group, so stopping it takes the master and its workers together.
 *
 * Example:
 *   const nginx = await startNginx({ workers: 1, fileBytes: 1024 });
 *   try { await run('wrk', ['-c', '50', nginx.url]); } finally { await nginx.close(); }
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { onInterrupt } from './cleanup';
import { findExecutable } from './system';

export interface NginxOptions {
  /** worker_processes (default 1) */
  workers?: number;
  /** size of the static file served at /index.html (default 1024) */
  fileBytes?: number;
  /** nginx's `sendfile` (default off); Kindling sees sendfile64 too, as a length without payload */
  sendfile?: boolean;
  /** where the temp dir goes (default the OS temp dir) */
  parentDir?: string;
}

export interface Nginx {
  port: number;
  /** http://127.0.0.1:PORT/index.html */
  url: string;
  /** the master's pid (also its process group id) */
  pid: number;
  dir: string;
  /** the worker processes' pids (children of the master) */
  workerPids(): number[];
  /** SIGQUIT (graceful), then SIGKILL to the whole group after 3 s; removes the temp dir */
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function config(dir: string, port: number, o: NginxOptions): string {
  const p = (name: string): string => path.join(dir, name);
  return `daemon off;
master_process on;
worker_processes ${o.workers ?? 1};
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${p('tmp/body')};
  proxy_temp_path ${p('tmp/proxy')};
  fastcgi_temp_path ${p('tmp/fastcgi')};
  uwsgi_temp_path ${p('tmp/uwsgi')};
  scgi_temp_path ${p('tmp/scgi')};
  default_type text/html;
  sendfile ${o.sendfile ? 'on' : 'off'};
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port} reuseport;
    root ${p('www')};
    location / { }
  }
}
`;
}

/** The pids whose parent is `ppid` (from /proc). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // the comm field may hold spaces and parentheses: fields resume after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(d));
    } catch {
      // the process went away meanwhile
    }
  }
  return out;
}

async function waitForPort(port: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why !== undefined) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startNginx(o: NginxOptions = {}): Promise<Nginx> {
  const binary = findExecutable('nginx');
  if (binary === null) throw new Error('nginx is not installed (apt-get install -y nginx)');
  const dir = fs.mkdtempSync(path.join(o.parentDir ?? os.tmpdir(), 'kindling-nginx-'));
  // the workers run as nobody when the master is root: they must be able to read the docroot
  fs.chmodSync(dir, 0o755);
  for (const d of ['www', 'tmp']) fs.mkdirSync(path.join(dir, d), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'www', 'index.html'), 'x'.repeat(Math.max(0, (o.fileBytes ?? 1024) - 1)) + '\n', { mode: 0o644 });
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, config(dir, port, o));

  const child = spawn(binary, ['-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const pid = child.pid ?? -1;
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = `nginx exited (${signal ?? `code ${code ?? '?'}`}): ${stderr.trim()}`;
      resolve();
    });
    child.once('error', (e) => {
      exit = `could not run nginx: ${e.message}`;
      resolve();
    });
  });
  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  // a benchmark that throws past its finally, or is interrupted, must not leave nginx serving
  const killOnExit = (): void => killGroup('SIGKILL');
  process.once('exit', killOnExit);
  const release = onInterrupt(killOnExit);
  const close = async (): Promise<void> => {
    release();
    process.removeListener('exit', killOnExit);
    if (exit === undefined) {
      killGroup('SIGQUIT');
      const timer = setTimeout(() => killGroup('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    // workers outliving the master (a SIGKILL'd master) are in the same group
    killGroup('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 10_000, () => exit);
  } catch (e) {
    await close();
    throw e;
  }
  return { port, url: `http://127.0.0.1:${port}/index.html`, pid, dir, workerPids: () => childPids(pid), close };
}
