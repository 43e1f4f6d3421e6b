/**
 * A throwaway PostgreSQL 15 cluster for tests and benchmarks (PEERS.md): initdb
 * as user postgres in a temporary directory, the server in the foreground as a
 * child we own (stopped by its pid), TCP on 127.0.0.1 and a Unix socket in that
 * directory. Optionally roles with md5 and SCRAM passwords, and a self-signed
 * certificate so that SSL can be switched on at run time.
 *
 * Example:
 *   const pg = await startPostgres({ passwords: true, sslCert: true });
 *   await pg.sql('CREATE TABLE t (a int)');      // over the Unix socket: never captured
 *   await pg.setSsl(true);
 *   await pg.close();
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../helpers/ports';
export { freePort };

/** the newest installed server's binaries (Debian installs them per major version) */
export const PG_BIN = ((): string => {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(root, versions[0] ?? '15', 'bin');
})();

export const PASSWORDS = { md5user: 'md5-secret', scramuser: 'scram-secret' } as const;

export interface PgOptions {
  /** roles md5user and scramuser, required to log in with md5 / scram-sha-256 over TCP */
  passwords?: boolean;
  /** a self-signed certificate (ssl stays off until setSsl(true)) */
  sslCert?: boolean;
  /** extra postgresql.conf lines */
  conf?: string[];
}

export interface PgCluster {
  port: number;
  dir: string;
  pid: number;
  /** psql over the Unix socket (not captured: the agent sees only TCP and UDP): stdout */
  sql(statement: string): Promise<string>;
  setSsl(on: boolean): Promise<void>;
  close(): Promise<void>;
}

function postgresUser(): { uid: number; gid: number } {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const f = line?.split(':');
  if (!f) throw new Error('no postgres user: apt-get install -y postgresql');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}


function chownTree(p: string, uid: number, gid: number): void {
  fs.chownSync(p, uid, gid);
  if (fs.statSync(p).isDirectory()) for (const f of fs.readdirSync(p)) chownTree(path.join(p, f), uid, gid);
}

export interface CmdResult {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

export function run(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; input?: string; asPostgres?: boolean } = {}): Promise<CmdResult> {
  const ids = o.asPostgres ? postgresUser() : undefined;
  const child = spawn(cmd, args, { env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], ...(ids ?? {}) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(o.input ?? '');
  return new Promise((resolve) => {
    child.once('error', (e) => resolve({ code: -1, stdout, stderr: stderr + String(e), pid: child.pid ?? 0 }));
    child.once('exit', (code) => resolve({ code, stdout, stderr, pid: child.pid ?? 0 }));
  });
}

export async function startPostgres(o: PgOptions = {}): Promise<PgCluster> {
  const ids = postgresUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-pg-'));
  fs.chownSync(dir, ids.uid, ids.gid);
  const data = path.join(dir, 'data');
  const init = await run(path.join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'], { asPostgres: true });
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const conf = ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off', ...(o.conf ?? [])];
  if (o.sslCert) {
    execFileSync('openssl', ['req', '-new', '-x509', '-days', '2', '-nodes', '-subj', '/CN=127.0.0.1', '-newkey', 'rsa:2048', '-keyout', path.join(data, 'server.key'), '-out', path.join(data, 'server.crt')], { stdio: 'ignore' });
    fs.chmodSync(path.join(data, 'server.key'), 0o600);
    chownTree(data, ids.uid, ids.gid);
    conf.push("ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'");
  }
  fs.appendFileSync(path.join(data, 'postgresql.conf'), `\n${conf.join('\n')}\n`);
  if (o.passwords) {
    const hba = path.join(data, 'pg_hba.conf');
    const lines = ['host all md5user 127.0.0.1/32 md5', 'host all scramuser 127.0.0.1/32 scram-sha-256'];
    fs.writeFileSync(hba, `${lines.join('\n')}\n${fs.readFileSync(hba, 'utf8')}`);
  }
  const port = await freePort();
  const child: ChildProcess = spawn(path.join(PG_BIN, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...ids,
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const psqlArgs = ['-X', '-q', '-A', '-t', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1'];
  const sql = async (statement: string): Promise<string> => {
    const r = await run('psql', [...psqlArgs, '-c', statement]);
    if (r.code !== 0) throw new Error(`psql -c ${statement}: ${r.stderr}`);
    return r.stdout;
  };
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    while (!/ready to accept connections/.test(log)) {
      if (child.exitCode !== null) throw new Error(`postgres exited: ${log}`);
      if (Date.now() > deadline) throw new Error(`postgres did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (o.passwords) {
      await sql(`SET password_encryption = 'md5'; CREATE ROLE md5user LOGIN PASSWORD '${PASSWORDS.md5user}'`);
      await sql(`SET password_encryption = 'scram-sha-256'; CREATE ROLE scramuser LOGIN PASSWORD '${PASSWORDS.scramuser}'`);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return {
    port,
    dir,
    pid: child.pid ?? 0,
    sql,
    setSsl: async (on) => {
      await sql(`ALTER SYSTEM SET ssl = ${on ? 'on' : 'off'}`);
      await sql('SELECT pg_reload_conf()');
      // the postmaster rereads its configuration asynchronously
      for (let i = 0; i < 100 && (await sql('SHOW ssl')).trim() !== (on ? 'on' : 'off'); i++) await new Promise((r) => setTimeout(r, 50));
    },
    close,
  };
}

/** psql over TCP to 127.0.0.1 (captured), with a libpq connection string. */
export function psqlTcp(port: number, conninfo: string, args: string[], input?: string): Promise<CmdResult> {
  return run('psql', ['-X', '-A', '-t', `host=127.0.0.1 port=${port} dbname=postgres ${conninfo}`, ...args], { ...(input !== undefined ? { input } : {}), env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
}
