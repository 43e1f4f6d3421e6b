/**
 * The workload a pod belongs to, from its ownerReferences: Deployment through
 * its ReplicaSet, CronJob through its Job, or StatefulSet / DaemonSet /
 * ReplicaSet / Job directly. When the ReplicaSet or Job is not (yet) known —
 * informer still syncing, or RBAC forbids reading it — the controller name is
 * derived from the child's name the way the controllers build it:
 *   ReplicaSet "<deployment>-<pod-template-hash>" (the hash is also the pod's
 *   `pod-template-hash` label), Job "<cronjob>-<scheduled time in minutes>".
 *
 * Example:
 *   workloadNames(pod, owners)
 *   // pod owned by ReplicaSet "cart-7d4f9c7b9d" owned by Deployment "cart":
 *   // { replicaset: 'cart-7d4f9c7b9d', deployment: 'cart' }
 *   topWorkload({ replicaset: 'cart-7d4f9c7b9d', deployment: 'cart' })
 *   // { kind: 'Deployment', name: 'cart' }
 */
import type { OwnerRecord, PodRecord } from './objects';

export interface WorkloadNames {
  deployment?: string;
  replicaset?: string;
  statefulset?: string;
  daemonset?: string;
  job?: string;
  cronjob?: string;
}

/** Finds a ReplicaSet or Job by namespace and name (and uid when the reference has one). */
export interface OwnerLookup {
  replicaSet(namespace: string, name: string): OwnerRecord | undefined;
  job(namespace: string, name: string): OwnerRecord | undefined;
}

/** "cart-7d4f9c7b9d" with pod-template-hash "7d4f9c7b9d" → "cart". */
export function deploymentFromReplicaSetName(rsName: string, podTemplateHash: string | undefined): string | undefined {
  if (!podTemplateHash) return undefined;
  const suffix = `-${podTemplateHash}`;
  return rsName.endsWith(suffix) && rsName.length > suffix.length ? rsName.slice(0, -suffix.length) : undefined;
}

/**
 * "nightly-report-28930460" → "nightly-report". The CronJob controller names
 * each Job after the scheduled time in minutes since the epoch (8 digits from
 * 1976 to 2160); requiring 8+ digits keeps hand-made Jobs like "migrate-2" out.
 */
export function cronJobFromJobName(jobName: string): string | undefined {
  const m = /^(.+)-\d{8,}$/.exec(jobName);
  return m?.[1];
}

function known(rec: OwnerRecord | undefined, uid: string | undefined): OwnerRecord | undefined {
  return rec && (!uid || rec.uid === uid) ? rec : undefined;
}

/** Every workload name that applies to the pod (semconv k8s.*.name values). */
export function workloadNames(pod: PodRecord, lookup: OwnerLookup): WorkloadNames {
  const w: WorkloadNames = {};
  for (const ref of pod.owners) {
    switch (ref.kind) {
      case 'ReplicaSet': {
        if (w.replicaset) break;
        w.replicaset = ref.name;
        const rs = known(lookup.replicaSet(pod.namespace, ref.name), ref.uid);
        const deployment = rs
          ? rs.owner?.kind === 'Deployment'
            ? rs.owner.name
            : undefined
          : deploymentFromReplicaSetName(ref.name, pod.labels['pod-template-hash']);
        if (deployment) w.deployment = deployment;
        break;
      }
      case 'StatefulSet':
        w.statefulset ??= ref.name;
        break;
      case 'DaemonSet':
        w.daemonset ??= ref.name;
        break;
      case 'Job': {
        if (w.job) break;
        w.job = ref.name;
        const job = known(lookup.job(pod.namespace, ref.name), ref.uid);
        const cronjob = job ? (job.owner?.kind === 'CronJob' ? job.owner.name : undefined) : cronJobFromJobName(ref.name);
        if (cronjob) w.cronjob = cronjob;
        break;
      }
      default:
        break;
    }
  }
  return w;
}

/** The outermost workload: what a peer pod "is" in a service map. */
export function topWorkload(w: WorkloadNames): { kind: string; name: string } | undefined {
  if (w.deployment) return { kind: 'Deployment', name: w.deployment };
  if (w.replicaset) return { kind: 'ReplicaSet', name: w.replicaset };
  if (w.statefulset) return { kind: 'StatefulSet', name: w.statefulset };
  if (w.daemonset) return { kind: 'DaemonSet', name: w.daemonset };
  if (w.cronjob) return { kind: 'CronJob', name: w.cronjob };
  if (w.job) return { kind: 'Job', name: w.job };
  return undefined;
}
