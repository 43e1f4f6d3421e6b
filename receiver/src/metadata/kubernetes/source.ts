/**
 * The Kubernetes identity source: finds credentials, runs one informer per
 * kind (this node's Pods, Services, Nodes, ReplicaSets, Jobs) into a
 * ClusterIndex, and answers from it. It never blocks the agent: start()
 * resolves once every kind has listed or failed, or after startTimeoutMs; a
 * kind that fails keeps retrying alone, and resolution works as soon as data
 * arrives. Without credentials it does nothing at all.
 *
 * Example:
 *   const k8s = new KubernetesSource({ clusterName: 'prod-eu' });
 *   await k8s.start();
 *   k8s.status();                        // 'kubernetes: https://10.96.0.1:443 (in-cluster service account), node worker-1: 14 pods, …'
 *   k8s.podForContainer('3f1c2a9b8e7d'); // { attributes: { 'k8s.pod.name': 'cart-7d4f9c7b9d-x2x8q', … }, service: { name: 'cart', … }, deleted: false }
 *   k8s.peerForAddress('10.96.12.7', 80); // { kind: 'service', namespace: 'shop', service: 'cart', portName: 'http' }
 *   await k8s.stop();
 */
import type { KubernetesIdentity, PeerIdentity, PodIdentity } from '../types';
import { loadClient } from './client';
import { ClusterIndex } from './cluster-index';
import type { ClusterIndexStats } from './cluster-index';
import { describeCredentials, findCredentials, loadKubeConfig } from './credentials';
import { FailureLog } from './failure-log';
import type { Credentials } from './credentials';
import type { AnyRecord } from './objects';
import { resolveOptions } from './options';
import type { KubernetesOptions, ResolvedOptions } from './options';
import { ResourceWatch } from './resource-watch';
import type { ResourceWatchStats, WatchState } from './resource-watch';
import { resourceSpecs } from './resources';
import type { ResourceKey } from './resources';

export const NOT_FOUND = 'kubernetes: not found (no in-cluster service account, no kubeconfig)';

export interface KubernetesStats {
  index: ClusterIndexStats;
  resources: Partial<Record<ResourceKey, ResourceWatchStats>>;
}

/** KubernetesIdentity plus its self-telemetry. */
export interface KubernetesIdentitySource extends KubernetesIdentity {
  stats(): KubernetesStats;
}

type Phase = 'idle' | 'not-found' | 'config-error' | 'running' | 'stopped';

function stateText(s: WatchState): string {
  switch (s) {
    case 'starting':
      return 'no answer yet';
    case 'forbidden':
      return 'forbidden by RBAC (needs list, watch)';
    case 'unauthorized':
      return 'credentials rejected, retrying';
    case 'not-served':
      return 'not served, retrying';
    case 'no-answer':
      return 'no answer, retrying';
    case 'unreachable':
      return 'unreachable, retrying';
    case 'server-error':
      return 'server errors, retrying';
    case 'synced':
      return 'ok';
    default:
      return 'failing, retrying';
  }
}

export class KubernetesSource implements KubernetesIdentitySource {
  readonly #o: ResolvedOptions;
  readonly #creds: Credentials | undefined;
  readonly #index: ClusterIndex;
  #phase: Phase = 'idle';
  #configError = '';
  #server = '';
  #watches: ResourceWatch[] = [];
  #sweep: NodeJS.Timeout | undefined;
  #starting: Promise<void> | undefined;
  #waited = false;

