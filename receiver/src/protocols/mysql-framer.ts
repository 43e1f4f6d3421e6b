/**
 * MySQL packet framing over one direction of a connection: every packet is a
 * 3-byte little-endian payload length, a sequence id, then the payload; a
 * payload of exactly 0xffffff bytes continues in the next packet, and the
 * framer joins those into one logical packet.
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
 *
 * Segments carry only a captured prefix of their bytes. Payload bytes that were
 * not captured are skipped by count, so framing survives truncation until a
 * packet header itself falls in the uncaptured bytes: the framer then reports
 * `lost` and skips segments until the caller calls reset() (the response side,
 * at the next command) or a segment passes the `resync` test (the request side:
 * one that starts like a command).
 *
 * Example (two packets, the second split across reads, then a header lost):
 *   const f = new MysqlFramer({ keep: 512 });
 *   f.push(seg('01000001 01 05000002 fe00'), sink);   // → packet seq 1 [01]
 *   f.push(seg('00 0200'), sink);                     // → packet seq 2 [fe 00 00 02 00]
 *   f.push({ data: bytes(600).subarray(0, 512), len: 600, ... }, sink)  // a header past byte 512 → sink.lost()
 */
import { SpanBuffer } from './span-buffer';
import type { Segment } from './types';
import { segmentLength } from './types';

export interface MysqlPacket {
  seq: number;
  /** the payload's true length (all continuation pieces together) */
  length: number;
  /**
   * The payload's first bytes: at most `keep`, fewer when capture truncation hid the rest.
   * A view valid only during the callback: copy what you keep.
   */
  prefix: Uint8Array;
  /** enterNs of the segment carrying the packet's first header byte */
  startNs: number;
  /** exitNs of the segment carrying its last byte */
  endNs: number;
}

export interface FrameSink {
  packet(p: MysqlPacket): void;
  /** a packet header was not captured: framing is lost from `atNs` until reset or resync */
  lost(atNs: number): void;
}

export interface MysqlFramerOptions {
  /** payload bytes kept per packet */
  keep: number;
  /** while lost: does a segment starting with these bytes start a packet? */
  resync?: (data: Uint8Array, len: number) => boolean;
}

export interface MysqlFramerStats {
  packets: number;
  losses: number;
  resyncs: number;
  /** segments skipped while framing was lost */
  skippedSegments: number;
}

const MAX_PIECE = 0xffffff;

export class MysqlFramer {
  readonly stats: MysqlFramerStats = { packets: 0, losses: 0, resyncs: 0, skippedSegments: 0 };
  private readonly keep: number;
  private readonly resyncTest: ((data: Uint8Array, len: number) => boolean) | undefined;
  private readonly span: SpanBuffer;
  private readonly hdr = new Uint8Array(4);
  private hdrLen = 0;
  private hdrStartNs = 0;
  /** inside a packet's payload */
  private inPayload = false;
  private remaining = 0;
  /** the last piece was 0xffffff long: the next header continues the same logical packet */
  private continues = false;
  private seq = 0;
  private length = 0;
  private startNs = 0;
  /** the payload had uncaptured bytes: the prefix cannot grow any more */
  private gap = false;
  /** the prefix, while it is still a view of the current segment */
  private view: Uint8Array | undefined;
  private lostFlag = false;

  constructor(options: MysqlFramerOptions) {
    this.keep = Math.max(16, Math.floor(options.keep));
    this.resyncTest = options.resync;
    this.span = new SpanBuffer(this.keep, 1024);
  }

  get isLost(): boolean {
    return this.lostFlag;
  }

  /** between packets (nothing of a packet seen yet) and not lost */
  get atBoundary(): boolean {
    return !this.lostFlag && !this.inPayload && this.hdrLen === 0 && !this.continues;
  }

  /** Memory held for packets spanning segments (never above `keep`). */
  get bufferedBytes(): number {
    return this.span.capacity;
  }

  /** The next segment starts at a packet boundary (a new command came: the old response is over). */
  reset(): void {
    if (this.lostFlag) this.stats.resyncs++;
    this.lostFlag = false;
    this.clearPacket();
  }

  /** Never throws. */
  push(seg: Segment, sink: FrameSink): void {
    const data = seg.data;
    const cap = data.length;
    const total = segmentLength(seg);
    if (total === 0) return;
    if (this.lostFlag) {
      if (!this.resyncTest?.(data, total)) {
        this.stats.skippedSegments++;
        return;
      }
      this.reset();
    }
    let pos = 0;
    while (pos < total) {
      if (!this.inPayload) {
        if (pos >= cap) return this.lose(seg.enterNs, sink);
        if (this.hdrLen === 0) this.hdrStartNs = seg.enterNs;
        const n = Math.min(4 - this.hdrLen, cap - pos);
        this.hdr.set(data.subarray(pos, pos + n), this.hdrLen);
        this.hdrLen += n;
        pos += n;
        if (this.hdrLen < 4) continue;
        this.startPiece();
        if (this.remaining === 0) this.endPiece(seg, sink);
        continue;
      }
      const n = Math.min(this.remaining, total - pos);
      if (!this.gap) {
        const capturedEnd = Math.min(pos + n, cap);
        if (capturedEnd > pos) this.addPrefix(data.subarray(pos, capturedEnd));
        if (capturedEnd < pos + n) this.gap = true;
      }
      pos += n;
      this.remaining -= n;
      if (this.remaining === 0) this.endPiece(seg, sink);
    }
    // a packet continues in the next segment: its prefix cannot stay a view of this one
    if (this.view !== undefined) {
      this.span.append(this.view);
      this.view = undefined;
    }
  }

  private startPiece(): void {
    const h = this.hdr;
    const len = (h[0] ?? 0) | ((h[1] ?? 0) << 8) | ((h[2] ?? 0) << 16);
    if (!this.continues) {
      this.seq = h[3] ?? 0;
      this.length = 0;
      this.startNs = this.hdrStartNs;
    }
    this.hdrLen = 0;
    this.length += len;
    this.remaining = len;
    this.continues = len === MAX_PIECE;
    this.inPayload = true;
  }

  private endPiece(seg: Segment, sink: FrameSink): void {
    this.inPayload = false;
    if (this.continues) return;
    const prefix = this.view ?? this.span.view();
    const packet: MysqlPacket = { seq: this.seq, length: this.length, prefix, startNs: this.startNs, endNs: seg.exitNs };
    this.stats.packets++;
    try {
      sink.packet(packet);
    } finally {
      this.clearPacket();
    }
  }

  private addPrefix(bytes: Uint8Array): void {
    const have = (this.view?.length ?? 0) + this.span.length;
    const want = this.keep - have;
    if (want <= 0) return;
    const b = bytes.length > want ? bytes.subarray(0, want) : bytes;
    if (have === 0) {
      this.view = b;
      return;
    }
    if (this.view !== undefined) {
      this.span.append(this.view);
      this.view = undefined;
    }
    this.span.append(b);
  }

  private lose(atNs: number, sink: FrameSink): void {
    this.stats.losses++;
    this.clearPacket();
    this.lostFlag = true;
    sink.lost(atNs);
  }

  private clearPacket(): void {
    this.hdrLen = 0;
    this.inPayload = false;
    this.remaining = 0;
    this.continues = false;
    this.gap = false;
    this.view = undefined;
    this.span.clear();
  }
}
