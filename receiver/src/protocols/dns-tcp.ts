/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766 §8 https://www.rfc-editor.org/rfc/rfc7766#section-8):
 * each message is preceded by its length as two bytes, big-endian. Several
 * messages may share a segment and one may be split anywhere, the prefix too
 * (dnsmasq reads it one byte at a time):
 *   00 31 | a1 b2 01 20 00 01 ... (49 bytes) | 00 35 | a1 b2 81 80 ...
 *
 * One framer per direction. Captures keep a prefix of each segment: bytes past
 * it are skipped by count, and a message with uncaptured bytes is parsed from
 * what was kept (truncated). When a length prefix itself was not captured the
 * framing is lost; it is found again at a later segment start that holds a
 * well-formed message. A segment start may also hold a message without its
 * prefix, when the reads of the prefix came before the connection was known
 * to be DNS: that segment is taken as one whole message.
 */
import { HEADER_BYTES, looksLikeDns, parseDnsMessage } from './dns';
import type { DnsMessage } from './dns';
import { SpanBuffer } from './span-buffer';
import type { Segment } from './types';

/** bytes of one message kept for parsing; the rest is skipped as if not captured */
export const MAX_KEPT_BYTES = 16384;

/** a message with the times (and the caller's tags) of the segments holding its first and last bytes */
export type DnsFrameEvent = { kind: 'message'; message: DnsMessage; startNs: number; endNs: number; startTag: number; endTag: number } | { kind: 'error'; reason: string };

export interface DnsFramerStats {
  /** segments skipped while looking for a message boundary */
  skippedSegments: number;
  /** times the framing was lost (prefix not captured, impossible length) */
  lostSync: number;
}

export interface DnsTcpFramerOptions {
  /** port 53: a segment holding just a length prefix may start the stream */
  lenient?: boolean;
}

export class DnsTcpFramer {
  readonly stats: DnsFramerStats = { skippedSegments: 0, lostSync: 0 };
  readonly #lenient: boolean;
  /** the next byte is a message boundary */
  #synced = false;
  /** the prefix's first byte when the prefix was split, else -1 */
  #prefixHigh = -1;
  /** the current message's length, and its bytes still to come (0: a prefix is next) */
  #size = 0;
  #need = 0;
  /** bytes of the current message were not captured: keep no more of it */
  #gap = false;
  readonly #buf = new SpanBuffer(MAX_KEPT_BYTES);
  #startNs = 0;
  #startTag = 0;
  #lastExitNs = 0;
  #lastTag = 0;

  constructor(o: DnsTcpFramerOptions = {}) {
    this.#lenient = o.lenient ?? false;
  }

  /** `tag`: anything the caller wants back on the messages this segment starts or ends (a thread id) */
  push(seg: Segment, tag = 0): DnsFrameEvent[] {
    const out: DnsFrameEvent[] = [];
    this.#lastExitNs = seg.exitNs;
    this.#lastTag = tag;
    if (seg.len <= 0) return out;
    const known = Math.min(seg.data.length, seg.len);
    if (!this.#synced) {
      const start = this.#startsHere(seg, known);
      if (start === undefined) {
        this.stats.skippedSegments++;
        return out;
      }
      this.#synced = true;
      this.#reset();
      if (start === 'bare') {
        this.#startTag = tag;
        this.#emit(out, parseDnsMessage(seg.data.subarray(0, known), seg.len), seg.enterNs, seg.exitNs);
        return out;
      }
    }
    const d = seg.data;
    let pos = 0;
    while (pos < seg.len) {
      if (this.#need === 0) {
        if (pos >= known) return this.#lose(out, undefined);
        const b = d[pos] ?? 0;
        pos++;
        if (this.#prefixHigh < 0) {
          this.#prefixHigh = b;
          this.#startNs = seg.enterNs;
          this.#startTag = tag;
          continue;
        }
        const size = (this.#prefixHigh << 8) | b;
        this.#prefixHigh = -1;
        if (size < HEADER_BYTES) return this.#lose(out, `length prefix ${size} is shorter than a header`);
        this.#size = this.#need = size;
        this.#gap = false;
        this.#buf.clear();
        continue;
      }
      const take = Math.min(this.#need, seg.len - pos);
      const have = Math.max(0, Math.min(known - pos, take));
      if (this.#buf.length === 0 && !this.#gap && take === this.#need && have === take) {
        // the whole rest of the message is here: parse it in place
        this.#need = 0;
        this.#emit(out, parseDnsMessage(d.subarray(pos, pos + take), this.#size), this.#startNs, seg.exitNs);
        pos += take;
        continue;
      }
      if (!this.#gap) {
        const room = this.#buf.limit - this.#buf.length;
        this.#buf.append(d.subarray(pos, pos + Math.min(have, room)));
        if (have < take || have > room) this.#gap = true;
      }
      pos += take;
      this.#need -= take;
      if (this.#need === 0) {
        // a message whose header was not even captured is lost to the capture, not malformed
        if (this.#buf.length >= HEADER_BYTES || !this.#gap) this.#emit(out, parseDnsMessage(this.#buf.view(), this.#size), this.#startNs, seg.exitNs);
        this.#buf.clear();
      }
    }
    return out;
  }

  /** The connection ended: a message cut short is reported from what was kept. */
  end(): DnsFrameEvent[] {
    const out: DnsFrameEvent[] = [];
    if (this.#synced && this.#need > 0 && this.#buf.length >= HEADER_BYTES) {
      this.#emit(out, parseDnsMessage(this.#buf.view(), this.#size), this.#startNs, this.#lastExitNs);
    }
    this.#synced = false;
    this.#reset();
    this.#buf.free();
    return out;
  }

  /** Does a message (with or without its prefix) start at this segment's first byte? */
  #startsHere(seg: Segment, known: number): 'prefixed' | 'bare' | undefined {
    const d = seg.data;
    if (known >= 2) {
      const size = ((d[0] ?? 0) << 8) | (d[1] ?? 0);
      const body = d.subarray(2, known);
      if (size >= HEADER_BYTES && looksLikeDns(body, size, 'strict')) return 'prefixed';
      if (looksLikeDns(d.subarray(0, known), seg.len, 'strict')) return 'bare';
      if (this.#lenient && size >= HEADER_BYTES && (known === 2 || looksLikeDns(body, size, 'plausible'))) return 'prefixed';
    }
    return undefined;
  }

  #emit(out: DnsFrameEvent[], r: ReturnType<typeof parseDnsMessage>, startNs: number, endNs: number): void {
    out.push(r.ok ? { kind: 'message', message: r.message, startNs, endNs, startTag: this.#startTag, endTag: this.#lastTag } : { kind: 'error', reason: r.reason });
  }

  #lose(out: DnsFrameEvent[], reason: string | undefined): DnsFrameEvent[] {
    this.stats.lostSync++;
    if (reason) out.push({ kind: 'error', reason });
    this.#synced = false;
    this.#reset();
    return out;
  }

  #reset(): void {
    this.#prefixHigh = -1;
    this.#size = 0;
    this.#need = 0;
    this.#gap = false;
    this.#buf.clear();
  }
}
