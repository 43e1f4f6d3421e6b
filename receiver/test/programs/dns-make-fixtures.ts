/**
 * Records the DNS fixtures from real traffic, as root: dnsmasq 2.90 answering
 * dig 9.18 and glibc's resolver (getent) in a private network namespace, seen by
 * the agent's own capture.
 *   - receiver/test/protocols/fixtures/dns-wire-{udp,tcp,records,large}.ts: every syscall's bytes of
 *     each exchange (4096-byte captures: whole messages), with what dig printed
 *     about them (the parser tests' oracle);
 *   - receiver/test/fixtures/dns.kdcap: the same scenario captured with the
 *     default 512-byte payloads, replayed by dns-replay.test.ts without root.
 * Regenerate after an ABI change:
 *   npm run build && node dist/receiver/test/programs/dns-make-fixtures.js
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kind, SOCK_EVENT } from '../../src/events/abi';
import { align8, decodeBatch } from '../../src/events/decode';
import { SockEvent } from '../../src/events/types';
import { EbpfSource } from '../../src/source/ebpf-source';
import { RecordingWriter, countRecords } from '../../src/source/recording';
import { packageRoot } from '../../src/util/paths';
import { AUTH_ZONE, runInNetns } from './dns-peers';
import type { NetnsRun } from './dns-peers';

export const DNS_CAPTURE = (): string => path.join(packageRoot(), 'receiver', 'test', 'fixtures', 'dns.kdcap');
const WIRE_DIR = (): string => path.join(packageRoot(), 'receiver', 'test', 'protocols', 'fixtures');

const DIG = ['dig', '+tries=1', '+time=2', '+nocmd', '+nostats'];

/** The scenario: each step one client process; `group` picks the fixture module it goes to. */
export const DNS_STEPS: { name: string; group: 'udp' | 'tcp' | 'records' | 'large'; cmd: string[] }[] = [
  { name: 'udp A', group: 'udp', cmd: [...DIG, '@127.0.0.1', 'svc.test', 'A'] },
  { name: 'tcp A', group: 'tcp', cmd: [...DIG, '@127.0.0.1', '+tcp', 'web.test', 'A'] },
  { name: 'udp AAAA', group: 'udp', cmd: [...DIG, '@127.0.0.1', 'dual.test', 'AAAA'] },
  { name: 'udp CNAME chain', group: 'udp', cmd: [...DIG, '@127.0.0.1', 'chain.test', 'A'] },
  { name: 'udp NXDOMAIN', group: 'udp', cmd: [...DIG, '@127.0.0.1', 'nope.test', 'A'] },
  { name: 'udp MX', group: 'records', cmd: [...DIG, '@127.0.0.1', 'mail.test', 'MX'] },
  { name: 'udp TXT', group: 'records', cmd: [...DIG, '@127.0.0.1', 'txt.test', 'TXT'] },
  { name: 'udp SRV', group: 'records', cmd: [...DIG, '@127.0.0.1', '_http._tcp.web.test', 'SRV'] },
  { name: 'udp PTR', group: 'records', cmd: [...DIG, '@127.0.0.1', '-x', '10.1.2.3'] },
  { name: 'udp 40 A records (678 bytes)', group: 'large', cmd: [...DIG, '@127.0.0.1', 'many.test', 'A'] },
  { name: 'udp no EDNS', group: 'udp', cmd: [...DIG, '@127.0.0.1', '+noedns', 'svc.test', 'A'] },
  { name: 'udp HTTPS, no data', group: 'udp', cmd: [...DIG, '@127.0.0.1', 'web.test', 'HTTPS'] },
  { name: 'tcp two queries on one connection', group: 'tcp', cmd: [...DIG, '@127.0.0.1', '+tcp', '+keepopen', 'web.test', 'A', 'chain.test', 'AAAA'] },
  { name: 'tcp 40 A records', group: 'large', cmd: [...DIG, '@127.0.0.1', '+tcp', 'many.test', 'A'] },
  { name: 'udp SOA (authoritative)', group: 'records', cmd: [...DIG, '@127.0.0.1', '-p', '5300', 'auth.test', 'SOA'] },
  { name: 'udp NS (authoritative)', group: 'records', cmd: [...DIG, '@127.0.0.1', '-p', '5300', 'auth.test', 'NS'] },
  { name: 'udp NXDOMAIN with SOA in authority', group: 'records', cmd: [...DIG, '@127.0.0.1', '-p', '5300', 'nope.auth.test', 'A'] },
  { name: 'udp REFUSED', group: 'udp', cmd: [...DIG, '@127.0.0.1', '-p', '5300', 'svc.test', 'A'] },
  { name: 'glibc A+AAAA in one sendmmsg', group: 'tcp', cmd: ['getent', 'ahosts', 'dual.test'] },
];

