/**
 * pipeline-replay: how many HTTP requests one core of the agent's user-space
 * pipeline can turn into telemetry, with no kernel and no network in the way.
 *
 * A capture of real traffic is recorded once (nginx serving a static file to
 * build/programs/http-rate at a fixed rate, under the live capture, written
 * with RecordingWriter), then its batches are fed again and again through the
 * agent's whole pipeline in this process: decodeBatch -> connection table ->
 * HTTP/1 parsing -> request/response pairing -> spans and RED metrics ->
 * SpanBatcher -> a span exporter that either discards (noop) or encodes each
 * batch to OTLP protobuf the way the gRPC exporter does (protobuf), then
 * discards. Reported per CPU second of this process (requests/s per core) and
 * as microseconds per request.
 *
 * A "request" here is one HTTP exchange seen from one side (one span): the
 * capture holds both ends of each request (http-rate's and nginx's), so a
 * request made on this node costs two.
 *
 * Usage: node dist/bench/pipeline-replay.js [--seconds 5] [--record-rate 10000]
 *          [--record-seconds 4] [--capture FILE] [--keep FILE]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { Agent } from '../receiver/src/agent';
import { loadConfig } from '../receiver/src/config/config';
import { decodeBatch } from '../receiver/src/events/decode';
import { EbpfSource } from '../receiver/src/source/ebpf-source';
import { RecordingReader, RecordingWriter } from '../receiver/src/source/recording';
import { artifacts } from '../receiver/src/util/paths';
import { sleep } from './lib/capture';
import { onInterrupt } from './lib/cleanup';
import { startNginx } from './lib/nginx';
import { count, fmt, lostText, rate, table, totalLost } from './lib/report';

export interface ReplayArgs {
  seconds: number;
  recordRate: number;
  recordSeconds: number;
  capture: string | undefined;
  keep: string | undefined;
}

export function parseReplayArgs(argv: string[]): ReplayArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '5' },
      'record-rate': { type: 'string', default: '10000' },
      'record-seconds': { type: 'string', default: '4' },
      capture: { type: 'string' },
      keep: { type: 'string' },
    },
    strict: true,
  });
  const positive = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${v}`);
    return n;
  };
  return {
    seconds: positive('seconds', values.seconds),
    recordRate: Math.round(positive('record-rate', values['record-rate'])),
    recordSeconds: positive('record-seconds', values['record-seconds']),
    capture: values.capture,
    keep: values.keep,
  };
}

// ---- recording ----

/** The recorded processes, kept alive so that a replay resolves their pids as the live agent did. */
interface Recorded {
  release(): Promise<void>;
}

