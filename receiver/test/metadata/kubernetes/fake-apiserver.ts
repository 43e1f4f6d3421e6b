/**
 * A local Kubernetes API server speaking the list/watch wire format over TLS,
 * for tests of code that uses @kubernetes/client-node. What it mirrors:
 *  - paths /api/v1/{pods,services,nodes}, /apis/apps/v1/replicasets,
 *    /apis/batch/v1/jobs, cluster-wide and /namespaces/{ns}/…; GET only;
 *  - bearer-token auth (401), per-resource RBAC denial (403), unknown paths
 *    (404), bad selectors or resourceVersions (400) — all as Status objects;
 *  - one global resourceVersion counter (etcd revision) stamped on every write;
 *  - lists: {kind: "PodList", metadata: {resourceVersion}, items} with items
 *    without kind/apiVersion, limit/continue pagination over a consistent
 *    snapshot, 410 Expired for a continue token older than the compaction;
 *  - watches: chunked newline-delimited {type, object}; resourceVersion ""/"0"
 *    starts with synthetic ADDED events for the current state, N replays the
 *    history after N, a compacted N gets ERROR 410 "Expired" and the stream
 *    ends; fieldSelector/labelSelector filter (an object that stops matching
 *    is DELETED, one that starts matching is ADDED); allowWatchBookmarks gets
 *    BOOKMARK events; timeoutSeconds ends the stream cleanly.
 * What it does not: protobuf, resourceVersionMatch, sendInitialEvents, field
 * selectors beyond the common ones, set-based label selectors, admission or
 * validation of objects (tests inject malformed ones on purpose), server-side
 * apply, discovery endpoints, HTTP/2.
 *
 * Example:
 *   const api = new FakeApiServer({ token: 't' });
 *   const url = await api.listen();
 *   api.create('pods', pod);           // ADDED to open watches
 *   api.dropWatches();                 // destroy the sockets of open watches
 */
import { randomUUID } from 'node:crypto';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { clone, DEFS, key, listResponse, selectorMatcher, status } from './fake-apiserver-wire';
import type { EventType, Obj, Resource } from './fake-apiserver-wire';
import { TEST_CA_CERT, TEST_KEY } from './fixtures/tls';

export type { Resource } from './fake-apiserver-wire';

interface LogEntry {
  rv: number;
  resource: Resource;
  type: EventType;
  object: Obj;
  prev?: Obj;
  raw?: boolean;
}

interface Watcher {
  resource: Resource;
  namespace?: string;
  match: (o: Obj) => boolean;
  res: ServerResponse;
  socket: Socket;
  timers: NodeJS.Timeout[];
}

export interface RequestRecord {
  path: string;
  resource?: Resource;
  watch: boolean;
  query: Record<string, string>;
}

export interface FakeApiServerOptions {
  token: string;
  /** BOOKMARK every this many ms on watches that allow them (0: never) */
  bookmarkIntervalMs?: number;
  /** events kept for watch resumption; older resourceVersions get 410 */
  historyLimit?: number;
}

export class FakeApiServer {
  readonly requests: RequestRecord[] = [];
  readonly #o: Required<FakeApiServerOptions>;
  readonly #server: https.Server;
  readonly #objects = new Map<Resource, Map<string, Obj>>();
  readonly #log: LogEntry[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #forbidden = new Set<Resource>();
  readonly #snapshots = new Map<string, { rv: number; items: Obj[] }>();
  readonly #raw: Array<{ resource: Resource; object: Obj }> = [];
  #pending: Array<() => void> | undefined;
  #expireAll = false;
  #rv = 1000;
  #compactedRv = 0;

  constructor(o: FakeApiServerOptions) {
    this.#o = { bookmarkIntervalMs: 0, historyLimit: 100_000, ...o };
    this.#server = https.createServer({ cert: TEST_CA_CERT, key: TEST_KEY }, (req, res) => {
      if (this.#pending) this.#pending.push(() => this.#handle(req, res));
      else this.#handle(req, res);
    });
    for (const r of Object.keys(DEFS) as Resource[]) this.#objects.set(r, new Map());
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#pending = undefined;
    this.dropWatches();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ── state ──────────────────────────────────────────────────────────────

  get resourceVersion(): number {
    return this.#rv;
  }

  create(resource: Resource, object: Obj): Obj {
    const o = clone(object);
    o['metadata'] ??= {};
    o['metadata'].uid ??= randomUUID();
    o['metadata'].creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return this.#write(resource, 'ADDED', o);
  }

