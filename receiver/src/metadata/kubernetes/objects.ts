/**
 * Kubernetes objects reduced to the few fields identity needs. Objects come
 * from two places with different shapes: list responses (deserialized into the
 * client's model classes) and watch events (raw JSON). Both are read the same
 * defensive way: an object without the fields that identify it (metadata.name,
 * metadata.uid, metadata.namespace for namespaced kinds) is malformed and
 * skipped; a missing or ill-typed optional field is treated as absent.
 *
 * Example:
 *   const pod = podRecord(watchEvent.object);
 *   // { kind: 'Pod', namespace: 'shop', name: 'cart-7d4f9c7b9d-x2x8q', uid: '…',
 *   //   containers: [{ name: 'cart', id: '3f1c…', runtime: 'containerd', kind: 'container', image: 'ghcr.io/acme/cart:1.4.2' }], … }
 */

export type ContainerKind = 'container' | 'init' | 'ephemeral';

export interface OwnerRef {
  kind: string;
  name: string;
  uid?: string;
  controller: boolean;
}

export interface ContainerRecord {
  name: string;
  /** bare runtime id, lowercase, without the "containerd://" scheme */
  id: string;
  runtime: string;
  kind: ContainerKind;
  image?: string;
}

export interface PodRecord {
  kind: 'Pod';
  uid: string;
  namespace: string;
  name: string;
  nodeName?: string;
  hostNetwork: boolean;
  /** status.podIPs (or status.podIP), normalized */
  ips: string[];
  /** only the labels identity reads (app.kubernetes.io/{instance,name,version}, pod-template-hash) */
  labels: Readonly<Record<string, string>>;
  /** only the resource.opentelemetry.io/ annotations */
  annotations: Readonly<Record<string, string>>;
  owners: OwnerRef[];
  /** containers that have a runtime id (started at least once) */
  containers: ContainerRecord[];
}

export interface ServicePort {
  port: number;
  name?: string;
  protocol: string;
}

export interface ServiceRecord {
  kind: 'Service';
  uid: string;
  namespace: string;
  name: string;
  /** spec.clusterIPs (or spec.clusterIP), without "None" */
  ips: string[];
  ports: ServicePort[];
}

export interface NodeRecord {
  kind: 'Node';
  uid: string;
  name: string;
  /** InternalIP and ExternalIP addresses */
  ips: string[];
}

/** A ReplicaSet or Job, kept only for the name of its controller (Deployment, CronJob). */
export interface OwnerRecord {
  kind: 'ReplicaSet' | 'Job';
  uid: string;
  namespace: string;
  name: string;
  owner?: { kind: string; name: string };
}

export type AnyRecord = PodRecord | ServiceRecord | NodeRecord | OwnerRecord;

/**
 * What the client's informer cache holds: just enough metadata for its
 * bookkeeping (namespace/name keys, resourceVersion) plus our record, so the
 * full objects are not kept in memory twice.
 */
export interface Slim<R extends AnyRecord = AnyRecord> {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion?: string };
  record: R;
}

export const ANNOTATION_PREFIX = 'resource.opentelemetry.io/';
const KEPT_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/name', 'app.kubernetes.io/version', 'pod-template-hash'];

type Obj = Record<string, unknown>;

function obj(x: unknown): Obj | undefined {
  return x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Obj) : undefined;
}

function str(x: unknown): string | undefined {
  return typeof x === 'string' && x.length > 0 ? x : undefined;
}

function arr(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

interface Meta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion?: string;
  m: Obj;
}

function meta(raw: unknown, namespaced: boolean): Meta | undefined {
  const m = obj(obj(raw)?.['metadata']);
  const name = str(m?.['name']);
  const uid = str(m?.['uid']);
  const namespace = namespaced ? str(m?.['namespace']) : '';
  if (!m || !name || !uid || namespace === undefined) return undefined;
  const rv = str(m['resourceVersion']);
  return { name, namespace, uid, ...(rv ? { resourceVersion: rv } : {}), m };
}

