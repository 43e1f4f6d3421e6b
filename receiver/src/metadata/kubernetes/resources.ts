/**
 * The five kinds identity watches, each with its list call (the typed client
 * APIs), its watch path, how its objects are reduced, and what is lost when it
 * cannot be read — the last goes into the one log line an RBAC gap produces.
 *
 * Example:
 *   const specs = resourceSpecs(k8s, kc, 'worker-1');
 *   specs[0]  // { key: 'pods', path: '/api/v1/pods', fieldSelector: 'spec.nodeName=worker-1', … }
 */
import type { K8s, KubeConfig, KubernetesListObject, KubernetesObject } from './client';
import { jobRecord, nodeRecord, podRecord, replicaSetRecord, serviceRecord } from './objects';
import type { Slim } from './objects';

export type ResourceKey = 'pods' | 'services' | 'nodes' | 'replicasets' | 'jobs';

export interface ListParams {
  fieldSelector?: string;
  limit: number;
  _continue?: string;
}

export interface ResourceSpec {
  key: ResourceKey;
  /** API group ('' for core), for RBAC messages */
  group: string;
  /** collection path the watch uses */
  path: string;
  fieldSelector?: string;
  normalize(raw: unknown): Slim | undefined;
  /** one list page; the signal abandons it (deadline, or stop()) */
  list(params: ListParams, signal: AbortSignal): Promise<KubernetesListObject<KubernetesObject>>;
  /** what identity loses without this kind */
  without: string;
}

export function resourceSpecs(k8s: K8s, kc: KubeConfig, nodeName: string): ResourceSpec[] {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  // middleware puts the AbortSignal on the request context
  // (the object-parameter APIs take Observable middleware: the client's own stub)
  type Opts = NonNullable<Parameters<typeof core.listNode>[1]>;
  const o = (signal: AbortSignal): Opts => ({
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(signal);
          return new k8s.Observable(Promise.resolve(ctx));
        },
        post: (ctx) => new k8s.Observable(Promise.resolve(ctx)),
      },
    ],
    middlewareMergeStrategy: 'append',
  });
  const podSelector = `spec.nodeName=${nodeName}`;
  return [
    {
      key: 'pods',
      group: '',
      path: '/api/v1/pods',
      fieldSelector: podSelector,
      normalize: podRecord,
      list: (p, signal) => core.listPodForAllNamespaces(p, o(signal)),
      without: 'no pod identity for containers on this node',
    },
    {
      key: 'services',
      group: '',
      path: '/api/v1/services',
      normalize: serviceRecord,
      list: (p, signal) => core.listServiceForAllNamespaces(p, o(signal)),
      without: 'no Service peers',
    },
    {
      key: 'nodes',
      group: '',
      path: '/api/v1/nodes',
      normalize: nodeRecord,
      list: (p, signal) => core.listNode(p, o(signal)),
      without: 'no node peers',
    },
    {
      key: 'replicasets',
      group: 'apps',
      path: '/apis/apps/v1/replicasets',
      normalize: replicaSetRecord,
      list: (p, signal) => apps.listReplicaSetForAllNamespaces(p, o(signal)),
      without: 'Deployment names derived from ReplicaSet names',
    },
    {
      key: 'jobs',
      group: 'batch',
      path: '/apis/batch/v1/jobs',
      normalize: jobRecord,
      list: (p, signal) => batch.listJobForAllNamespaces(p, o(signal)),
      without: 'CronJob names derived from Job names',
    },
  ];
}
