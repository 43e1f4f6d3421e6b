// What the trace-profiling kernel tests share: the C test server's processes, real-time
// curl, and finding spans and their children.
import { execFile, spawn } from 'node:child_process';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { attr, pidOf } from './e2e';
import type { Cleanup } from './e2e';

export interface Peer {
  pid: number;
  port: number;
}

export function startPeer(c: Cleanup, argv: string[]): Promise<Peer> {
  const [file = '', ...args] = argv;
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  c.defer(
    () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGKILL');
      }),
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}`)));
    child.stdout.once('data', (d: Buffer) => resolve({ pid: child.pid ?? 0, port: Number(d.toString().trim()) }));
  });
}

export function curl(port: number, target: string): Promise<void> {
  return new Promise((resolve, reject) => execFile('chrt', ['-f', '50', 'curl', '-sS', '-o', '/dev/null', '--max-time', '10', `http://127.0.0.1:${port}${target}`], (e) => (e ? reject(e) : resolve())));
}

export async function spansOf(agent: { spans: { flush(): Promise<void> } }, mem: { spans: ReadableSpan[] }, want: (s: ReadableSpan[]) => boolean, ms = 15_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await agent.spans.flush();
    if (want(mem.spans)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return mem.spans;
}

export const servers = (spans: ReadableSpan[], pid: number, path: string): ReadableSpan[] =>
  spans.filter((s) => s.kind === SpanKind.SERVER && pidOf(s) === pid && attr(s, 'url.path') === path);
export const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] =>
  spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId && s.kind === SpanKind.INTERNAL);
