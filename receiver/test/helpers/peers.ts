/**
 * Real peers for HTTP tests: the Node test server (programs/http-server.js),
 * curl, and a raw-socket client that pipelines (programs/pipelined-client.js).
 * Each runs as its own process, so the kernel sees it as any other program.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { packageRoot } from '../../src/util/paths';

const program = (name: string): string => path.join(packageRoot(), 'receiver', 'test', 'programs', name);

export interface Peer {
  pid: number;
  stdout: string;
  code: number | null;
}

function run(cmd: string, args: string[]): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ pid: child.pid ?? 0, stdout, code });
    });
  });
}

export interface HttpServerPeer {
  port: number;
  pid: number;
  child: ChildProcess;
  close(): Promise<void>;
}

export function startHttpServer(port = 0): Promise<HttpServerPeer> {
  const child = spawn(process.execPath, [program('http-server.js'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (d: Buffer) => {
      resolve({
        port: Number(d.toString().trim()),
        pid: child.pid ?? 0,
        child,
        close: () =>
          new Promise<void>((r) => {
            if (child.exitCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** curl with -s; extra args before the URL */
export function curl(url: string, extra: string[] = []): Promise<Peer> {
  return run('curl', ['-s', '--max-time', '10', ...extra, url]);
}

export function pipelined(port: number, paths: string[]): Promise<Peer> {
  return run(process.execPath, [program('pipelined-client.js'), String(port), ...paths]);
}
