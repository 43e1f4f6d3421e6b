/**
 * `kindling run`: the agent. With no configuration it prints spans to the
 * console and serves Prometheus on :9464; a YAML file (--config) and the
 * OTEL_* environment variables point it at a Collector.
 */
import { Agent } from '../agent';
import { loadConfig } from '../config/config';
import { ReplaySource } from '../source/replay-source';
import { summary } from './format';

export interface RunArgs {
  config?: string;
  replay?: string;
  duration?: number;
}

export async function runAgent(a: RunArgs): Promise<number> {
  const config = loadConfig({ ...(a.config !== undefined ? { file: a.config } : {}), env: process.env });
  const agent = new Agent(config, a.replay ? { source: new ReplaySource({ file: a.replay }) } : {});
  const started = Date.now();
  // listening before the (slow) start: a Ctrl-C while the programs load stops the agent once they are
  let keepAlive: NodeJS.Timeout | undefined;
  let timer: NodeJS.Timeout | undefined;
  let requestStop: () => void = () => undefined;
  const stop = new Promise<void>((resolve) => {
    requestStop = resolve;
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    keepAlive = setInterval(() => undefined, 1 << 30);
  });
  try {
    await agent.start();
  } catch (e) {
    clearInterval(keepAlive);
    throw e;
  }
  if (a.duration !== undefined) timer = setTimeout(requestStop, a.duration * 1000);
  // SIGUSR2: one line of the agent's memory and state on stderr (after a GC when run with --expose-gc)
  const dump = (): void => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    const p = agent.pipeline.stats();
    process.stderr.write(
      `${JSON.stringify({ memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }, connections: p.connections, profiledThreads: agent.profiler?.index.threads ?? 0, spans: agent.http.spans })}\n`,
    );
  };
  process.on('SIGUSR2', dump);
  let failure: unknown;
  const replayDone = a.replay ? agent.source.finished.then(() => agent.drain()) : new Promise<void>(() => undefined);
  await Promise.race([stop, replayDone.catch((e) => (failure = e))]);
  clearInterval(keepAlive);
  clearTimeout(timer);
  process.removeListener('SIGUSR2', dump);
  await agent.stop();
  const h = agent.httpStats;
  process.stderr.write(
    `${summary(agent.source.stats(), (Date.now() - started) / 1000)}\n` +
      `http: ${h.requests} requests, ${h.exchanges} paired, ${h.expired} expired, ${h.unmatchedResponses} unmatched responses, ${h.parseErrors} parse errors; ` +
      `spans: ${agent.http.spans} made, ${agent.spans.stats.dropped} dropped, ${Math.max(0, ...agent.spans.stats.failed)} failed export\n`,
  );
  if (failure) throw failure;
  return 0;
}
