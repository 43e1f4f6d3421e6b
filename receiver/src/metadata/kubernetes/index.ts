/**
 * Kubernetes identity: which pod, container and workload a container id
 * belongs to, and what a peer IP is (pod, Service, node), from informers
 * against the API server (@kubernetes/client-node), with OpenTelemetry
 * service.* attributes by the semconv Kubernetes rules.
 *
 * Example:
 *   if (isInCluster() || findKubeconfig()) {
 *     const k8s = createKubernetesIdentity({ clusterName: 'prod-eu', log: (l) => console.error(l) });
 *     await k8s.start();      // never blocks longer than startTimeoutMs (5 s)
 *     console.error(k8s.status());
 *     const pod = k8s.podForContainer(containerId);
 *     // pod?.service.name === 'cart', pod?.attributes['k8s.deployment.name'] === 'cart'
 *   }
 */
import { KubernetesSource } from './source';
import type { KubernetesIdentitySource } from './source';
import type { KubernetesOptions } from './options';

export { findKubeconfig, isInCluster, SERVICE_ACCOUNT_DIR } from './credentials';
export type { KubernetesOptions } from './options';
export type { KubernetesIdentitySource, KubernetesStats } from './source';
export { NOT_FOUND } from './source';

/**
 * A Kubernetes identity source. Construction only validates options (a bad
 * value throws KINDLING_ERR_INVALID_OPTION) and looks for credentials; start()
 * connects. With no credentials, start() resolves at once and status() says
 * "kubernetes: not found (no in-cluster service account, no kubeconfig)".
 */
export function createKubernetesIdentity(options: KubernetesOptions = {}): KubernetesIdentitySource {
  return new KubernetesSource(options);
}
