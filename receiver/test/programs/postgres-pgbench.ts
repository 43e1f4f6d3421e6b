/**
 * pgbench (PostgreSQL's benchmark client) run to its end against 127.0.0.1, its
 * summary read back, and, at a fixed rate (-R), each transaction's latency from
 * its per-transaction log (-l), counted from its scheduled start (the log's
 * schedule lag added), so a slow server is not hidden by a client that waits.
 *
 * Example:
 *   const r = await pgbench({ port, mode: 'prepared', clients: 2, threads: 1, seconds: 5, rate: 500, logDir });
 *   r.transactions; r.p99Ms;
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type PgbenchMode = 'simple' | 'prepared';

export interface PgbenchOptions {
  port: number;
  mode: PgbenchMode;
  clients: number;
  threads: number;
  seconds: number;
  /** transactions per second (-R), with per-transaction latencies; none: as fast as it can */
  rate?: number | undefined;
  /** a directory for the per-transaction logs (emptied first) */
  logDir: string;
}

export interface Pgbench {
  pid: number;
  transactions: number;
  tps: number;
  avgMs: number;
  /** from the per-transaction log (NaN without a rate) */
  p50Ms: number;
  p99Ms: number;
  failed: string;
}

const pct = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Runs pgbench without vacuum (-n) on the default TPC-B-like script; rejects unless it exits 0. */
export async function pgbench(o: PgbenchOptions): Promise<Pgbench> {
  fs.rmSync(o.logDir, { recursive: true, force: true });
  fs.mkdirSync(o.logDir, { recursive: true });
  const args = ['-h', '127.0.0.1', '-p', String(o.port), '-U', 'postgres', '-n', '-M', o.mode, '-c', String(o.clients), '-j', String(o.threads), '-T', String(o.seconds)];
  if (o.rate !== undefined) args.push('-R', String(o.rate), '-l', '--log-prefix', path.join(o.logDir, 'tx'));
  const child = spawn('pgbench', [...args, 'postgres'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-10_000)));
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', resolve);
    child.once('error', (e) => ((err += String(e)), resolve(-1)));
  });
  if (code !== 0) throw new Error(`pgbench ${args.join(' ')} failed (${code}): ${err}`);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  // each log line: client_id transaction_no latency_us script_no epoch epoch_us [schedule_lag_us]
  const lat: number[] = [];
  for (const f of o.rate === undefined ? [] : fs.readdirSync(o.logDir)) {
    for (const x of fs.readFileSync(path.join(o.logDir, f), 'utf8').split('\n').map((l) => l.split(' '))) {
      const ms = (Number(x[2]) + Number(x[6] ?? 0)) / 1000;
      if (x.length >= 6 && Number.isFinite(ms)) lat.push(ms);
    }
  }
  lat.sort((a, b) => a - b);
  return {
    pid: child.pid ?? 0,
    transactions: num(/number of transactions actually processed: (\d+)/),
    tps: num(/tps = ([\d.]+)/),
    avgMs: num(/latency average = ([\d.]+) ms/),
    p50Ms: pct(lat, 0.5),
    p99Ms: pct(lat, 0.99),
    failed: /number of failed transactions: (\d+)/.exec(out)?.[1] ?? '0',
  };
}
