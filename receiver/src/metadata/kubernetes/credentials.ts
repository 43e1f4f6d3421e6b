/**
 * Where the API server and its credentials come from, in this order:
 *   1. an explicit kubeconfig path (option / config file),
 *   2. $KUBECONFIG (the first file of the list that exists),
 *   3. the in-cluster service account: $KUBERNETES_SERVICE_HOST and _PORT plus
 *      /var/run/secrets/kubernetes.io/serviceaccount/token,
 *   4. ~/.kube/config.
 * An explicit choice beats discovery, and a pod's own service account beats a
 * stray ~/.kube/config baked into an image.
 *
 * Example:
 *   findCredentials({})   // { kind: 'in-cluster', pathPrefix: '' } inside a pod
 *   findKubeconfig()      // '/home/me/.kube/config' on a workstation, else undefined
 *   isInCluster()         // true inside a pod with a mounted service account token
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { K8s, KubeConfig } from './client';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type Credentials =
  | { kind: 'kubeconfig'; path: string; from: 'option' | 'KUBECONFIG' | 'home' }
  /** pathPrefix is prepended to SERVICE_ACCOUNT_DIR (tests point it at a temp dir) */
  | { kind: 'in-cluster'; pathPrefix: string };

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** True when this process runs in a pod with a service account token mounted. */
export function isInCluster(pathPrefix = ''): boolean {
  const env = process.env;
  return !!env['KUBERNETES_SERVICE_HOST'] && !!env['KUBERNETES_SERVICE_PORT'] && isFile(`${pathPrefix}${SERVICE_ACCOUNT_DIR}/token`);
}

function fromEnv(): string | undefined {
  for (const p of (process.env['KUBECONFIG'] ?? '').split(path.delimiter)) if (p && isFile(p)) return p;
  return undefined;
}

function fromHome(): string | undefined {
  const p = path.join(os.homedir(), '.kube', 'config');
  return isFile(p) ? p : undefined;
}

/** The kubeconfig file that would be used: the explicit one, else $KUBECONFIG, else ~/.kube/config. */
export function findKubeconfig(explicit?: string): string | undefined {
  return explicit || fromEnv() || fromHome();
}

/** The credentials to use, or undefined when there are none at all. */
export function findCredentials(o: { kubeconfig?: string; inClusterPathPrefix?: string }): Credentials | undefined {
  if (o.kubeconfig) return { kind: 'kubeconfig', path: o.kubeconfig, from: 'option' };
  const env = fromEnv();
  if (env) return { kind: 'kubeconfig', path: env, from: 'KUBECONFIG' };
  const prefix = o.inClusterPathPrefix ?? '';
  if (isInCluster(prefix)) return { kind: 'in-cluster', pathPrefix: prefix };
  const home = fromHome();
  return home ? { kind: 'kubeconfig', path: home, from: 'home' } : undefined;
}

/** Loads a KubeConfig for the credentials; throws with a readable message. */
export function loadKubeConfig(k8s: K8s, c: Credentials): KubeConfig {
  const kc = new k8s.KubeConfig();
  if (c.kind === 'in-cluster') kc.loadFromCluster(c.pathPrefix);
  else kc.loadFromFile(c.path);
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new Error('no current context with a cluster server');
  return kc;
}

/** "in-cluster service account" / "kubeconfig /path (KUBECONFIG)", for status lines. */
export function describeCredentials(c: Credentials): string {
  if (c.kind === 'in-cluster') return 'in-cluster service account';
  return c.from === 'option' ? `kubeconfig ${c.path}` : `kubeconfig ${c.path} (${c.from === 'home' ? '~/.kube/config' : '$KUBECONFIG'})`;
}
