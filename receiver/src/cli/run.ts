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
  await agent.start();
  let keepAlive: NodeJS.Timeout | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (a.duration !== undefined) timer = setTimeout(resolve, a.duration * 1000);
    keepAlive = setInterval(() => undefined, 1 << 30);
  });
  let failure: unknown;
  const replayDone = a.replay ? agent.source.finished.then(() => agent.drain()) : new Promise<void>(() => undefined);
  await Promise.race([stop, replayDone.catch((e) => (failure = e))]);
  clearInterval(keepAlive);
  clearTimeout(timer);
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
