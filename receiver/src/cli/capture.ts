/**
 * `kindling capture`: socket events one per line (table or JSON lines), from the
 * kernel or from a recording, optionally recorded to a file; a summary on exit.
 */
import * as os from 'node:os';
import { EbpfSource } from '../source/ebpf-source';
import type { EventSource, SourceBatch } from '../source/event-source';
import { ReplaySource } from '../source/replay-source';
import { RecordingWriter, countRecords } from '../source/recording';
import { ProcEvent, SliceEvent, SockStateEvent, StackEvent } from '../events/types';
import type { KindlingEvent } from '../events/types';
import { KindlingError } from '../errors';
import { MonotonicClock, eventJson, eventLine, summary } from './format';

export interface CaptureArgs {
  pid?: number;
  port?: number;
  json: boolean;
  duration?: number;
  record?: string;
  replay?: string;
  payloadBytes?: number;
  ringBytes?: number;
  quiet: boolean;
}

function wanted(ev: KindlingEvent, a: CaptureArgs): boolean {
  if (a.pid !== undefined && !(ev instanceof SockStateEvent) && ev.pid !== a.pid) return false;
  if (a.port === undefined) return true;
  // process events have no port: a port filter hides them
  return !(ev instanceof ProcEvent) && !(ev instanceof SliceEvent) && !(ev instanceof StackEvent) && (ev.localPort === a.port || ev.remotePort === a.port);
}

export async function runCapture(a: CaptureArgs): Promise<number> {
  const source: EventSource = a.replay
    ? new ReplaySource({ file: a.replay })
    : new EbpfSource({
        ...(a.pid !== undefined ? { pid: a.pid } : {}),
        ...(a.port !== undefined ? { port: a.port } : {}),
        ...(a.payloadBytes !== undefined ? { payloadBytes: a.payloadBytes } : {}),
        ...(a.ringBytes !== undefined ? { ringBytes: a.ringBytes } : {}),
      });
  const clock = new MonotonicClock();
  let writer: RecordingWriter | undefined;
  let outputClosed = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    // a reader that went away (| head) ends the capture, it is not an error
    if (e.code === 'EPIPE') outputClosed = true;
  });

  const onBatch = (b: SourceBatch): void => {
    writer?.write(b.raw, countRecords(b.raw));
    if (a.quiet || outputClosed) return;
    let out = '';
    for (const ev of b.events) {
      if (!wanted(ev, a)) continue;
      out += (a.json ? eventJson(ev, clock) : eventLine(ev, clock)) + '\n';
    }
    if (out) process.stdout.write(out);
  };

  const started = Date.now();
  if (a.record) {
    writer = new RecordingWriter(a.record, {
      createdAt: new Date().toISOString(),
      host: os.hostname(),
      kernel: os.release(),
      payloadBytes: source instanceof EbpfSource ? source.options.payloadBytes : 0,
    });
  }
  try {
    await source.start(onBatch);
  } catch (e) {
    writer?.close();
    throw e;
  }
  process.stderr.write(
    a.replay ? `replaying ${a.replay}\n` : `capturing${a.pid ? ` pid ${a.pid}` : ''}${a.port ? ` port ${a.port}` : ''}${a.duration ? ` for ${a.duration}s` : ''}; Ctrl-C to stop\n`,
  );

  // the probe does not hold the event loop open; this interval does, until the capture ends
  let keepAlive: NodeJS.Timeout | undefined;
  let timer: NodeJS.Timeout | undefined;
  let onSignal: (() => void) | undefined;
  const stopRequested = new Promise<void>((resolve) => {
    onSignal = resolve;
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (a.duration !== undefined) timer = setTimeout(resolve, a.duration * 1000);
    keepAlive = setInterval(() => outputClosed && resolve(), 100);
  });
  let failure: unknown;
  await Promise.race([stopRequested, source.finished.catch((e) => (failure = e))]);
  clearInterval(keepAlive);
  clearTimeout(timer);
  if (onSignal) {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  await source.stop();
  writer?.close();
  const seconds = (Date.now() - started) / 1000;
  process.stderr.write(`${summary(source.stats(), seconds)}\n`);
  if (writer) process.stderr.write(`recorded ${writer.records} records in ${writer.blocks} batches to ${writer.file}\n`);
  if (failure) throw failure instanceof KindlingError ? failure : new KindlingError('KINDLING_ERR_IO', String(failure));
  return 0;
}
