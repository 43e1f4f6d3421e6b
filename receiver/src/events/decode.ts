/**
 * Batch decoding: a batch is records back to back, each 8-byte aligned and
 * starting with { u16 kind; u16 size }. One DataView per batch, one object per
 * record; payloads stay views into the batch.
 *
 * Example:
 *   const r = decodeBatch(buf);
 *   if (r.error) log(`malformed at byte ${r.error.offset}: ${r.error.reason}`);
 *   for (const ev of r.events) handle(ev);
 */
import { Flag, Kind, PROC_EVENT_SIZE, SLICE_EVENT_SIZE, SCHED_SNAPSHOT_SIZE, SOCK_EVENT, SOCK_EVENT_SIZE, SOCK_STATE_EVENT_SIZE, STACK_EVENT, STACK_EVENT_SIZE, STACK_MAX_FRAMES, STACK_SCAN_WORDS } from './abi';
import { ProcEvent, SliceEvent, SockEvent, SockStateEvent, StackEvent } from './types';
import type { KindlingEvent } from './types';

export interface DecodeError {
  /** byte offset of the bad record within the batch */
  offset: number;
  reason: string;
}

export interface DecodeResult {
  events: KindlingEvent[];
  /** records of a kind this decoder does not know (skipped: a newer producer) */
  unknown: number;
  /** set when decoding stopped at a malformed record; events before it are kept */
  error?: DecodeError;
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Why the record at `at` is malformed, or undefined when it is sound. */
export function checkRecord(dv: DataView, at: number, end: number): string | undefined {
  if (at + 4 > end) return `record header cut short (${end - at} of 4 bytes)`;
  const kind = dv.getUint16(at, true);
  const size = dv.getUint16(at + 2, true);
  if (size < 4) return `record size ${size} is below the 4-byte header`;
  if (at + size > end) return `record of ${size} bytes runs past the end (${end - at} left)`;
  if (kind === Kind.SockData || kind === Kind.SockConn) {
    if (size < SOCK_EVENT_SIZE) return `socket record of ${size} bytes is shorter than ${SOCK_EVENT_SIZE}`;
    const flags = dv.getUint8(at + SOCK_EVENT.flags[0]);
    const payload = dv.getUint16(at + SOCK_EVENT.payload_len[0], true);
    const need = SOCK_EVENT_SIZE + (flags & Flag.Sched ? SCHED_SNAPSHOT_SIZE : 0) + payload;
    if (size < need) return `socket record of ${size} bytes cannot hold its ${payload}-byte payload`;
  } else if (kind === Kind.SockState) {
    if (size < SOCK_STATE_EVENT_SIZE) return `state record of ${size} bytes is shorter than ${SOCK_STATE_EVENT_SIZE}`;
  } else if (kind === Kind.Proc) {
    // 48 bytes: the layout before ABI 5 (no tid)
    if (size < PROC_EVENT_SIZE - 8) return `process record of ${size} bytes is shorter than ${PROC_EVENT_SIZE - 8}`;
  } else if (kind === Kind.Slice) {
    if (size < SLICE_EVENT_SIZE) return `slice record of ${size} bytes is shorter than ${SLICE_EVENT_SIZE}`;
  } else if (kind === Kind.Stack) {
    if (size < STACK_EVENT_SIZE) return `stack record of ${size} bytes is shorter than ${STACK_EVENT_SIZE}`;
    const n = dv.getUint16(at + STACK_EVENT.nframes[0], true);
    const scan = dv.getUint16(at + STACK_EVENT.nscan[0], true);
    if (n > STACK_MAX_FRAMES || scan > STACK_SCAN_WORDS) return `stack record claims ${n} frames and ${scan} stack words`;
  }
  return undefined;
}

/** Decode every record of a batch; never throws on bad bytes. */
export function decodeBatch(bytes: Uint8Array, out: KindlingEvent[] = []): DecodeResult {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  let unknown = 0;
  let at = 0;
  while (at < end) {
    const bad = checkRecord(dv, at, end);
    if (bad !== undefined) return { events: out, unknown, error: { offset: at, reason: bad } };
    const kind = dv.getUint16(at, true);
    if (kind === Kind.SockData || kind === Kind.SockConn) out.push(new SockEvent(bytes, dv, at));
    else if (kind === Kind.SockState) out.push(new SockStateEvent(bytes, dv, at));
    else if (kind === Kind.Proc) out.push(new ProcEvent(bytes, dv, at));
    else if (kind === Kind.Slice) out.push(new SliceEvent(bytes, dv, at));
    else if (kind === Kind.Stack) out.push(new StackEvent(bytes, dv, at));
    else unknown++;
    at += align8(dv.getUint16(at + 2, true));
  }
  return { events: out, unknown };
}
