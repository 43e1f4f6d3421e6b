/**
 * What the informers know, indexed for the two questions identity asks: which
 * pod runs this container id, and what is this IP. Deleted pods (and the old
 * ids of restarted containers) stay resolvable for a grace period — late
 * events of a dying process still get their pod — then are forgotten, so the
 * tables stay bounded under any churn. Answers are memoized per pod and
 * returned as the same frozen objects until something they depend on changes
 * (callers cache by object identity).
 *
 * Example:
 *   const index = new ClusterIndex({ graceMs: 60_000 });
 *   index.upsertPod(pod);                    // from the pod informer
 *   index.podForContainer('3f1c2a9b8e7d');   // { attributes: { 'k8s.pod.name': … }, service: { name: 'cart', … }, deleted: false }
 *   index.deletePod(pod);                    // still resolvable, deleted: true …
 *   index.sweep(Date.now() + 60_000);        // … and gone after the grace period
 */
import type { Attributes } from '@opentelemetry/api';
import type { PeerIdentity, PodIdentity } from '../types';
import { normalizeIp, parseContainerId } from './objects';
import type { ContainerRecord, NodeRecord, OwnerRecord, PodRecord, ServiceRecord } from './objects';
import { annotationAttributes, serviceAttributes, serviceName } from './service-attributes';
import { topWorkload, workloadNames } from './workload';
import type { OwnerLookup, WorkloadNames } from './workload';

export interface ClusterIndexOptions {
  graceMs: number;
  clusterName?: string;
  wellKnownLabels?: boolean;
  now?: () => number;
}

/** Sizes of every table, for self-telemetry and the bounded-memory test. */
export interface ClusterIndexStats {
  pods: number;
  deletedPods: number;
  containers: number;
  podIps: number;
  services: number;
  serviceIps: number;
  nodes: number;
  nodeIps: number;
  replicaSets: number;
  jobs: number;
  pendingDeletes: number;
}

interface PodEntry {
  rec: PodRecord;
  deletedAt?: number;
  /** ids of containers that restarted, still resolvable until their grace ends */
  oldIds?: Set<string>;
  memoGen?: number;
  byContainer?: Map<string, PodIdentity>;
  peer?: PeerIdentity;
  workload?: WorkloadNames;
}

interface Retired {
  at: number;
  uid: string;
  /** a container id the pod no longer lists (restart), else the pod itself */
  containerId?: string;
}

const WORKLOAD_ATTRS: Array<[keyof WorkloadNames, string]> = [
  ['deployment', 'k8s.deployment.name'],
  ['replicaset', 'k8s.replicaset.name'],
  ['statefulset', 'k8s.statefulset.name'],
  ['daemonset', 'k8s.daemonset.name'],
  ['job', 'k8s.job.name'],
  ['cronjob', 'k8s.cronjob.name'],
];

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

export class ClusterIndex implements OwnerLookup {
  readonly #o: ClusterIndexOptions;
  readonly #now: () => number;
  readonly #pods = new Map<string, PodEntry>(); // uid → entry
  readonly #podByName = new Map<string, string>(); // ns/name → uid of the live pod
  readonly #containers = new Map<string, { uid: string; name: string }>(); // bare id → pod
  readonly #podIps = new Map<string, string>(); // ip → uid
  readonly #services = new Map<string, ServiceRecord>(); // ns/name
  readonly #serviceIps = new Map<string, string>(); // ip → ns/name
  readonly #nodes = new Map<string, NodeRecord>();
  readonly #nodeIps = new Map<string, string>(); // ip → node name
  readonly #replicaSets = new Map<string, OwnerRecord>(); // ns/name
  readonly #jobs = new Map<string, OwnerRecord>(); // ns/name
  #retired: Retired[] = [];
  #retiredHead = 0;
  /** bumped when an owner changes: every pod's memo is then stale */
  #gen = 0;

