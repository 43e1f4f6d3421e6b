/**
 * A real MariaDB server for the MySQL tests (PEERS.md): a fresh datadir in a
 * temporary directory owned by user mysql, mariadbd in the foreground as our
 * child on 127.0.0.1 and a free port, a unix socket in the same directory for
 * set-up (unix sockets are not captured), stopped by its pid.
 *
 * Example:
 *   const db = await startMariadb();
 *   await db.sql('CREATE TABLE kdb.t (id INT)');           // over the unix socket, as root
 *   // clients connect over TCP: 127.0.0.1:db.port, user db.user / db.password, schema db.database
 *   await db.close();
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../helpers/ports';

export interface Mariadb {
  pid: number;
  port: number;
  dir: string;
  socket: string;
  user: string;
  password: string;
  database: string;
  /** runs SQL as root over the unix socket (not captured); resolves with the CLI's stdout */
  sql(text: string): Promise<string>;
  close(): Promise<void>;
}

export const MARIADB_USER = 'kindling';
export const MARIADB_PASSWORD = 'kindling-pw';
export const MARIADB_DATABASE = 'kdb';

export function mariadbAvailable(): string | undefined {
  for (const bin of ['/usr/sbin/mariadbd', '/usr/bin/mariadb-install-db', '/usr/bin/mariadb']) {
    if (!fs.existsSync(bin)) return `${bin} missing (apt-get install -y --no-install-recommends mariadb-server mariadb-client)`;
  }
  return undefined;
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(err)}\n${stderr}`));
      else resolve(stdout);
    });
  });
}


function waitForPort(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) return reject(new Error(`mariadbd exited ${child.exitCode}`));
      const s = net.connect({ host: '127.0.0.1', port });
      // the server speaks first: a greeting means it is ready
      s.once('data', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`mariadbd did not listen on ${port}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export async function startMariadb(): Promise<Mariadb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-mariadb-'));
  fs.chmodSync(dir, 0o755);
  await run('chown', ['mysql:mysql', dir]);
  const datadir = path.join(dir, 'data');
  await run('mariadb-install-db', ['--no-defaults', '--user=mysql', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db']);
  const port = await freePort();
  const socket = path.join(dir, 's.sock');
  const child = spawn(
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      '--user=mysql',
      `--datadir=${datadir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'mariadbd.pid')}`,
      `--log-error=${path.join(dir, 'error.log')}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=32M',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        fs.rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        done();
      });
      child.kill('SIGTERM');
    });
  try {
    await waitForPort(port, child, 30_000);
    const sql = (text: string): Promise<string> => run('mariadb', ['--no-defaults', `--socket=${socket}`, '-u', 'root', '--batch', '-e', text]);
    await sql(
      `CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}'; GRANT ALL ON *.* TO '${MARIADB_USER}'@'%';` +
        `CREATE USER '${MARIADB_USER}'@'localhost' IDENTIFIED BY '${MARIADB_PASSWORD}'; GRANT ALL ON *.* TO '${MARIADB_USER}'@'localhost';` +
        `CREATE DATABASE ${MARIADB_DATABASE};`,
    );
    return { pid: child.pid ?? 0, port, dir, socket, user: MARIADB_USER, password: MARIADB_PASSWORD, database: MARIADB_DATABASE, sql, close };
  } catch (e) {
    await close();
    throw e;
  }
}