const MORE = [{ port: 5300, args: AUTH_ZONE }];

/** Runs the scenario under a capture; returns the run and its processes' socket records, batch by batch. */
async function capture(payloadBytes: number): Promise<{ batches: Buffer[]; run: NetnsRun }> {
  let batches: Buffer[] = [];
  // no port filter (the resolvers listen on 53 and 5300): records are kept by process below
  const source = new EbpfSource({ payloadBytes });
  await source.start((b) => batches.push(Buffer.from(b.raw)));
  let run: NetnsRun;
  try {
    run = await runInNetns(
      DNS_STEPS.map((s) => s.cmd),
      { more: MORE },
    );
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await source.stop();
  }
  const pids = new Set([run.dnsmasqPid, ...run.morePids, ...run.steps.map((s) => s.pid)]);
  batches = batches.map((b) => onlyPids(b, pids)).filter((b) => b.length > 0);
  return { batches, run };
}

/** The socket records of these processes, in order (other records dropped). */
function onlyPids(raw: Buffer, pids: Set<number>): Buffer {
  const keep: Buffer[] = [];
  for (let at = 0; at + 4 <= raw.length; ) {
    const kind = raw.readUInt16LE(at);
    const size = raw.readUInt16LE(at + 2);
    if (size < 4) break;
    const socket = kind === Kind.SockData || kind === Kind.SockConn;
    if (socket && pids.has(raw.readUInt32LE(at + SOCK_EVENT.pid[0]))) keep.push(raw.subarray(at, at + align8(size)));
    at += align8(size);
  }
  return Buffer.concat(keep);
}

interface Seg {
  dir: 'egress' | 'ingress';
  hook: string;
  /** which of the process's sockets (0, 1, ...) */
  sock: number;
  len: number;
  hex: string;
}

function segments(events: SockEvent[]): Seg[] {
  const socks: number[] = [];
  return events.map((e) => {
    if (!socks.includes(e.sockId)) socks.push(e.sockId);
    return { dir: e.direction === 1 ? 'egress' : 'ingress', hook: e.hookName, sock: socks.indexOf(e.sockId), len: e.len, hex: Buffer.from(e.payload).toString('hex') };
  });
}

function wireModule(fixtures: unknown[], which: string): string {
  return `// Generated by receiver/test/programs/dns-make-fixtures.ts (${which}): real dnsmasq and dig/glibc
// bytes, one entry per client process; do not edit by hand.
import type { DnsWireFixture } from './dns-wire-types';

export const ${which.toUpperCase()}_FIXTURES: DnsWireFixture[] = ${JSON.stringify(fixtures, null, 1).replace(/\n\s*/g, ' ')};
`.replace(/\}, \{ "name"/g, '},\n { "name"');
}

async function main(): Promise<void> {
  const full = await capture(4096);
  const events = full.batches.flatMap((b) => decodeBatch(b).events.filter((e): e is SockEvent => e instanceof SockEvent && e.kind === Kind.SockData));
  const servers = new Set([full.run.dnsmasqPid, ...full.run.morePids]);
  const fixtures = DNS_STEPS.map((s, i) => {
    const step = full.run.steps[i];
    if (!step || step.code !== 0) throw new Error(`step ${s.name} failed: ${JSON.stringify(step)}`);
    const mine = events.filter((e) => e.pid === step.pid);
    const ends = new Set(mine.map((e) => `${e.localAddr}:${e.localPort}`));
    const theirs = events.filter((e) => servers.has(e.pid) && ends.has(`${e.remoteAddr}:${e.remotePort}`));
    return { name: s.name, transport: mine[0]?.protocol === 6 ? 'tcp' : 'udp', cmd: s.cmd, output: step.stdout, client: segments(mine), server: segments(theirs) };
  });
  for (const g of ['udp', 'tcp', 'records', 'large'] as const) {
    const mine = fixtures.filter((_, i) => DNS_STEPS[i]?.group === g);
    fs.writeFileSync(path.join(WIRE_DIR(), `dns-wire-${g}.ts`), wireModule(mine, g));
  }

  const small = await capture(512);
  const w = new RecordingWriter(DNS_CAPTURE(), {
    createdAt: new Date().toISOString(),
    host: 'fixture',
    kernel: os.release(),
    payloadBytes: 512,
    meta: { run: small.run, steps: DNS_STEPS.map((s) => s.name) },
  });
  for (const b of small.batches) w.write(b, countRecords(b));
  w.close();
  process.stdout.write(`wrote ${fixtures.length} wire fixtures and ${DNS_CAPTURE()} (${w.records} records)\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
