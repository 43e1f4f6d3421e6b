/**
 * The kernel's connection-tracking table (/proc/net/nf_conntrack), read on
 * demand: for a connection to a Kubernetes ClusterIP, the reply tuple names the
 * backend pod the traffic was translated to. Reads are rate-limited and the
 * parsed table is bounded; where the file does not exist, nothing is done.
 *
 * Example:
 *   const ct = new Conntrack();
 *   ct.backend({ addr: '10.0.0.7', port: 41000 }, { addr: '10.96.0.10', port: 80 }); // { addr: '10.244.1.5', port: 8080 }
 */
import * as fs from 'node:fs';
import type { Endpoint } from '../conn/connection';

export interface ConntrackEntry {
  original: { src: string; dst: string; sport: number; dport: number };
  reply: { src: string; dst: string; sport: number; dport: number };
}

const TUPLE = /src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/g;

/** Parse one nf_conntrack line (TCP and UDP, IPv4 and IPv6); undefined for anything else. */
export function parseConntrackLine(line: string): ConntrackEntry | undefined {
  const tuples: ConntrackEntry['original'][] = [];
  for (const m of line.matchAll(TUPLE)) {
    if (m[1] && m[2] && m[3] && m[4]) tuples.push({ src: normalise(m[1]), dst: normalise(m[2]), sport: Number(m[3]), dport: Number(m[4]) });
  }
  const [original, reply] = tuples;
  return original && reply ? { original, reply } : undefined;
}

/** nf_conntrack prints IPv6 fully expanded; compare in the compressed form the rest of Kindling uses */
function normalise(addr: string): string {
  if (!addr.includes(':')) return addr;
  const groups = addr.split(':').map((g) => parseInt(g, 16).toString(16));
  const text = groups.join(':');
  const runs = [...text.matchAll(/(^|:)0(:0)+(:|$)/g)];
  const longest = runs.sort((a, b) => b[0].length - a[0].length)[0];
  return longest ? text.replace(longest[0], '::') : text;
}

const key = (src: string, sport: number, dst: string, dport: number): string => `${src}:${sport}>${dst}:${dport}`;

export class Conntrack {
  readonly #file: string;
  readonly #minIntervalMs: number;
  readonly #maxEntries: number;
  #table = new Map<string, Endpoint>();
  #readAt = 0;
  readonly available: boolean;
  reads = 0;

  constructor(o: { file?: string; minIntervalMs?: number; maxEntries?: number } = {}) {
    this.#file = o.file ?? '/proc/net/nf_conntrack';
    this.#minIntervalMs = o.minIntervalMs ?? 2000;
    this.#maxEntries = o.maxEntries ?? 262_144;
    this.available = fs.existsSync(this.#file);
  }

  status(): string {
    return this.available ? `conntrack: ${this.#file}` : 'conntrack: not available (no /proc/net/nf_conntrack)';
  }

  /** The translated destination of local -> remote, when NAT rewrote it (a ClusterIP to a pod). */
  backend(local: Endpoint, remote: Endpoint, nowMs: number = Date.now()): Endpoint | undefined {
    if (!this.available) return undefined;
    const k = key(local.addr, local.port, remote.addr, remote.port);
    let hit = this.#table.get(k);
    if (!hit && nowMs - this.#readAt >= this.#minIntervalMs) {
      this.#reload(nowMs);
      hit = this.#table.get(k);
    }
    return hit;
  }

  #reload(nowMs: number): void {
    this.#readAt = nowMs;
    let text: string;
    try {
      text = fs.readFileSync(this.#file, 'latin1');
    } catch {
      return;
    }
    this.reads++;
    const table = new Map<string, Endpoint>();
    for (const line of text.split('\n')) {
      if (table.size >= this.#maxEntries) break;
      const e = parseConntrackLine(line);
      if (!e) continue;
      // only translated connections matter: the reply comes from someone other than the original destination
      if (e.reply.src === e.original.dst && e.reply.sport === e.original.dport) continue;
      table.set(key(e.original.src, e.original.sport, e.original.dst, e.original.dport), { addr: e.reply.src, port: e.reply.sport });
    }
    this.#table = table;
  }
}
