/**
 * The one place that loads @kubernetes/client-node. The package is ESM-only and
 * this build is CommonJS, so it comes in through a real dynamic import (module
 * node16 keeps `import()` as is); types come in with resolution-mode "import".
 *
 * Example:
 *   const k8s = await loadClient();
 *   const kc = new k8s.KubeConfig();
 */
import type { KubeConfig, KubernetesListObject, KubernetesObject, ListWatch } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

export type K8s = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' } });
export type { KubeConfig, KubernetesListObject, KubernetesObject, ListWatch };

let loading: Promise<K8s> | undefined;

/** The client module, imported once. */
export function loadClient(): Promise<K8s> {
  loading ??= import('@kubernetes/client-node');
  return loading;
}
