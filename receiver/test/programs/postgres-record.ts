/**
 * Records the PostgreSQL fixtures from a real server (root: it loads the BPF
 * programs): psql (libpq) and the raw client in postgres-client.js against a
 * throwaway PostgreSQL 15, captured with the default 512-byte payload prefix.
 * Writes
 *   receiver/test/fixtures/postgres.kdcap                    the raw records, for the replay test
 *   receiver/test/protocols/fixtures/postgres-recorded-*.ts  each connection's segments, both ends
 * Regenerate after an ABI change:
 *   npm run build && node dist/receiver/test/programs/postgres-record.js
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kind } from '../../src/events/abi';
import { decodeBatch } from '../../src/events/decode';
import { SockEvent } from '../../src/events/types';
import { EbpfSource } from '../../src/source/ebpf-source';
import { RecordingWriter, countRecords } from '../../src/source/recording';
import { packageRoot } from '../../src/util/paths';
import { PASSWORDS, psqlTcp, run, startPostgres } from './postgres-cluster';
import type { CmdResult, PgCluster } from './postgres-cluster';

export const PG_FIXTURE = (): string => path.join(packageRoot(), 'receiver', 'test', 'fixtures', 'postgres.kdcap');
const FIXTURE_DIR = path.join(packageRoot(), 'receiver', 'test', 'protocols', 'fixtures');
const CLIENT = path.join(packageRoot(), 'receiver', 'test', 'programs', 'postgres-client.js');

export interface RecordedScenario {
  name: string;
  /** the client process */
  pid: number;
  tool: 'psql' | 'postgres-client';
}

/** [direction ('e' egress, 'i' ingress), captured payload (base64), true length] */
export type RecordedSegment = [dir: 'e' | 'i', payload: string, len: number];

export interface RecordedConnection {
  name: string;
  /** the client's reads and writes, then the postgres backend's, each in order */
  client: RecordedSegment[];
  server: RecordedSegment[];
}

const ok = (r: CmdResult, what: string): number => {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r.pid;
};

/** The traffic itself; each entry is one client process with one connection. */
export async function runPgScenarios(pg: PgCluster): Promise<RecordedScenario[]> {
  const out: RecordedScenario[] = [];
  const psql = async (name: string, conninfo: string, sql: string): Promise<void> => {
    out.push({ name, pid: ok(await psqlTcp(pg.port, conninfo, ['-c', sql]), name), tool: 'psql' });
  };
  const client = async (name: string, scenario: string): Promise<void> => {
    out.push({ name, pid: ok(await run(process.execPath, [CLIENT, String(pg.port), scenario]), name), tool: 'postgres-client' });
  };
  await psql('trust, SSL refused, two statements in one query', 'user=postgres sslmode=prefer', 'SELECT 1 AS one; SELECT 2 AS two');
  await psql('md5 password', `user=md5user password=${PASSWORDS.md5user} sslmode=disable`, 'SELECT current_user');
  await psql('SCRAM password', `user=scramuser password=${PASSWORDS.scramuser} sslmode=disable`, 'SELECT 42 AS answer');
  await client('extended protocol', 'extended');
  await client('errors', 'errors');
  await client('COPY in and out', 'copy');
  await psql('5000 rows', 'user=postgres sslmode=disable', 'SELECT generate_series(1, 5000)');
  await client('cancel request', 'cancel');
  await pg.setSsl(true);
  await psql('SSL accepted', 'user=postgres sslmode=require', 'SELECT 1');
  await pg.setSsl(false);
  return out;
}

const FILES: Record<string, string[]> = {
  'postgres-recorded-startup.ts': ['trust, SSL refused, two statements in one query', 'md5 password', 'SCRAM password', 'SSL accepted', 'cancel request'],
  'postgres-recorded-extended.ts': ['extended protocol', 'errors', 'COPY in and out'],
  'postgres-recorded-rows.ts': ['5000 rows'],
};

function connections(events: SockEvent[], port: number, scenarios: RecordedScenario[]): RecordedConnection[] {
  const seg = (e: SockEvent): RecordedSegment => [e.direction === 1 ? 'e' : 'i', Buffer.from(e.payload).toString('base64'), e.len];
  return scenarios.map((s) => {
    let mine = events.filter((e) => e.pid === s.pid && e.remotePort === port);
    const clientPort = mine[0]?.localPort;
    if (clientPort === undefined) throw new Error(`${s.name}: no client events`);
    let server = events.filter((e) => e.localPort === port && e.remotePort === clientPort);
    if (s.name === 'SSL accepted') {
      // SSLRequest, 'S', then TLS: a few of its records are enough
      mine = mine.slice(0, 5);
      server = server.slice(0, 5);
    } else if (s.name !== '5000 rows' && [...mine, ...server].some((e) => e.payload.length < e.len)) throw new Error(`${s.name}: a segment was truncated`);
    return { name: s.name, client: mine.map(seg), server: server.map(seg) };
  });
}

function writeModule(file: string, conns: RecordedConnection[]): void {
  const body = conns.map((c) => `  {\n    name: ${JSON.stringify(c.name)},\n    client: ${JSON.stringify(c.client)},\n    server: ${JSON.stringify(c.server)},\n  },`).join('\n');
  const text =
    `// Recorded by receiver/test/programs/postgres-record.ts from PostgreSQL 15 (do not edit):\n` +
    `// each connection's segments as [direction, captured payload (base64), true length].\n` +
    `import type { RecordedConnection } from '../../programs/postgres-record';\n\n` +
    `export const RECORDED: RecordedConnection[] = [\n${body}\n];\n`;
  fs.writeFileSync(path.join(FIXTURE_DIR, file), text);
}

async function main(): Promise<void> {
  const pg = await startPostgres({ passwords: true, sslCert: true });
  const batches: Uint8Array[] = [];
  const events: SockEvent[] = [];
  const source = new EbpfSource({ port: pg.port });
  let scenarios: RecordedScenario[];
  try {
    await source.start((b) => void batches.push(Buffer.from(b.raw)));
    scenarios = await runPgScenarios(pg);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await source.stop();
    await pg.close();
  }
  for (const b of batches) for (const e of decodeBatch(b).events) if (e instanceof SockEvent && e.kind === Kind.SockData) events.push(e);
  const conns = connections(events, pg.port, scenarios);
  for (const [file, names] of Object.entries(FILES)) writeModule(file, conns.filter((c) => names.includes(c.name)));
  const w = new RecordingWriter(PG_FIXTURE(), { createdAt: new Date().toISOString(), host: 'fixture', kernel: os.release(), payloadBytes: 512, meta: { port: pg.port, scenarios } });
  for (const b of batches) w.write(b, countRecords(b));
  w.close();
  process.stdout.write(`wrote ${PG_FIXTURE()} (${w.records} records) and ${Object.keys(FILES).join(', ')}\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`postgres-record: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
