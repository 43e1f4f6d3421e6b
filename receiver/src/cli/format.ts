/** How `kindling capture` prints events and its summary. */
import { Kind } from '../events/abi';
import { ProcEvent, SliceEvent, SockEvent, StackEvent } from '../events/types';
import type { KindlingEvent } from '../events/types';
import type { SourceStats } from '../source/event-source';
import { endpointToString } from '../util/addr';

/** Kernel CLOCK_MONOTONIC ns -> wall-clock ms; process.hrtime is the same clock on Linux. */
export class MonotonicClock {
  readonly #offsetMs: number;

  constructor() {
    this.#offsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6;
  }

  wallMs(monoNs: number): number {
    return monoNs / 1e6 + this.#offsetMs;
  }

  iso(monoNs: number): string {
    return new Date(this.wallMs(monoNs)).toISOString();
  }

  /** HH:MM:SS.uuuuuu, local time */
  short(monoNs: number): string {
    const ms = this.wallMs(monoNs);
    const d = new Date(ms);
    const us = Math.floor((ms * 1000) % 1_000_000)
      .toString()
      .padStart(6, '0');
    const two = (n: number): string => n.toString().padStart(2, '0');
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${us}`;
  }
}

function proto(ev: { family: number; protocol: number }): string {
  return `${ev.protocol === 17 ? 'udp' : 'tcp'}${ev.family === 10 ? '6' : '4'}`;
}

/** Printable preview of a payload: ASCII kept, \r \n \t escaped, other bytes as '.' */
export function preview(bytes: Uint8Array, max = 80): string {
  let s = '';
  for (let i = 0; i < bytes.length && s.length < max; i++) {
    const c = bytes[i] ?? 0;
    if (c === 13) s += '\\r';
    else if (c === 10) s += '\\n';
    else if (c === 9) s += '\\t';
    else if (c >= 32 && c < 127) s += String.fromCharCode(c);
    else s += '.';
  }
  return bytes.length > 0 && s.length >= max ? `${s}…` : s;
}

/** One readable line per event. */
export function eventLine(ev: KindlingEvent, clock: MonotonicClock): string {
  if (ev instanceof SockEvent) {
    const local = endpointToString(ev.family, ev.localAddr, ev.localPort);
    const remote = endpointToString(ev.family, ev.remoteAddr, ev.remotePort);
    const arrow = ev.direction === 2 ? '<-' : '->';
    const who = `${ev.comm} ${ev.pid}/${ev.tid}`;
    const took = ((ev.exitNs - ev.enterNs) / 1000).toFixed(1);
    if (ev.kind === Kind.SockConn) {
      return `${clock.short(ev.exitNs)} ${who} ${ev.hookName} fd=${ev.fd} ${proto(ev)} ${local} ${arrow} ${remote} ret=${ev.ret} ${took}us`;
    }
    const msg = ev.msgCount > 1 ? ` msg=${ev.msgIndex + 1}/${ev.msgCount}` : '';
    const body = ev.payloadLen > 0 ? ` "${preview(ev.payload)}"` : '';
    return `${clock.short(ev.exitNs)} ${who} ${ev.hookName} fd=${ev.fd} ${proto(ev)} ${local} ${arrow} ${remote} ${ev.directionName} len=${ev.len} ret=${ev.ret} off=${ev.offset}${msg} ${took}us${body}`;
  }
  if (ev instanceof SliceEvent) return `${clock.short(ev.endNs)} ${ev.pid}/${ev.tid} slice ${ev.cause} ${((ev.endNs - ev.startNs) / 1e6).toFixed(3)}ms`;
  if (ev instanceof StackEvent) {
    const frames = ev.frames.map((f) => f.toString(16)).join(' ');
    return `${clock.short(ev.blockEndNs)} ${ev.pid}/${ev.tid} stack ${ev.cause} ${((ev.blockEndNs - ev.blockStartNs) / 1e6).toFixed(3)}ms nr=${ev.syscallNr}${ev.truncated ? ' truncated' : ''} ${frames}`;
  }
  if (ev instanceof ProcEvent) return `${clock.short(ev.tsNs)} ${ev.comm} ${ev.pid}/${ev.tid} ${String(ev.toJSON()['type'])} ppid=${ev.ppid} cgroup=${ev.cgroupId}`;
  return `${clock.short(ev.tsNs)} ${ev.comm} ${ev.pid}/${ev.tid} tcp-state ${proto(ev)} ${endpointToString(ev.family, ev.localAddr, ev.localPort)} -- ${endpointToString(ev.family, ev.remoteAddr, ev.remotePort)} ${ev.toJSON()['oldState']} -> ${ev.toJSON()['newState']}`;
}

/** One JSON object per event; the payload is base64 in `payload`. */
export function eventJson(ev: KindlingEvent, clock: MonotonicClock): string {
  const j = ev.toJSON();
  const ns = ev instanceof SockEvent ? ev.exitNs : ev instanceof SliceEvent ? ev.endNs : ev instanceof StackEvent ? ev.blockEndNs : ev.tsNs;
  return JSON.stringify({ time: clock.iso(ns), ...j });
}

/** The exit summary: totals, losses by reason, then one row per hook that saw anything. */
export function summary(stats: SourceStats, seconds: number): string {
  const lines: string[] = [];
  const rate = seconds > 0 ? ` (${Math.round(stats.events / seconds)}/s)` : '';
  lines.push(`events: ${stats.events}${rate}  bytes: ${stats.bytes}  batches: ${stats.batches}`);
  const lost = Object.entries(stats.lost).filter(([, v]) => v > 0);
  const totalLost = lost.reduce((s, [, v]) => s + v, 0);
  lines.push(`lost: ${totalLost}${lost.length ? `  (${lost.map(([k, v]) => `${k}=${v}`).join(', ')})` : ''}`);
  if (stats.malformedBatches || stats.unknownRecords) {
    lines.push(`malformed batches: ${stats.malformedBatches}  unknown records: ${stats.unknownRecords}`);
  }
  const rows = Object.entries(stats.hooks).filter(([, c]) => Object.values(c).some((v) => v > 0));
  if (rows.length) {
    lines.push(`${'hook'.padEnd(20)} ${'emitted'.padStart(10)} ${'lost'.padStart(8)} ${'eagain'.padStart(8)}  other`);
    for (const [hook, c] of rows) {
      const lostHere = c.lost_ringbuf_full + c.lost_no_task_storage + c.lost_mmsg_overflow + c.lost_no_scratch;
      const other = [
        c.payload_fault ? `payload_fault=${c.payload_fault}` : '',
        c.iov_truncated ? `iov_truncated=${c.iov_truncated}` : '',
        c.lost_ringbuf_full ? `ringbuf_full=${c.lost_ringbuf_full}` : '',
        c.lost_mmsg_overflow ? `mmsg_overflow=${c.lost_mmsg_overflow}` : '',
      ]
        .filter(Boolean)
        .join(' ');
      lines.push(`${hook.padEnd(20)} ${String(c.emitted).padStart(10)} ${String(lostHere).padStart(8)} ${String(c.skipped_eagain).padStart(8)}  ${other}`);
    }
  }
  return lines.join('\n');
}