  constructor(o: ClusterIndexOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  // ── pods ───────────────────────────────────────────────────────────────

  upsertPod(rec: PodRecord): void {
    const now = this.#now();
    const nameKey = key(rec.namespace, rec.name);
    const previousUid = this.#podByName.get(nameKey);
    if (previousUid !== undefined && previousUid !== rec.uid) {
      // same name, new pod (a StatefulSet replica recreated): the old one is deleted
      const old = this.#pods.get(previousUid);
      if (old) this.deletePod(old.rec);
    }
    const entry = this.#pods.get(rec.uid);
    const next: PodEntry = { rec };
    if (entry) {
      let oldIds = entry.oldIds;
      for (const c of entry.rec.containers) {
        if (rec.containers.some((n) => n.id === c.id)) continue;
        (oldIds ??= new Set()).add(c.id);
        this.#retired.push({ at: now, uid: rec.uid, containerId: c.id });
      }
      if (oldIds) for (const c of rec.containers) oldIds.delete(c.id);
      if (oldIds?.size) next.oldIds = oldIds;
      for (const ip of entry.rec.ips) if (!rec.ips.includes(ip) && this.#podIps.get(ip) === rec.uid) this.#podIps.delete(ip);
    }
    this.#pods.set(rec.uid, next);
    this.#podByName.set(nameKey, rec.uid);
    for (const c of rec.containers) this.#containers.set(c.id, { uid: rec.uid, name: c.name });
    if (!rec.hostNetwork) for (const ip of rec.ips) this.#podIps.set(ip, rec.uid);
    else for (const ip of rec.ips) if (this.#podIps.get(ip) === rec.uid) this.#podIps.delete(ip);
  }

  /** Marks the pod deleted; it resolves (deleted: true) until the grace period ends. */
  deletePod(rec: PodRecord): void {
    const entry = this.#pods.get(rec.uid);
    if (!entry || entry.deletedAt !== undefined) return;
    const now = this.#now();
    entry.deletedAt = now;
    delete entry.byContainer;
    delete entry.peer;
    const nameKey = key(entry.rec.namespace, entry.rec.name);
    if (this.#podByName.get(nameKey) === rec.uid) this.#podByName.delete(nameKey);
    this.#retired.push({ at: now, uid: rec.uid });
  }

  /** Forgets what outlived its grace period. Called on a timer; cheap when idle. */
  sweep(now = this.#now()): void {
    const grace = this.#o.graceMs;
    const q = this.#retired;
    while (this.#retiredHead < q.length) {
      const r = q[this.#retiredHead];
      if (!r || r.at + grace > now) break;
      this.#retiredHead++;
      const entry = this.#pods.get(r.uid);
      if (r.containerId !== undefined) {
        // a deleted pod's old ids go with the pod; a live pod may list the id again
        if (entry?.deletedAt !== undefined || entry?.rec.containers.some((c) => c.id === r.containerId)) continue;
        entry?.oldIds?.delete(r.containerId);
        if (this.#containers.get(r.containerId)?.uid === r.uid) this.#containers.delete(r.containerId);
        continue;
      }
      if (!entry || entry.deletedAt === undefined || entry.deletedAt + grace > now) continue;
      this.#forget(r.uid, entry);
    }
    if (this.#retiredHead > 1024 && this.#retiredHead * 2 > q.length) {
      this.#retired = q.slice(this.#retiredHead);
      this.#retiredHead = 0;
    } else if (this.#retiredHead === q.length) {
      this.#retired = [];
      this.#retiredHead = 0;
    }
  }

  #forget(uid: string, entry: PodEntry): void {
    this.#pods.delete(uid);
    for (const c of entry.rec.containers) if (this.#containers.get(c.id)?.uid === uid) this.#containers.delete(c.id);
    for (const ip of entry.rec.ips) if (this.#podIps.get(ip) === uid) this.#podIps.delete(ip);
    for (const id of entry.oldIds ?? []) if (this.#containers.get(id)?.uid === uid) this.#containers.delete(id);
  }

  #live(uid: string | undefined): PodEntry | undefined {
    if (uid === undefined) return undefined;
    const entry = this.#pods.get(uid);
    if (!entry) return undefined;
    if (entry.deletedAt !== undefined && entry.deletedAt + this.#o.graceMs <= this.#now()) return undefined;
    return entry;
  }

  // ── owners, services, nodes ───────────────────────────────────────────

  replicaSet(namespace: string, name: string): OwnerRecord | undefined {
    return this.#replicaSets.get(key(namespace, name));
  }

  job(namespace: string, name: string): OwnerRecord | undefined {
    return this.#jobs.get(key(namespace, name));
  }

  upsertOwner(rec: OwnerRecord): void {
    const map = rec.kind === 'ReplicaSet' ? this.#replicaSets : this.#jobs;
    const k = key(rec.namespace, rec.name);
    const old = map.get(k);
    map.set(k, rec);
    if (!old || old.uid !== rec.uid || old.owner?.name !== rec.owner?.name || old.owner?.kind !== rec.owner?.kind) this.#gen++;
  }

  deleteOwner(rec: OwnerRecord): void {
    const map = rec.kind === 'ReplicaSet' ? this.#replicaSets : this.#jobs;
    if (map.delete(key(rec.namespace, rec.name))) this.#gen++;
  }

  upsertService(rec: ServiceRecord): void {
    const k = key(rec.namespace, rec.name);
    this.deleteService(rec);
    this.#services.set(k, rec);
    for (const ip of rec.ips) this.#serviceIps.set(ip, k);
  }

  deleteService(rec: ServiceRecord): void {
    const k = key(rec.namespace, rec.name);
    const old = this.#services.get(k);
    if (!old) return;
    this.#services.delete(k);
    for (const ip of old.ips) if (this.#serviceIps.get(ip) === k) this.#serviceIps.delete(ip);
  }

  upsertNode(rec: NodeRecord): void {
    this.deleteNode(rec);
    this.#nodes.set(rec.name, rec);
    for (const ip of rec.ips) this.#nodeIps.set(ip, rec.name);
  }

  deleteNode(rec: NodeRecord): void {
    const old = this.#nodes.get(rec.name);
    if (!old) return;
    this.#nodes.delete(rec.name);
    for (const ip of old.ips) if (this.#nodeIps.get(ip) === rec.name) this.#nodeIps.delete(ip);
  }

  hasNode(name: string): boolean {
    return this.#nodes.has(name);
  }

  // ── questions ─────────────────────────────────────────────────────────

  /** The pod of a container id: exact, or a unique prefix of 12+ characters. */
  podForContainer(containerId: string): PodIdentity | undefined {
    const id = parseContainerId(containerId)?.id;
    if (!id) return undefined;
    let hit = this.#containers.get(id);
    // short ids ("docker ps" prints 12 characters); a full 64-hex id never needs the scan
    if (!hit && id.length >= 12 && id.length < 64) {
      for (const [k, v] of this.#containers) {
        if (!k.startsWith(id)) continue;
        if (hit && hit.uid !== v.uid) return undefined; // ambiguous prefix
        hit = v;
      }
    }
    const entry = this.#live(hit?.uid);
    if (!hit || !entry) return undefined;
    this.#fresh(entry);
    let identity = entry.byContainer?.get(hit.name);
    if (!identity) {
      const container = entry.rec.containers.find((c) => c.name === hit.name);
      identity = this.#podIdentity(entry, hit.name, container);
      (entry.byContainer ??= new Map()).set(hit.name, identity);
    }
    return identity;
  }

  /**
   * What an address is: a pod (never a hostNetwork pod: its IP is the
   * node's), a Service ClusterIP (named whether or not the port is one of its
   * ports; portName when it is a named one), or a node.
   */
  peerForAddress(ip: string, port: number): PeerIdentity | undefined {
    const addr = normalizeIp(ip);
    if (!addr) return undefined;
    const entry = this.#live(this.#podIps.get(addr));
    if (entry) {
      this.#fresh(entry);
      if (!entry.peer) {
        const w = this.#workload(entry);
        const top = topWorkload(w);
        const r = entry.rec;
        const service = serviceName({ namespace: r.namespace, pod: r.name, labels: r.labels, annotations: r.annotations, workload: w, ...this.#labelsOpt() });
        entry.peer = Object.freeze({ kind: 'pod' as const, namespace: r.namespace, pod: r.name, ...(top ? { workload: top } : {}), service });
      }
      return entry.peer;
    }
    const svcKey = this.#serviceIps.get(addr);
    const svc = svcKey === undefined ? undefined : this.#services.get(svcKey);
    if (svc) {
      const portName = svc.ports.find((p) => p.port === port)?.name;
      return { kind: 'service', namespace: svc.namespace, service: svc.name, ...(portName ? { portName } : {}) };
    }
    const node = this.#nodeIps.get(addr);
    return node === undefined ? undefined : { kind: 'node', node };
  }

  stats(): ClusterIndexStats {
    let deletedPods = 0;
    for (const e of this.#pods.values()) if (e.deletedAt !== undefined) deletedPods++;
    return {
      pods: this.#pods.size - deletedPods,
      deletedPods,
      containers: this.#containers.size,
      podIps: this.#podIps.size,
      services: this.#services.size,
      serviceIps: this.#serviceIps.size,
      nodes: this.#nodes.size,
      nodeIps: this.#nodeIps.size,
      replicaSets: this.#replicaSets.size,
      jobs: this.#jobs.size,
      pendingDeletes: this.#retired.length - this.#retiredHead,
    };
  }

  // ── building answers ──────────────────────────────────────────────────

  #fresh(entry: PodEntry): void {
    if (entry.memoGen === this.#gen) return;
    entry.memoGen = this.#gen;
    delete entry.byContainer;
    delete entry.peer;
    delete entry.workload;
  }

  #workload(entry: PodEntry): WorkloadNames {
    entry.workload ??= workloadNames(entry.rec, this);
    return entry.workload;
  }

  #labelsOpt(): { wellKnownLabels?: boolean } {
    return this.#o.wellKnownLabels === undefined ? {} : { wellKnownLabels: this.#o.wellKnownLabels };
  }

  #podIdentity(entry: PodEntry, containerName: string, container: ContainerRecord | undefined): PodIdentity {
    const r = entry.rec;
    const w = this.#workload(entry);
    const attributes: Attributes = { ...annotationAttributes(r.annotations) };
    attributes['k8s.namespace.name'] = r.namespace;
    attributes['k8s.pod.name'] = r.name;
    attributes['k8s.pod.uid'] = r.uid;
    attributes['k8s.container.name'] = containerName;
    if (r.nodeName) attributes['k8s.node.name'] = r.nodeName;
    for (const [field, attr] of WORKLOAD_ATTRS) {
      const v = w[field];
      if (v) attributes[attr] = v;
    }
    if (this.#o.clusterName) attributes['k8s.cluster.name'] = this.#o.clusterName;
    const service = serviceAttributes({
      namespace: r.namespace,
      pod: r.name,
      container: containerName,
      labels: r.labels,
      annotations: r.annotations,
      workload: w,
      ...(container?.image ? { image: container.image } : {}),
      ...this.#labelsOpt(),
    });
    return Object.freeze({ attributes: Object.freeze(attributes), service: Object.freeze(service), deleted: entry.deletedAt !== undefined });
  }
}
