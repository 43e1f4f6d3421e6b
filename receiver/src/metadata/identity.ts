/**
 * Who is talking: for each process, one OpenTelemetry resource joining its
 * process, container and Kubernetes identity (service.* chosen by the
 * Kubernetes rules when the pod is known, else the executable name); and for
 * each peer address, what it is (pod, Service — through conntrack to the
 * backend pod — node, a DNS name, or just the IP).
 *
 * Example:
 *   const id = new Identity({ kubernetes });
 *   const ref = id.resourceFor(pid, comm, cgroupId);        // { key, resource }
 *   const attrs = id.peerAttributes(conn.local, conn.remote); // service.peer.name, ...
 */
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import * as os from 'node:os';
import type { Endpoint } from '../conn/connection';
import type { ProcEvent } from '../events/types';
import type { ResourceRef } from '../telemetry/metric-store';
import { telemetryAttributes } from '../telemetry/resources';
import { ContainerTable, cgroupLayout } from './container';
import type { Conntrack } from './conntrack';
import { ProcessTable } from './process';
import type { ContainerIdentity, KubernetesIdentity, PeerIdentity, PodIdentity } from './types';

export interface IdentityOptions {
  hostName?: string;
  /** added to every resource (OTEL_RESOURCE_ATTRIBUTES, config) */
  extra?: Attributes;
  procRoot?: string;
  /** put every argument in process.command_args (off by default: arguments can hold secrets) */
  commandArgs?: boolean;
  kubernetes?: KubernetesIdentity;
  /** what to report when there is no Kubernetes source (why not) */
  kubernetesStatus?: string;
  conntrack?: Conntrack;
  /** a DNS name learned for an address (from DNS answers) */
  names?: (ip: string) => string | undefined;
  capacity?: number;
}

interface Cached {
  ref: ResourceRef;
  generation: number;
  cgroupId: number;
  pod: PodIdentity | undefined;
}

export class Identity {
  readonly processes: ProcessTable;
  readonly containers: ContainerTable;
  readonly #o: IdentityOptions;
  readonly #host: string;
  readonly #cache = new Map<number, Cached>();
  readonly #capacity: number;