/** Record nginx serving http-rate under the live capture into `file`. */
async function record(a: ReplayArgs, file: string): Promise<Recorded> {
  const program = artifacts.program('http-rate');
  if (!fs.existsSync(program)) throw new Error(`${program} is not built: run npm run build`);
  const nginx = await startNginx({});
  const writer = new RecordingWriter(file, {
    createdAt: new Date().toISOString(),
    host: os.hostname(),
    kernel: os.release(),
    payloadBytes: 512,
    meta: { bench: 'pipeline-replay', load: `http-rate ${a.recordRate} req/s for ${a.recordSeconds} s against nginx` },
  });
  const source = new EbpfSource({});
  let client: ChildProcess | undefined;
  const kill = (): void => void client?.kill('SIGKILL');
  const releaseClient = onInterrupt(kill);
  process.once('exit', kill);
  const release = async (): Promise<void> => {
    if (client && client.exitCode === null && client.signalCode === null) {
      const c = client;
      const exited = new Promise((r) => c.once('exit', r));
      c.stdin?.end();
      const timer = setTimeout(kill, 3000);
      await exited;
      clearTimeout(timer);
    }
    releaseClient();
    process.removeListener('exit', kill);
    await nginx.close();
  };
  const releaseSource = onInterrupt(() => void source.stop());
  try {
    // the raw batch is only borrowed for the callback: the writer copies it to the file at once
    await source.start((b) => writer.write(b.raw, b.events.length));
    // --hold: http-rate prints its result, then stays alive (connections open) until its stdin closes
    const c = spawn(program, [String(nginx.port), '/index.html', String(a.recordRate), String(a.recordSeconds), '--connections', '50', '--warmup', '0', '--hold'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    client = c;
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const line = await new Promise<string>((resolve, reject) => {
      c.once('error', reject);
      c.once('exit', (code) => reject(new Error(`http-rate exited early (${code}): ${out}`)));
      const poll = setInterval(() => {
        if (!out.includes('\n')) return;
        clearInterval(poll);
        resolve(out.trim());
      }, 20);
    });
    c.removeAllListeners('exit');
    await sleep(300); // the last records sit in the ring until the next poll
    const j = JSON.parse(line) as { completed: number; achieved_rate: number };
    const lost = source.stats().lost;
    console.log(
      `  recorded ${count(writer.records)} records in ${count(writer.blocks)} batches (${fmt(writer.bytesWritten / 1048576)} MiB) while http-rate made ${count(j.completed)} requests at ${count(j.achieved_rate)} req/s; lost ${lostText(lost)}`,
    );
    if (totalLost(lost) > 0) console.log('  [!] the capture lost events: some exchanges in it are incomplete (parse errors, expiries)');
    return { release };
  } catch (e) {
    await release();
    throw e;
  } finally {
    releaseSource();
    await source.stop();
    writer.close();
  }
}

function readBatches(file: string): Uint8Array[] {
  const r = new RecordingReader(file);
  const out: Uint8Array[] = [];
  try {
    for (let b = r.next(); b; b = r.next()) out.push(b.raw);
  } finally {
    r.close();
  }
  return out;
}

// ---- the exporters at the end of the pipeline ----

class CountingExporter implements SpanExporter {
  spans = 0;
  bytes = 0;
  constructor(private readonly encode: boolean) {}
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.spans += spans.length;
    if (this.encode) this.bytes += ProtobufTraceSerializer.serializeRequest(spans)?.byteLength ?? 0;
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

// ---- replay ----

interface PassResult {
  exporter: string;
  passes: number;
  events: number;
  exchanges: number;
  spans: number;
  dropped: number;
  cpuSeconds: number;
  wallSeconds: number;
  parseErrors: number;
  expired: number;
  bytes: number;
}

/** One agent, never started: batches go straight into its pipeline, spans through its batcher. */
async function replay(batches: readonly Uint8Array[], seconds: number, encode: boolean): Promise<PassResult> {
  const exporter = new CountingExporter(encode);
  const agent = new Agent(loadConfig({ env: { OTEL_METRICS_EXPORTER: 'none' } }), { spanExporters: [exporter], metricExporters: [], log: () => undefined });
  const batchSize = agent.config.traces.batch.maxBatchSize;
  const pass = async (): Promise<number> => {
    let events = 0;
    for (const raw of batches) {
      const evs = decodeBatch(raw).events;
      events += evs.length;
      agent.pipeline.push(evs);
      // the batcher exports from promise callbacks: let them run before its queue fills
      if (agent.spans.stats.queued >= batchSize) await agent.spans.flush();
    }
    agent.pipeline.flush();
    await agent.spans.flush();
    return events;
  };
  // warm-up: JIT, caches (routes, resources), one pass at least
  const warmUntil = performance.now() + 1000;
  while (performance.now() < warmUntil) await pass();
  const base = { ...agent.httpStats, spans: exporter.spans, bytes: exporter.bytes, dropped: agent.spans.stats.dropped };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let passes = 0;
  let events = 0;
  while (performance.now() - t0 < seconds * 1000) {
    events += await pass();
    passes++;
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const result: PassResult = {
    exporter: '',
    passes,
    events,
    exchanges: agent.httpStats.exchanges - base.exchanges,
    spans: exporter.spans - base.spans,
    dropped: agent.spans.stats.dropped - base.dropped,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds,
    parseErrors: agent.httpStats.parseErrors - base.parseErrors,
    expired: agent.httpStats.expired - base.expired,
    bytes: exporter.bytes - base.bytes,
  };
  await agent.spans.shutdown();
  return result;
}

export async function runPipelineReplay(a: ReplayArgs): Promise<void> {
  const started = Date.now();
  console.log(`pipeline-replay: ${a.seconds} s of replay per exporter${a.capture ? `, capture ${a.capture}` : `, recording http-rate ${count(a.recordRate)} req/s for ${a.recordSeconds} s against nginx`}`);
  let file = a.capture;
  let tmp: string | undefined;
  let recorded: Recorded | undefined;
  if (file === undefined) {
    if (process.getuid?.() !== 0) throw new Error('recording needs root (BPF); or pass --capture FILE');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-replay-'));
    file = a.keep ?? path.join(tmp, 'http.kdcap');
    recorded = await record(a, file);
  } else {
    console.log('  [!] the processes of a capture from elsewhere are gone: every exchange pays for a failed /proc lookup (see "processes gone" below)');
  }
  try {
    const batches = readBatches(file);
    const bytes = batches.reduce((s, b) => s + b.byteLength, 0);
    console.log(`  replaying ${count(batches.length)} batches (${fmt(bytes / 1048576)} MiB) from ${file}`);
    const results: PassResult[] = [];
    const runOne = async (encode: boolean, label: string): Promise<void> => {
      const r = await replay(batches, a.seconds, encode);
      r.exporter = label;
      results.push(r);
      console.log(
        `  ${label}: ${r.passes} passes in ${fmt(r.wallSeconds, 2)} s (${fmt(r.cpuSeconds, 2)} s CPU): ${count(r.events)} events, ${count(r.exchanges)} exchanges, ` +
          `${count(r.spans)} spans exported, ${count(r.dropped)} dropped, ${count(r.parseErrors)} parse errors, ${count(r.expired)} expired${r.bytes ? `, ${fmt(r.bytes / Math.max(r.spans, 1), 0)} bytes/span encoded` : ''}`,
      );
    };
    const alive = recorded ? 'processes alive' : 'processes gone';
    await runOne(false, `noop (discard), ${alive}`);
    await runOne(true, `protobuf (encode, discard), ${alive}`);
    if (recorded) {
      // the same capture once its processes have exited: what replaying an old capture (or a short-lived client) costs
      await recorded.release();
      recorded = undefined;
      await runOne(false, 'noop (discard), processes gone');
    }
    console.log('\npipeline-replay summary (per CPU second of this process = per core)');
    console.log(
      table(
        ['span exporter, recorded processes', 'requests/s per core', 'us per request', 'events/s per core', 'us per event', 'requests/s (wall)'],
        results.map((r) => [
          r.exporter,
          rate(r.exchanges / r.cpuSeconds),
          fmt((1e6 * r.cpuSeconds) / Math.max(r.exchanges, 1), 2),
          rate(r.events / r.cpuSeconds),
          fmt((1e6 * r.cpuSeconds) / Math.max(r.events, 1), 3),
          rate(r.exchanges / r.wallSeconds),
        ]),
      ),
    );
    console.log('  a request = one exchange seen from one side (one span); a request made between two local processes costs two');
  } finally {
    await recorded?.release();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (a.keep && !a.capture) console.log(`  capture kept in ${a.keep}`);
  console.log(`\npipeline-replay took ${fmt((Date.now() - started) / 1000)} s`);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  await runPipelineReplay(parseReplayArgs(argv));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(`pipeline-replay failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
