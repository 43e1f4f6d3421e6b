/**
 * What every protocol parser sees and reports. A connection's traffic reaches
 * a parser as segments, one per syscall and direction, each carrying the
 * captured prefix of the bytes and their true length.
 */

/** One syscall's bytes in one direction of a connection. */
export interface Segment {
  /** the captured prefix: may be shorter than `len` (the kernel copies at most N bytes) */
  data: Uint8Array;
  /** the true number of bytes the syscall moved */
  len: number;
  /** CLOCK_MONOTONIC ns at syscall enter and exit */
  enterNs: number;
  exitNs: number;
}

/** The bytes a segment stands for: its true length, never less than what was captured (a bad length is ignored). */
export function segmentLength(seg: Segment): number {
  return Number.isSafeInteger(seg.len) && seg.len > seg.data.length ? seg.len : seg.data.length;
}

/** Which way a segment went, seen from the process that owns the socket. */
export type Direction = 'egress' | 'ingress';

/** Which end of a connection a process is. */
export type Role = 'client' | 'server';