  constructor(options: KubernetesOptions = {}) {
    this.#o = resolveOptions(options);
    this.#creds = findCredentials(this.#o);
    this.#index = new ClusterIndex({
      graceMs: this.#o.deletedPodGraceMs,
      wellKnownLabels: this.#o.wellKnownLabels,
      ...(this.#o.clusterName ? { clusterName: this.#o.clusterName } : {}),
    });
  }

  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const creds = this.#creds;
    if (!creds) {
      this.#phase = 'not-found';
      return;
    }
    const o = this.#o;
    let k8s;
    let kc;
    try {
      k8s = await loadClient();
      kc = loadKubeConfig(k8s, creds);
    } catch (e) {
      this.#phase = 'config-error';
      this.#configError = e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e);
      o.log(`kubernetes: ${describeCredentials(creds)} unusable (${this.#configError}); no Kubernetes identity`);
      return;
    }
    this.#server = kc.getCurrentCluster()?.server ?? '';
    const handlers = { upsert: (r: AnyRecord) => this.#upsert(r), remove: (r: AnyRecord) => this.#remove(r) };
    const wo = { failures: new FailureLog(o.log), requestTimeoutMs: o.requestTimeoutMs, watchTimeoutSeconds: o.watchTimeoutSeconds, backoff: o.backoff, pageSize: o.pageSize };
    this.#watches = resourceSpecs(k8s, kc, o.nodeName).map((spec) => new ResourceWatch(k8s, kc, spec, handlers, wo));
    const every = Math.min(5000, Math.max(10, o.deletedPodGraceMs / 4));
    this.#sweep = setInterval(() => this.#index.sweep(), every);
    this.#sweep.unref();
    this.#phase = 'running';
    for (const w of this.#watches) w.start();

    const nodes = this.#watches.find((w) => w.spec.key === 'nodes');
    void nodes?.settled.then(() => setImmediate(() => this.#checkNode(nodes)));

    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), o.startTimeoutMs);
      timer.unref();
    });
    const late = await Promise.race([Promise.all(this.#watches.map((w) => w.settled)).then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.#waited = true;
      o.log(`kubernetes: ${this.#server} has not answered within ${o.startTimeoutMs / 1000} s; starting without Kubernetes identity, it resolves once the API server answers`);
    }
  }

  /** A wrong node name silently matches no pods: say so once. */
  #checkNode(nodes: ResourceWatch): void {
    if (nodes.state !== 'synced' || this.#phase !== 'running') return;
    const n = this.#index.stats().nodes;
    if (n > 0 && !this.#index.hasNode(this.#o.nodeName)) {
      this.#o.log(`kubernetes: node "${this.#o.nodeName}" is not among the ${n} nodes of the cluster; no pod will resolve (set KUBERNETES_NODE_NAME to this node's name)`);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    if (this.#phase === 'running') this.#phase = 'stopped';
    await Promise.all(this.#watches.map((w) => w.stop()));
  }

  podForContainer(containerId: string): PodIdentity | undefined {
    return this.#index.podForContainer(containerId);
  }

  peerForAddress(ip: string, port: number): PeerIdentity | undefined {
    return this.#index.peerForAddress(ip, port);
  }

  status(): string {
    const creds = this.#creds;
    if (!creds || this.#phase === 'not-found') return NOT_FOUND;
    const via = describeCredentials(creds);
    if (this.#phase === 'config-error') return `kubernetes: ${via} unusable (${this.#configError})`;
    if (this.#phase === 'idle') return `kubernetes: ${via}, not started`;
    const prefix = `kubernetes: ${this.#phase === 'stopped' ? 'stopped, was ' : ''}${this.#server} (${via})`;
    if (this.#watches.every((w) => w.state === 'starting')) {
      return this.#waited
        ? `${prefix}: no answer after ${this.#o.startTimeoutMs / 1000} s, still waiting; identity resolves once it answers`
        : `${prefix}: connecting`;
    }
    const s = this.#index.stats();
    const problems = this.#watches.filter((w) => w.state !== 'synced').map((w) => `; ${w.spec.key}: ${stateText(w.state)}`);
    return `${prefix}, node ${this.#o.nodeName}: ${s.pods} pods, ${s.services} services, ${s.nodes} nodes${problems.join('')}`;
  }

  stats(): KubernetesStats {
    const resources: KubernetesStats['resources'] = {};
    for (const w of this.#watches) resources[w.spec.key] = w.stats();
    return { index: this.#index.stats(), resources };
  }

  #upsert(r: AnyRecord): void {
    switch (r.kind) {
      case 'Pod':
        // the field selector already limits pods to this node; a stray one is not ours
        if (r.nodeName === undefined || r.nodeName === this.#o.nodeName) this.#index.upsertPod(r);
        return;
      case 'Service':
        return this.#index.upsertService(r);
      case 'Node':
        return this.#index.upsertNode(r);
      default:
        return this.#index.upsertOwner(r);
    }
  }

  #remove(r: AnyRecord): void {
    switch (r.kind) {
      case 'Pod':
        return this.#index.deletePod(r);
      case 'Service':
        return this.#index.deleteService(r);
      case 'Node':
        return this.#index.deleteNode(r);
      default:
        return this.#index.deleteOwner(r);
    }
  }
}
