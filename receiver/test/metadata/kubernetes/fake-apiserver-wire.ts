/**
 * The Kubernetes wire details the fake API server needs: resource
 * definitions (group, kind, supported field selectors), Status objects as the
 * API server writes them, field/label selector matching, and paginated list
 * responses.
 *
 * Example:
 *   status(403, 'Forbidden', 'pods is forbidden: …')
 *   // { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: …, reason: 'Forbidden', code: 403 }
 *   selectorMatcher('pods', undefined, { fieldSelector: 'spec.nodeName=worker-1' })  // (pod) => boolean
 */
import { randomUUID } from 'node:crypto';

export type Resource = 'pods' | 'services' | 'nodes' | 'replicasets' | 'jobs';
export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export const DEFS: Record<Resource, { group: string; kind: string; namespaced: boolean; fields: string[] }> = {
  pods: { group: '', kind: 'Pod', namespaced: true, fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'] },
  services: { group: '', kind: 'Service', namespaced: true, fields: [] },
  nodes: { group: '', kind: 'Node', namespaced: false, fields: ['spec.unschedulable'] },
  replicasets: { group: 'apps', kind: 'ReplicaSet', namespaced: true, fields: ['status.replicas'] },
  jobs: { group: 'batch', kind: 'Job', namespaced: true, fields: ['status.successful'] },
};

export const key = (o: Obj): string => `${o['metadata']?.namespace ?? ''}/${o['metadata']?.name ?? ''}`;
export const clone = (o: Obj): Obj => JSON.parse(JSON.stringify(o)) as Obj;

export function status(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function field(o: Obj, path: string): string {
  let v: unknown = o;
  for (const p of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Obj)[p] : undefined;
  return v === undefined || v === null ? '' : String(v);
}

/** A predicate for field and label selectors (equality-based), or the 400 message a real server gives. */
export function selectorMatcher(resource: Resource, namespace: string | undefined, q: Record<string, string>): ((o: Obj) => boolean) | string {
  const tests: Array<(o: Obj) => boolean> = [];
  if (namespace) tests.push((o) => o['metadata']?.namespace === namespace);
  for (const term of (q['fieldSelector'] ?? '').split(',').filter(Boolean)) {
    const t = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
    if (!t) return `invalid selector: '${q['fieldSelector']}'; can't understand '${term}'`;
    const [, f = '', op, value] = t;
    if (!['metadata.name', 'metadata.namespace', ...DEFS[resource].fields].includes(f)) return `field label not supported: ${f}`;
    tests.push(op === '!=' ? (o) => field(o, f) !== value : (o) => field(o, f) === value);
  }
  for (const term of (q['labelSelector'] ?? '').split(',').filter(Boolean)) {
    const t = /^(!?)([\w./-]+)(?:(==|=|!=)(.*))?$/.exec(term);
    if (!t) return `unable to parse requirement: ${term}`;
    const [, not, k = '', op, value] = t;
    const label = (o: Obj): string | undefined => o['metadata']?.labels?.[k] as string | undefined;
    if (!op) tests.push(not ? (o) => label(o) === undefined : (o) => label(o) !== undefined);
    else tests.push(op === '!=' ? (o) => label(o) !== value : (o) => label(o) === value);
  }
  return (o) => tests.every((t) => t(o));
}


export type Snapshot = { rv: number; items: Obj[] };

/**
 * A list response: {kind: "<Kind>List", metadata: {resourceVersion}, items}
 * with items stripped of kind/apiVersion, as the API server sends them. With
 * `limit`, pages come from one snapshot (consistent, like etcd reads at a
 * revision) and a continue token; a token whose snapshot was compacted gets
 * 410 Expired.
 */
export function listResponse(resource: Resource, q: Record<string, string>, snapshots: Map<string, Snapshot>, current: () => Snapshot): { code: number; body: Obj } {
  const def = DEFS[resource];
  let snap: Snapshot;
  let offset = 0;
  if (q['continue']) {
    let token: { id?: string; offset?: number } = {};
    try {
      token = JSON.parse(Buffer.from(q['continue'], 'base64url').toString()) as typeof token;
    } catch {
      return { code: 400, body: status(400, 'BadRequest', 'continue key is not valid') };
    }
    const found = token.id ? snapshots.get(token.id) : undefined;
    if (!found) return { code: 410, body: status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.') };
    snap = found;
    offset = token.offset ?? 0;
  } else {
    snap = current();
  }
  const limit = Number(q['limit'] ?? 0);
  const page = limit > 0 ? snap.items.slice(offset, offset + limit) : snap.items.slice(offset);
  const metadata: Obj = { resourceVersion: String(snap.rv) };
  if (limit > 0 && offset + limit < snap.items.length) {
    const id = randomUUID();
    snapshots.set(id, snap);
    metadata['continue'] = Buffer.from(JSON.stringify({ id, offset: offset + limit })).toString('base64url');
    metadata['remainingItemCount'] = snap.items.length - offset - limit;
  }
  const items = page.map((o) => {
    if (o === null || typeof o !== 'object') return o;
    const { kind: _kind, apiVersion: _apiVersion, ...rest } = o;
    return rest;
  });
  return { code: 200, body: { kind: `${def.kind}List`, apiVersion: def.group ? `${def.group}/v1` : 'v1', metadata, items } };
}
