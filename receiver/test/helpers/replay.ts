/**
 * Replays a recorded capture through a whole Agent (no root, no kernel) into an
 * in-memory span exporter, and reads the scenario a recording program stored
 * in the capture's header.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Agent } from '../../src/agent';
import type { ProtocolFactory } from '../../src/protocols/context';
import { loadConfig } from '../../src/config/config';
import { MemorySpanExporter } from '../../src/export/console-spans';
import { ReplaySource } from '../../src/source/replay-source';
import { RecordingReader } from '../../src/source/recording';

/** the metadata the recording program wrote into the capture's header */
export function captureMeta<T>(file: string): T {
  const r = new RecordingReader(file);
  try {
    return r.header.meta as T;
  } finally {
    r.close();
  }
}

/** every span the agent makes from the capture, after it has been replayed to its end */
export async function replayCapture(file: string, protocols?: ProtocolFactory[]): Promise<{ agent: Agent; spans: ReadableSpan[] }> {
  const mem = new MemorySpanExporter();
  const agent = new Agent(loadConfig({ env: { OTEL_METRICS_EXPORTER: 'none' } }), {
    source: new ReplaySource({ file }),
    spanExporters: [mem],
    metricExporters: [],
    log: () => undefined,
    kubernetes: null,
    ...(protocols ? { protocols } : {}),
  });
  await agent.start();
  await agent.source.finished;
  await agent.drain();
  await agent.stop();
  return { agent, spans: mem.spans };
}
