/**
 * Identity of the things on either end of a connection: the process, its
 * container, and its Kubernetes pod and workload; and the peer, named as a pod,
 * a Service, a node, or an address. These become OpenTelemetry resource
 * attributes (semantic conventions) on every span and metric of a workload.
 */
import type { Attributes } from '@opentelemetry/api';

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman';

export interface ContainerIdentity {
  id: string;
  runtime: ContainerRuntime;
  /** the pod uid the cgroup path names, when it does (kubelet layouts) */
  podUid?: string;
}

/** A pod's identity as the Kubernetes source resolved it, already in semconv names. */
export interface PodIdentity {
  /** k8s.* attributes of the pod (namespace, pod name/uid, node, workload names, container name) */
  attributes: Attributes;
  /** service.name / service.namespace / service.version / service.instance.id per the k8s rules */
  service: { name: string; namespace?: string; version?: string; instanceId?: string };
  /** the pod is gone but still within its grace period */
  deleted: boolean;
}

/** What a peer address is, when Kubernetes knows it. */
export type PeerIdentity =
  | { kind: 'pod'; namespace: string; pod: string; workload?: { kind: string; name: string }; service: string }
  | {
      kind: 'service';
      namespace: string;
      service: string;
      /** the name of the Service port the connection's port matched, when it has one */
      portName?: string;
    }
  | { kind: 'node'; node: string };

/** A source of Kubernetes identity (informers against an API server). */
export interface KubernetesIdentity {
  /** starts list+watch; resolves once the first lists are in (or fails soft with a log line) */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** the pod (and container name) of a container id seen in a cgroup */
  podForContainer(containerId: string): PodIdentity | undefined;
  /** pods with hostNetwork share the node's IP: those are found by cgroup, never by IP */
  peerForAddress(ip: string, port: number): PeerIdentity | undefined;
  /** one line for the startup report: what was found, or why not */
  status(): string;
}