  update(resource: Resource, object: Obj): Obj {
    const prev = this.#objects.get(resource)?.get(key(object));
    if (!prev) throw new Error(`update of unknown ${resource} ${key(object)}`);
    const o = clone(object);
    o['metadata'].uid = prev['metadata'].uid;
    o['metadata'].creationTimestamp = prev['metadata'].creationTimestamp;
    return this.#write(resource, 'MODIFIED', o, prev);
  }

  delete(resource: Resource, namespace: string, name: string): void {
    const prev = this.#objects.get(resource)?.get(`${namespace}/${name}`);
    if (!prev) throw new Error(`delete of unknown ${resource} ${namespace}/${name}`);
    this.#write(resource, 'DELETED', clone(prev), prev);
  }

  get(resource: Resource, namespace: string, name: string): Obj | undefined {
    const o = this.#objects.get(resource)?.get(`${namespace}/${name}`);
    return o ? clone(o) : undefined;
  }

  /**
   * Stores and streams an object as is — no uid or resourceVersion stamped,
   * selectors bypassed — for malformed-input tests (a real server validates).
   */
  createRaw(resource: Resource, object: unknown): void {
    this.#raw.push({ resource, object: object as Obj });
    this.#rv++;
    this.#append({ rv: this.#rv, resource, type: 'ADDED', object: object as Obj, raw: true });
  }