function slim<R extends AnyRecord>(apiVersion: string, kind: string, md: Meta, record: R): Slim<R> {
  const metadata: Slim['metadata'] = { name: md.name, uid: md.uid };
  if (md.namespace) metadata.namespace = md.namespace;
  if (md.resourceVersion) metadata.resourceVersion = md.resourceVersion;
  return { apiVersion, kind, metadata, record };
}

/**
 * An IP as the lookup tables key it: lowercase, IPv4-mapped IPv6 as plain
 * IPv4, IPv6 in its compressed canonical form. Undefined when not an IP.
 */
export function normalizeIp(ip: unknown): string | undefined {
  if (typeof ip !== 'string') return undefined;
  let s = ip.trim().toLowerCase();
  if (s.startsWith('::ffff:') && /^\d+\.\d+\.\d+\.\d+$/.test(s.slice(7))) s = s.slice(7);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split('.').every((o) => Number(o) <= 255) ? s : undefined;
  if (!s.includes(':') || !/^[0-9a-f:.]+$/.test(s)) return undefined;
  try {
    const host = new URL(`http://[${s}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (mapped) {
      const hi = parseInt(mapped[1] ?? '0', 16);
      const lo = parseInt(mapped[2] ?? '0', 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
    return host;
  } catch {
    return undefined;
  }
}

/**
 * "containerd://3f1c…" → { runtime: 'containerd', id: '3f1c…' }. Also takes a
 * bare id (runtime ''). Undefined for an empty or implausible id.
 */
export function parseContainerId(raw: unknown): { runtime: string; id: string } | undefined {
  if (typeof raw !== 'string') return undefined;
  const at = raw.indexOf('://');
  const runtime = at >= 0 ? raw.slice(0, at) : '';
  const id = (at >= 0 ? raw.slice(at + 3) : raw).trim().toLowerCase();
  return /^[0-9a-z][0-9a-z_.-]{0,254}$/.test(id) ? { runtime, id } : undefined;
}

function owners(m: Obj): OwnerRef[] {
  const out: OwnerRef[] = [];
  for (const r of arr(m['ownerReferences'])) {
    const o = obj(r);
    const kind = str(o?.['kind']);
    const name = str(o?.['name']);
    if (!o || !kind || !name) continue;
    const uid = str(o['uid']);
    out.push({ kind, name, ...(uid ? { uid } : {}), controller: o['controller'] === true });
  }
  // the controller first: it is the one that names the workload
  return out.sort((a, b) => Number(b.controller) - Number(a.controller));
}

function stringMap(x: unknown, keep: (k: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const o = obj(x);
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (typeof v === 'string' && keep(k)) out[k] = v;
  return out;
}

function containerImages(spec: Obj | undefined): Map<string, string> {
  const images = new Map<string, string>();
  for (const field of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const c of arr(spec?.[field])) {
      const name = str(obj(c)?.['name']);
      const image = str(obj(c)?.['image']);
      if (name && image && !images.has(`${field}/${name}`)) images.set(`${field}/${name}`, image);
    }
  }
  return images;
}

const STATUS_FIELDS: Array<[string, string, ContainerKind]> = [
  ['containerStatuses', 'containers', 'container'],
  ['initContainerStatuses', 'initContainers', 'init'],
  ['ephemeralContainerStatuses', 'ephemeralContainers', 'ephemeral'],
];

/** A Pod, or undefined when it lacks name, namespace or uid. */
export function podRecord(raw: unknown): Slim<PodRecord> | undefined {
  const md = meta(raw, true);
  if (!md) return undefined;
  const spec = obj(obj(raw)?.['spec']);
  const status = obj(obj(raw)?.['status']);
  const images = containerImages(spec);
  const containers: ContainerRecord[] = [];
  for (const [field, specField, kind] of STATUS_FIELDS) {
    for (const s of arr(status?.[field])) {
      const cs = obj(s);
      const name = str(cs?.['name']);
      const cid = parseContainerId(cs?.['containerID']);
      if (!cs || !name || !cid) continue; // not started yet: no id to match
      const image = images.get(`${specField}/${name}`) ?? str(cs['image']);
      containers.push({ name, id: cid.id, runtime: cid.runtime, kind, ...(image ? { image } : {}) });
    }
  }
  const ips: string[] = [];
  for (const p of arr(status?.['podIPs'])) {
    const ip = normalizeIp(obj(p)?.['ip']);
    if (ip && !ips.includes(ip)) ips.push(ip);
  }
  const single = normalizeIp(status?.['podIP']);
  if (single && !ips.includes(single)) ips.push(single);
  const nodeName = str(spec?.['nodeName']);
  const record: PodRecord = {
    kind: 'Pod',
    uid: md.uid,
    namespace: md.namespace,
    name: md.name,
    ...(nodeName ? { nodeName } : {}),
    hostNetwork: spec?.['hostNetwork'] === true,
    ips,
    labels: stringMap(md.m['labels'], (k) => KEPT_LABELS.includes(k)),
    annotations: stringMap(md.m['annotations'], (k) => k.startsWith(ANNOTATION_PREFIX) && k.length > ANNOTATION_PREFIX.length),
    owners: owners(md.m),
    containers,
  };
  return slim('v1', 'Pod', md, record);
}

/** A Service, or undefined when it lacks name, namespace or uid. */
export function serviceRecord(raw: unknown): Slim<ServiceRecord> | undefined {
  const md = meta(raw, true);
  if (!md) return undefined;
  const spec = obj(obj(raw)?.['spec']);
  const ips: string[] = [];
  for (const x of [...arr(spec?.['clusterIPs']), spec?.['clusterIP']]) {
    const ip = normalizeIp(x); // "None" (headless) and "" are not IPs
    if (ip && !ips.includes(ip)) ips.push(ip);
  }
  const ports: ServicePort[] = [];
  for (const p of arr(spec?.['ports'])) {
    const o = obj(p);
    const port = o?.['port'];
    if (!o || typeof port !== 'number' || !Number.isInteger(port)) continue;
    const name = str(o['name']);
    ports.push({ port, ...(name ? { name } : {}), protocol: str(o['protocol']) ?? 'TCP' });
  }
  return slim('v1', 'Service', md, { kind: 'Service', uid: md.uid, namespace: md.namespace, name: md.name, ips, ports });
}

/** A Node, or undefined when it lacks name or uid. */
export function nodeRecord(raw: unknown): Slim<NodeRecord> | undefined {
  const md = meta(raw, false);
  if (!md) return undefined;
  const ips: string[] = [];
  for (const a of arr(obj(obj(raw)?.['status'])?.['addresses'])) {
    const type = obj(a)?.['type'];
    const ip = normalizeIp(obj(a)?.['address']);
    if ((type === 'InternalIP' || type === 'ExternalIP') && ip && !ips.includes(ip)) ips.push(ip);
  }
  return slim('v1', 'Node', md, { kind: 'Node', uid: md.uid, name: md.name, ips });
}

function ownerRecord(kind: 'ReplicaSet' | 'Job', apiVersion: string, controllerKind: string, raw: unknown): Slim<OwnerRecord> | undefined {
  const md = meta(raw, true);
  if (!md) return undefined;
  const ctl = owners(md.m).find((o) => o.kind === controllerKind);
  const record: OwnerRecord = { kind, uid: md.uid, namespace: md.namespace, name: md.name, ...(ctl ? { owner: { kind: ctl.kind, name: ctl.name } } : {}) };
  return slim(apiVersion, kind, md, record);
}

/** A ReplicaSet with the Deployment that owns it, if any. */
export function replicaSetRecord(raw: unknown): Slim<OwnerRecord> | undefined {
  return ownerRecord('ReplicaSet', 'apps/v1', 'Deployment', raw);
}

/** A Job with the CronJob that owns it, if any. */
export function jobRecord(raw: unknown): Slim<OwnerRecord> | undefined {
  return ownerRecord('Job', 'batch/v1', 'CronJob', raw);
}
