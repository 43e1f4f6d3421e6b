/**
 * A real Prometheus server (Debian's `prometheus` package, /usr/bin/prometheus) for
 * tests: it scrapes the given targets and answers PromQL over its HTTP API.
 * Each instance gets its own temp dir (config + TSDB) and its own free loopback port,
 * so a system instance on :9090 (the package's systemd unit) never interferes.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './ports';

export interface PrometheusOptions {
  /** host:port pairs scraped at /metrics, e.g. ['127.0.0.1:9464']. */
  targets: string[];
  /** Default 1. */
  scrapeIntervalSeconds?: number;
  /** Default 'kindling'. */
  jobName?: string;
  /** Default 'prometheus' from PATH, or $KINDLING_PROMETHEUS_BIN. */
  binary?: string;
  /** How long to wait for /-/ready; default 30000. */
  readyTimeoutMs?: number;
}

/** One element of an instant-query result; `value` is the sample parsed as a number (NaN, ±Inf included). */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
  /** Unix seconds. */
  timestamp: number;
}

export interface PromTarget {
  scrapeUrl: string;
  /** 'up' | 'down' | 'unknown' (not scraped yet). */
  health: string;
  lastError: string;
  labels: Record<string, string>;
}

/**
 * A running Prometheus.
 *
 * @example
 *   const prom = await startPrometheus({ targets: ['127.0.0.1:9464'], scrapeIntervalSeconds: 1 });
 *   try {
 *     const [s] = await prom.waitForQuery('x_total', (r) => r.length > 0, 15_000);
 *     assert.equal(s?.value, 3);
 *   } finally {
 *     await prom.close();
 *   }
 */
export interface Prometheus {
  /** 'http://127.0.0.1:PORT'. */
  readonly url: string;
  readonly pid: number;
  /** An instant query (/api/v1/query) at now; a scalar becomes one sample with no labels. */
  query(promql: string): Promise<PromSample[]>;
  /** Repeats query() until predicate holds (resolves with that result); rejects after timeoutMs (default 15000) with the last result. */
  waitForQuery(promql: string, predicate: (result: PromSample[]) => boolean, timeoutMs?: number): Promise<PromSample[]>;
  /** The active targets and their scrape health (/api/v1/targets). */
  targets(): Promise<PromTarget[]>;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its temp dir. */
  close(): Promise<void>;
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function configYaml(o: PrometheusOptions): string {
  const every = `${o.scrapeIntervalSeconds ?? 1}s`;
  // JSON is valid YAML: no hand-quoting of target strings
  const targets = JSON.stringify(o.targets);
  return [
    'global:',
    `  scrape_interval: ${every}`,
    `  scrape_timeout: ${every}`,
    `  evaluation_interval: ${every}`,
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(o.jobName ?? 'kindling')}`,
    '    static_configs:',
    `      - targets: ${targets}`,
    '',
  ].join('\n');
}

async function api<T>(base: string, pathAndQuery: string): Promise<T> {
  const res = await fetch(base + pathAndQuery);
  const body = (await res.json()) as { status?: string; data?: T; error?: string };
  if (body.status !== 'success' || body.data === undefined) {
    throw new Error(`prometheus ${pathAndQuery}: HTTP ${res.status} ${body.error ?? JSON.stringify(body)}`);
  }
  return body.data;
}

interface QueryData {
  resultType: 'vector' | 'scalar' | 'matrix' | 'string';
  result: unknown;
}

function toSamples(promql: string, data: QueryData): PromSample[] {
  const sample = (metric: Record<string, string>, v: unknown): PromSample => {
    const [ts, val] = v as [number, string];
    return { metric, value: Number(val), timestamp: ts };
  };
  if (data.resultType === 'vector') {
    return (data.result as { metric: Record<string, string>; value: unknown }[]).map((r) => sample(r.metric, r.value));
  }
  if (data.resultType === 'scalar') return [sample({}, data.result)];
  throw new Error(`query ${promql} returned a ${data.resultType}; only instant vectors and scalars are supported`);
}

/** Starts Prometheus once it answers /-/ready; throws with its log tail when it exits or stalls. */
export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  if (options.targets.length === 0) throw new Error('startPrometheus: give at least one target');
  const binary = options.binary ?? process.env['KINDLING_PROMETHEUS_BIN'] ?? 'prometheus';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-prom-'));
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(config, configYaml(options));
  try {
    // another process may take the port between freePort() and bind: try a few
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await launch(binary, dir, config, await freePort(), options.readyTimeoutMs ?? 30_000);
      } catch (err) {
        lastError = err as Error;
        if (!/address already in use/.test(lastError.message)) break;
      }
    }
    throw lastError ?? new Error('prometheus did not start');
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(binary: string, dir: string, config: string, port: number, readyTimeoutMs: number): Promise<Prometheus> {
  const url = `http://127.0.0.1:${port}`;
  const tsdb = path.join(dir, `data-${port}`);
  const child: ChildProcess = spawn(
    binary,
    [`--config.file=${config}`, `--storage.tsdb.path=${tsdb}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-4_000);
  });
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited (${signal ?? `code ${code ?? '?'}`})`;
      resolve();
    });
    child.once('error', (err) => {
      exited = `could not run '${binary}': ${err.message} (apt-get install -y prometheus)`;
      resolve();
    });
  });
  // last resort if the test process dies without close(): never leave a server behind
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== undefined) {
      await stop();
      throw new Error(`prometheus ${exited} before it was ready:\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready on ${url} after ${readyTimeoutMs} ms:\n${log}`);
    }
    await sleep(100);
  }

  const prom: Prometheus = {
    url,
    pid: child.pid ?? -1,
    query: async (promql) => toSamples(promql, await api<QueryData>(url, `/api/v1/query?query=${encodeURIComponent(promql)}`)),
    waitForQuery: async (promql, predicate, timeoutMs = 15_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const result = await prom.query(promql);
        if (predicate(result)) return result;
        if (Date.now() > until) {
          const targets = await prom.targets().catch(() => []);
          throw new Error(
            `timed out after ${timeoutMs} ms waiting on ${promql}; last result ${JSON.stringify(result)}; targets ${JSON.stringify(targets)}`,
          );
        }
        await sleep(200);
      }
    },
    targets: async () => {
      const data = await api<{ activeTargets: PromTarget[] }>(url, '/api/v1/targets?state=active');
      return data.activeTargets.map((t) => ({ scrapeUrl: t.scrapeUrl, health: t.health, lastError: t.lastError, labels: t.labels }));
    },
    close: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return prom;
}
