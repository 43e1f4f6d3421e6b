/**
 * Drives receiver/test/programs/traffic/, which makes known socket syscalls and
 * prints a manifest of exactly what it did, and checks captured events against it.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { Kind } from '../../src/events/abi';
import { SockEvent } from '../../src/events/types';
import type { KindlingEvent } from '../../src/events/types';
import { artifacts } from '../../src/util/paths';
import { EbpfSource } from '../../src/source/ebpf-source';
import type { EbpfSourceOptions } from '../../src/source/ebpf-source';
import type { SourceBatch, SourceStats } from '../../src/source/event-source';

export interface Endpoint {
  addr: string;
  port: number;
}

export interface TrafficOp {
  seq: number;
  op: string;
  tid: number;
  fd: number;
  sock: 'tcp4' | 'tcp6' | 'udp4' | 'udp6';
  dir: 'egress' | 'ingress' | 'none';
  ret: number;
  len: number;
  data: string;
  inode: number;
  local: Endpoint;
  remote: Endpoint | null;
  msg_index?: number;
  listen_fd?: number;
}

export interface TrafficManifest {
  pid: number;
  tids: Record<string, number>;
  ops: TrafficOp[];
  fd_reuse: { fd: number; first_inode: number; second_inode: number };
  non_socket_fds: number[];
}

/** A traffic run that waits for go(): start probes between spawn and go. */
export class TrafficRun {
  readonly child: ChildProcessWithoutNullStreams;
  readonly pid: Promise<number>;
  readonly manifest: Promise<TrafficManifest>;

  constructor() {
    this.child = spawn(artifacts.program('traffic'), ['--wait'], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    this.child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    this.pid = new Promise((resolve, reject) => {
      this.child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /READY (\d+)/.exec(stderr);
        if (m?.[1]) resolve(Number(m[1]));
      });
      this.child.once('error', reject);
      this.child.once('exit', (code) => reject(new Error(`traffic exited (${code}) before READY: ${stderr}`)));
    });
    this.manifest = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => {
        if (code !== 0) reject(new Error(`traffic failed (${code}): ${stderr}`));
        else resolve(JSON.parse(stdout) as TrafficManifest);
      });
    });
    this.manifest.catch(() => undefined);
  }

  go(): void {
    this.child.stdin.write('go\n');
  }

  /** end the run if it is still going (a test that never called go) */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Run the traffic program to completion (optionally after `beforeGo`). */
export async function runTraffic(beforeGo: (pid: number) => Promise<void> | void = () => undefined): Promise<TrafficManifest> {
  const run = new TrafficRun();
  const pid = await run.pid;
  await beforeGo(pid);
  run.go();
  return run.manifest;
}

const FAMILY = { tcp4: 2, udp4: 2, tcp6: 10, udp6: 10 } as const;
const PROTO = { tcp4: 6, tcp6: 6, udp4: 17, udp6: 17 } as const;

/** Events of `pid` that the manifest describes (data and connection records). */
export function socketEventsOf(events: readonly KindlingEvent[], pid: number): SockEvent[] {
  return events.filter((e): e is SockEvent => e instanceof SockEvent && e.pid === pid);
}

function unspecified(sock: TrafficOp['sock']): string {
  return FAMILY[sock] === 10 ? '::' : '0.0.0.0';
}

/**
 * Every socket syscall of the manifest has exactly one event (one per message
 * for mmsg), with the same fields, in the same order per socket, and there are
 * no other events from the traffic process.
 */