  constructor(o: IdentityOptions = {}) {
    this.#o = o;
    this.#host = o.hostName ?? os.hostname();
    this.#capacity = o.capacity ?? 16384;
    this.processes = new ProcessTable({ ...(o.procRoot ? { procRoot: o.procRoot } : {}), commandArgs: o.commandArgs ?? false, capacity: this.#capacity });
    this.containers = new ContainerTable({ ...(o.procRoot ? { procRoot: o.procRoot } : {}), capacity: this.#capacity });
  }

  /** What identity sources exist here, for the one startup line. */
  report(): string {
    const k8s = this.#o.kubernetes?.status() ?? this.#o.kubernetesStatus ?? 'kubernetes: off';
    return `identity: process (/proc), containers (${cgroupLayout()}), ${k8s}, ${this.#o.conntrack?.status() ?? 'conntrack: off'}`;
  }

  /** Keep caches in step with the kernel's exec and exit events. */
  onProc(ev: ProcEvent): void {
    if (ev.threadExit) return;
    if (ev.exec) {
      this.processes.onExec(ev.pid);
      this.#cache.delete(ev.pid);
    } else {
      this.processes.onExit(ev.pid);
      this.containers.forget(ev.pid);
      // the resource stays cached: late events of this process still resolve until it is evicted
    }
  }

  resourceFor(pid: number, comm: string, cgroupId: number): ResourceRef {
    const container = this.containers.forProcess(pid, cgroupId);
    const pod = container ? this.#o.kubernetes?.podForContainer(container.id) : undefined;
    const proc = this.processes.get(pid);
    const generation = proc?.generation ?? 0;
    const hit = this.#cache.get(pid);
    if (hit && hit.generation === generation && hit.cgroupId === cgroupId && hit.pod === pod) return hit.ref;

    const attrs: Attributes = {};
    const exeName = proc?.executableName ?? comm;
    if (pod) {
      attrs['service.name'] = pod.service.name;
      if (pod.service.namespace) attrs['service.namespace'] = pod.service.namespace;
      if (pod.service.version) attrs['service.version'] = pod.service.version;
      attrs['service.instance.id'] = pod.service.instanceId ?? `${this.#host}/${pid}`;
    } else {
      attrs['service.name'] = exeName;
      attrs['service.instance.id'] = `${this.#host}/${pid}`;
    }
    attrs['host.name'] = this.#host;
    attrs['os.type'] = 'linux';
    attrs['process.pid'] = pid;
    if (proc?.parentPid !== undefined) attrs['process.parent_pid'] = proc.parentPid;
    attrs['process.executable.name'] = exeName;
    if (proc?.executablePath) attrs['process.executable.path'] = proc.executablePath;
    if (proc?.command) attrs['process.command'] = proc.command;
    if (proc?.commandArgs) attrs['process.command_args'] = proc.commandArgs;
    if (proc?.owner) attrs['process.owner'] = proc.owner;
    if (container) addContainer(attrs, container);
    if (pod) Object.assign(attrs, pod.attributes);
    Object.assign(attrs, telemetryAttributes(), this.#o.extra ?? {});

    const ref: ResourceRef = { key: `${pid}/${generation}/${cgroupId}/${String(attrs['service.name'])}/${pod ? String(attrs['k8s.pod.uid'] ?? '') : ''}`, resource: resourceFromAttributes(attrs) };
    if (!hit && this.#cache.size >= this.#capacity) this.#cache.delete(this.#cache.keys().next().value as number);
    this.#cache.set(pid, { ref, generation, cgroupId, pod });
    return ref;
  }

  /**
   * What the far end of a connection is. For a ClusterIP the Service is named,
   * and conntrack (where readable) adds the backend pod the traffic reached.
   */
  readonly #peers = new Map<string, { at: number; attrs: Attributes }>();

  /**
   * What the far end of a connection is, cached per remote endpoint for a
   * second (a ClusterIP's conntrack backend is per connection: not cached).
   */
  peerAttributes(local: Endpoint, remote: Endpoint, nowMs: number = Date.now()): Attributes {
    const key = `${remote.addr}|${remote.port}`;
    const hit = this.#peers.get(key);
    if (hit && nowMs - hit.at < 1000) return hit.attrs;
    const attrs = this.#peer(local, remote);
    if (attrs['kindling.peer.kind'] !== 'service') {
      if (this.#peers.size >= 16_384) this.#peers.clear();
      this.#peers.set(key, { at: nowMs, attrs });
    }
    return attrs;
  }

  #peer(local: Endpoint, remote: Endpoint): Attributes {
    const out: Attributes = {};
    const k8s = this.#o.kubernetes;
    const peer = k8s?.peerForAddress(remote.addr, remote.port);
    if (peer) {
      addPeer(out, peer, 'kindling.peer');
      if (peer.kind === 'service') {
        const backend = this.#o.conntrack?.backend(local, remote);
        const pod = backend ? k8s?.peerForAddress(backend.addr, backend.port) : undefined;
        if (backend) {
          out['kindling.peer.backend.address'] = backend.addr;
          out['kindling.peer.backend.port'] = backend.port;
        }
        if (pod) addPeer(out, pod, 'kindling.peer.backend');
      }
      return out;
    }
    const name = this.#o.names?.(remote.addr);
    // a peer on this host (loopback or one of its own addresses) is a process here, not the outside world
    out['kindling.peer.kind'] = isLocalAddress(remote.addr) || remote.addr === local.addr ? 'local' : 'external';
    if (name) out['kindling.peer.name'] = name;
    return out;
  }
}

let localAddrs: { at: number; set: Set<string> } | undefined;

/** loopback, or an address of one of this host's interfaces (read again at most every 30 s) */
export function isLocalAddress(addr: string, nowMs: number = Date.now()): boolean {
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  if (a.startsWith('127.') || a === '::1') return true;
  if (!localAddrs || nowMs - localAddrs.at > 30_000) {
    const set = new Set<string>();
    for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) set.add(i.address);
    localAddrs = { at: nowMs, set };
  }
  return localAddrs.set.has(a);
}

function addContainer(attrs: Attributes, c: ContainerIdentity): void {
  attrs['container.id'] = c.id;
  attrs['container.runtime'] = c.runtime;
}

function addPeer(out: Attributes, p: PeerIdentity, prefix: string): void {
  out[`${prefix}.kind`] = p.kind;
  if (p.kind === 'pod') {
    if (prefix === 'kindling.peer') {
      out['service.peer.name'] = p.service;
      out['service.peer.namespace'] = p.namespace;
    }
    out[`${prefix}.k8s.namespace.name`] = p.namespace;
    out[`${prefix}.k8s.pod.name`] = p.pod;
    if (p.workload) {
      out[`${prefix}.k8s.workload.kind`] = p.workload.kind;
      out[`${prefix}.k8s.workload.name`] = p.workload.name;
    }
  } else if (p.kind === 'service') {
    if (prefix === 'kindling.peer') {
      out['service.peer.name'] = p.service;
      out['service.peer.namespace'] = p.namespace;
    }
    out[`${prefix}.k8s.namespace.name`] = p.namespace;
    out[`${prefix}.k8s.service.name`] = p.service;
  } else {
    out[`${prefix}.k8s.node.name`] = p.node;
  }
}