  /** Writes one raw line (anything) to the open watches of a resource. */
  sendRawLine(resource: Resource, line: string): void {
    for (const w of this.#watchers) if (w.resource === resource) w.res.write(`${line}\n`);
  }

  #write(resource: Resource, type: EventType, o: Obj, prev?: Obj): Obj {
    this.#rv++;
    o['kind'] = DEFS[resource].kind;
    o['apiVersion'] = DEFS[resource].group ? `${DEFS[resource].group}/v1` : 'v1';
    o['metadata'].resourceVersion = String(this.#rv);
    const store = this.#objects.get(resource);
    if (type === 'DELETED') store?.delete(key(o));
    else store?.set(key(o), o);
    this.#append({ rv: this.#rv, resource, type, object: o, ...(prev ? { prev } : {}) });
    return clone(o);
  }

  #append(e: LogEntry): void {
    this.#log.push(e);
    if (this.#log.length > this.#o.historyLimit) this.#compactedRv = this.#log.splice(0, this.#log.length - this.#o.historyLimit).at(-1)?.rv ?? this.#compactedRv;
    for (const w of this.#watchers) if (w.resource === e.resource) this.#send(w, e);
  }

  // ── failure injection ──────────────────────────────────────────────────

  /** Forgets all history: watches resuming from an older resourceVersion get 410. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#log.length = 0;
    this.#snapshots.clear();
  }

  /** Sends ERROR 410 Expired on open watches and ends them, as a lagging watch cache does. */
  expireWatches(resource?: Resource): void {
    for (const w of [...this.#watchers]) {
      if (resource && w.resource !== resource) continue;
      w.res.write(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${this.#compactedRv} (${this.#rv})`) })}\n`);
      this.#endWatch(w);
    }
  }

  /** Destroys the sockets of open watches mid-stream. */
  dropWatches(resource?: Resource): void {
    for (const w of [...this.#watchers]) if (!resource || w.resource === resource) w.socket.destroy();
  }

  /** While on, every watch gets ERROR 410 at once and ends (a broken watch cache). */
  expireEveryWatch(on: boolean): void {
    this.#expireAll = on;
  }

  forbid(resource: Resource, on = true): void {
    if (on) this.#forbidden.add(resource);
    else this.#forbidden.delete(resource);
  }

  /** While on, requests are accepted and never answered; turning it off answers them. */
  hang(on: boolean): void {
    if (on) {
      this.#pending ??= [];
      return;
    }
    const p = this.#pending ?? [];
    this.#pending = undefined;
    for (const f of p) f();
  }

  openWatches(resource?: Resource): number {
    return [...this.#watchers].filter((w) => !resource || w.resource === resource).length;
  }

  // ── HTTP ───────────────────────────────────────────────────────────────

  #reply(res: ServerResponse, code: number, body: Obj): void {
    if (res.destroyed) return;
    res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.end(JSON.stringify(body));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const q = Object.fromEntries(url.searchParams);
    const m = /^\/(?:api\/v1|apis\/(apps|batch)\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)$/.exec(url.pathname);
    const resource = m?.[3] as Resource | undefined;
    const isWatch = q['watch'] === 'true' || q['watch'] === '1';
    this.requests.push({ path: url.pathname, ...(resource && resource in DEFS ? { resource } : {}), watch: isWatch, query: q });
    if (req.headers.authorization !== `Bearer ${this.#o.token}`) return this.#reply(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (!m || !resource || !(resource in DEFS) || DEFS[resource].group !== (m[1] ?? '')) {
      return this.#reply(res, 404, status(404, 'NotFound', 'the server could not find the requested resource', {}));
    }
    const def = DEFS[resource];
    const namespace = m[2];
    if (req.method !== 'GET') return this.#reply(res, 405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    if (this.#forbidden.has(resource)) {
      const verb = isWatch ? 'watch' : 'list';
      const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
      const msg = `${resource} is forbidden: User "system:serviceaccount:kindling:kindling" cannot ${verb} resource "${resource}" in API group "${def.group}" ${scope}`;
      return this.#reply(res, 403, status(403, 'Forbidden', msg, { kind: resource }));
    }
    const match = selectorMatcher(resource, namespace, q);
    if (typeof match === 'string') return this.#reply(res, 400, status(400, 'BadRequest', match));
    const rvParam = q['resourceVersion'] ?? '';
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) return this.#reply(res, 400, status(400, 'BadRequest', `resourceVersion: Invalid value: "${rvParam}": strconv.ParseUint: parsing "${rvParam}": invalid syntax`));
    if (isWatch) return this.#watch(req, res, resource, namespace, match, q);
    return this.#list(res, resource, match, q);
  }

  #list(res: ServerResponse, resource: Resource, match: (o: Obj) => boolean, q: Record<string, string>): void {
    const current = (): { rv: number; items: Obj[] } => {
      const items = [...(this.#objects.get(resource)?.values() ?? [])].filter(match).sort((a, b) => (key(a) < key(b) ? -1 : 1));
      for (const r of this.#raw) if (r.resource === resource) items.push(r.object);
      return { rv: this.#rv, items };
    };
    const { code, body } = listResponse(resource, q, this.#snapshots, current);
    this.#reply(res, code, body);
  }

  #watch(req: IncomingMessage, res: ServerResponse, resource: Resource, namespace: string | undefined, match: (o: Obj) => boolean, q: Record<string, string>): void {
    const rv = q['resourceVersion'] ?? '';
    const w: Watcher = { resource, ...(namespace ? { namespace } : {}), match, res, socket: req.socket, timers: [] };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    if (this.#expireAll || (rv !== '' && rv !== '0' && Number(rv) < this.#compactedRv)) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${rv} (${this.#rv})`) })}\n`);
      return;
    }
    this.#watchers.add(w);
    req.on('close', () => this.#endWatch(w));
    if (rv === '' || rv === '0') {
      const current = [...(this.#objects.get(resource)?.values() ?? [])].sort((a, b) => (key(a) < key(b) ? -1 : 1));
      for (const o of current) if (w.match(o)) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
      for (const r of this.#raw) if (r.resource === resource) res.write(`${JSON.stringify({ type: 'ADDED', object: r.object })}\n`);
    } else {
      for (const e of this.#log) if (e.rv > Number(rv) && e.resource === resource) this.#send(w, e);
    }
    const timeout = Number(q['timeoutSeconds'] ?? 0);
    if (timeout > 0) w.timers.push(setTimeout(() => this.#endWatch(w), timeout * 1000));
    if ((q['allowWatchBookmarks'] === 'true' || q['allowWatchBookmarks'] === '1') && this.#o.bookmarkIntervalMs > 0) {
      const def = DEFS[resource];
      const bookmark = (): void => {
        const object = { kind: def.kind, apiVersion: def.group ? `${def.group}/v1` : 'v1', metadata: { resourceVersion: String(this.#rv) } };
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
      };
      w.timers.push(setInterval(bookmark, this.#o.bookmarkIntervalMs));
    }
  }

  #send(w: Watcher, e: LogEntry): void {
    const now = e.raw === true || w.match(e.object);
    const before = e.prev !== undefined && w.match(e.prev);
    let type: EventType | undefined;
    if (e.type === 'ADDED') type = now ? 'ADDED' : undefined;
    else if (e.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else type = before && now ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    if (type && !w.res.destroyed) w.res.write(`${JSON.stringify({ type, object: e.object })}\n`);
  }

  #endWatch(w: Watcher): void {
    if (!this.#watchers.delete(w)) return;
    for (const t of w.timers) clearTimeout(t);
    if (!w.res.destroyed) w.res.end();
  }
}