export function assertMatchesManifest(events: readonly KindlingEvent[], m: TrafficManifest, payloadBytes: number): void {
  const mine = socketEventsOf(events, m.pid);
  const ops = [...m.ops].sort((a, b) => a.seq - b.seq);
  assert.equal(mine.length, ops.length, `event count: ${mine.length} events for ${ops.length} manifest ops`);

  // per socket, in order
  const bySock = new Map<number, SockEvent[]>();
  for (const e of [...mine].sort((a, b) => a.exitNs - b.exitNs)) bySock.set(e.sockId, [...(bySock.get(e.sockId) ?? []), e]);
  const opsBySock = new Map<number, TrafficOp[]>();
  for (const op of ops) opsBySock.set(op.inode, [...(opsBySock.get(op.inode) ?? []), op]);
  assert.deepEqual([...bySock.keys()].sort(), [...opsBySock.keys()].sort(), 'the same sockets (by inode)');

  for (const [inode, sockOps] of opsBySock) {
    const evs = bySock.get(inode) ?? [];
    assert.equal(evs.length, sockOps.length, `socket ${inode}: event count`);
    const offsets = { egress: 0, ingress: 0 };
    sockOps.forEach((op, i) => {
      const e = evs[i];
      assert.ok(e);
      const where = `socket ${inode} op seq ${op.seq} (${op.op})`;
      assert.equal(e.hookName, op.op, `${where}: syscall`);
      assert.equal(e.kind, op.dir === 'none' ? Kind.SockConn : Kind.SockData, `${where}: kind`);
      assert.equal(e.tid, op.tid, `${where}: tid`);
      assert.equal(e.fd, op.fd, `${where}: fd`);
      assert.equal(e.ret, op.ret, `${where}: ret`);
      assert.equal(e.family, FAMILY[op.sock], `${where}: family`);
      assert.equal(e.protocol, PROTO[op.sock], `${where}: protocol`);
      assert.equal(e.localAddr, op.local.addr, `${where}: local address`);
      assert.equal(e.localPort, op.local.port, `${where}: local port`);
      assert.equal(e.remoteAddr, op.remote?.addr ?? unspecified(op.sock), `${where}: remote address`);
      assert.equal(e.remotePort, op.remote?.port ?? 0, `${where}: remote port`);
      assert.ok(e.enterNs > 0 && e.enterNs <= e.exitNs, `${where}: enter ${e.enterNs} <= exit ${e.exitNs}`);
      if (op.dir === 'none') return;
      assert.equal(e.directionName, op.dir, `${where}: direction`);
      assert.equal(e.len, op.len, `${where}: len`);
      assert.equal(e.msgIndex, op.msg_index ?? 0, `${where}: msg index`);
      const data = Buffer.from(op.data, 'base64');
      const prefix = data.subarray(0, Math.min(data.length, payloadBytes));
      assert.equal(e.payloadLen, prefix.length, `${where}: payload length`);
      assert.ok(Buffer.from(e.payload).equals(prefix), `${where}: payload bytes`);
      assert.equal(e.offset, offsets[op.dir], `${where}: ${op.dir} offset`);
      offsets[op.dir] += op.len;
    });
  }
}

/** Wait until `count()` reaches `want` or the deadline passes. */
export async function waitFor(count: () => number, want: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (count() < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Events expected from a manifest (one per op). */
export function expectedEventCount(m: TrafficManifest): number {
  return m.ops.length;
}

export interface TrafficCapture {
  manifest: TrafficManifest;
  events: KindlingEvent[];
  stats: SourceStats;
}

/**
 * One traffic run under a live source filtered to its pid: start the source,
 * let the program go, wait for its events, stop (always, even on failure).
 */
export async function captureTraffic(options: EbpfSourceOptions = {}, onBatch: (b: SourceBatch) => void = () => undefined): Promise<TrafficCapture> {
  const run = new TrafficRun();
  const events: KindlingEvent[] = [];
  let source: EbpfSource | undefined;
  try {
    const pid = await run.pid;
    source = new EbpfSource({ ...options, pid });
    await source.start((b) => {
      onBatch(b);
      events.push(...b.events);
    });
    run.go();
    const manifest = await run.manifest;
    await settleTraffic(manifest, () => events);
    const stats = source.stats();
    return { manifest, events, stats };
  } finally {
    await source?.stop();
    run.kill();
  }
}

/** Wait until every manifest op has its event, then a little longer for stragglers. */
export async function settleTraffic(m: TrafficManifest, delivered: () => readonly KindlingEvent[]): Promise<void> {
  await waitFor(() => socketEventsOf(delivered(), m.pid).length, expectedEventCount(m));
  await new Promise((r) => setTimeout(r, 100));
}
