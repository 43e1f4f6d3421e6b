/**
 * DNS peers for the tests and the fixture recorder: dnsmasq on loopback with
 * local records only (offline), dig, and a run inside a private network and
 * mount namespace where dnsmasq serves port 53 and /etc/resolv.conf points at
 * it, so that glibc's own resolver (getent, getaddrinfo) can be driven.
 *
 * Example:
 *   const dns = await startDnsmasq({ port: await freePort() });
 *   const r = await dig(c, dns.port, ['+tcp', 'web.test', 'A']);
 *   await dns.close();
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import { packageRoot } from '../../src/util/paths';
import { run } from '../helpers/commands';
import type { Run } from '../helpers/commands';
import { freePort as freeTcpPort } from '../helpers/ports';

export const programPath = (name: string): string => path.join(packageRoot(), 'receiver', 'test', 'programs', name);

/** An authoritative dnsmasq for auth.test on 127.0.0.1 (SOA, NS; REFUSED for any other name): give it its own port. */
export const AUTH_ZONE = [
  '--auth-server=ns1.auth.test,127.0.0.1',
  '--auth-zone=auth.test',
  '--auth-soa=2024,hostmaster.auth.test',
  '--host-record=web.auth.test,127.0.0.9',
];

/** The local records every test dnsmasq serves (names under .test: unknown ones get NXDOMAIN). */
export const DNSMASQ_RECORDS = [
  '--address=/svc.test/10.9.9.9',
  // a loopback address the tests listen on: later connections to it carry the name
  '--host-record=web.test,127.0.0.2',
  '--host-record=dual.test,10.1.2.3,fd00::5',
  '--cname=alias.test,dual.test',
  '--cname=chain.test,alias.test',
  '--mx-host=mail.test,web.test,10',
  '--txt-record=txt.test,v=kindling1,second',
  '--srv-host=_http._tcp.web.test,web.test,8080,1,5',
  ...Array.from({ length: 40 }, (_, i) => `--address=/many.test/10.0.1.${i + 1}`),
  '--local=/test/',
  '--local-ttl=60',
];

export function dnsmasqArgs(address: string, port: number, extra: string[] = []): string[] {
  return [
    '--keep-in-foreground',
    '--no-daemon',
    '--no-resolv',
    '--no-hosts',
    `--listen-address=${address}`,
    '--bind-interfaces',
    `--port=${port}`,
    '--pid-file=',
    '--user=root',
    '--log-facility=-',
    ...DNSMASQ_RECORDS,
    ...extra,
  ];
}

export interface Dnsmasq {
  pid: number;
  port: number;
  address: string;
  close(): Promise<void>;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** dnsmasq in the foreground, resolved once it logged that it started. */
export function startDnsmasq(o: { port: number; address?: string; extra?: string[] }): Promise<Dnsmasq> {
  const address = o.address ?? '127.0.0.1';
  const child = spawn('dnsmasq', dnsmasqArgs(address, o.port, o.extra), { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (!/dnsmasq(\[\d+\])?: started/.test(log)) return;
      child.stderr?.off('data', onData);
      child.stderr?.resume();
      resolve({ pid: child.pid ?? 0, port: o.port, address, close: () => stop(child) });
    };
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dnsmasq exited ${code}: ${log}`)));
  });
}

/** A port free for both UDP and TCP on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await freeTcpPort();
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

export { run };
export type { Run };

/** dig at 127.0.0.1:port, one try, a short timeout. */
export function dig(port: number, args: string[], onSpawn?: (c: ChildProcess) => void): Promise<Run> {
  return run('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=2', ...args], onSpawn);
}

export interface NetnsRun {
  dnsmasqPid: number;
  /** the further dnsmasq instances, in the order asked */
  morePids: number[];
  /** each step: its command, pid and output */
  steps: { cmd: string[]; pid: number; code: number | null; stdout: string }[];
}

/**
 * Runs `steps` (commands) one after the other in a new network and mount
 * namespace whose /etc/resolv.conf names a dnsmasq on 127.0.0.1:53 there.
 * Process ids are the host's (no pid namespace), so the agent's spans match them.
 */
export async function runInNetns(steps: string[][], o: { more?: { port: number; args: string[] }[]; onSpawn?: (c: ChildProcess) => void } = {}): Promise<NetnsRun> {
  const more = (o.more ?? []).map((m) => dnsmasqArgs('127.0.0.1', m.port, m.args));
  const spec = { dnsmasq: dnsmasqArgs('127.0.0.1', 53), more, steps };
  const r = await run('unshare', ['--net', '--mount', '--', process.execPath, programPath('dns-netns.js'), JSON.stringify(spec)], o.onSpawn);
  return JSON.parse(r.stdout) as NetnsRun;
}
