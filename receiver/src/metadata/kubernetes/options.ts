/**
 * Options of the Kubernetes identity source, their defaults, and validation
 * (a bad value throws at construction, KINDLING_ERR_INVALID_OPTION).
 *
 * Example:
 *   resolveOptions({ clusterName: 'prod-eu' })
 *   // { nodeName: os.hostname() or $KUBERNETES_NODE_NAME / $NODE_NAME, deletedPodGraceMs: 60000,
 *   //   startTimeoutMs: 5000, requestTimeoutMs: 30000, backoff: { initialMs: 1000, maxMs: 60000 }, … }
 */
import * as os from 'node:os';
import { KindlingError } from '../../errors';

export interface KubernetesOptions {
  /** kubeconfig file; default: $KUBECONFIG, the in-cluster service account, ~/.kube/config */
  kubeconfig?: string;
  /** this node (only its pods are watched); default $KUBERNETES_NODE_NAME, $NODE_NAME, os.hostname() */
  nodeName?: string;
  /** k8s.cluster.name on every pod identity */
  clusterName?: string;
  /** how long a deleted pod stays resolvable (flagged deleted); default 60000 */
  deletedPodGraceMs?: number;
  /** one line per state change; default stderr */
  log?: (line: string) => void;
  /** start() resolves after this even when the API server has not answered; default 5000 */
  startTimeoutMs?: number;
  /** deadline of a list request and of a watch's response headers; default 30000 */
  requestTimeoutMs?: number;
  /** server-side timeout asked for each watch; default random 300–599 s (as client-go) */
  watchTimeoutSeconds?: number;
  /** reconnect backoff; default 1000 doubling to 60000 ms, ±20 % jitter */
  backoff?: { initialMs?: number; maxMs?: number };
  /** items per list page; default 500 */
  pageSize?: number;
  /** take service.name/version from app.kubernetes.io/* labels; default true */
  wellKnownLabels?: boolean;
  /** prefix for /var/run/secrets/kubernetes.io/serviceaccount (tests); default '' */
  inClusterPathPrefix?: string;
}

export interface ResolvedOptions {
  kubeconfig: string | undefined;
  nodeName: string;
  clusterName: string | undefined;
  deletedPodGraceMs: number;
  log: (line: string) => void;
  startTimeoutMs: number;
  requestTimeoutMs: number;
  watchTimeoutSeconds: () => number;
  backoff: { initialMs: number; maxMs: number };
  pageSize: number;
  wellKnownLabels: boolean;
  inClusterPathPrefix: string;
}

function ms(name: string, v: number | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `kubernetes.${name} must be a number >= ${min}, got ${String(v)}`);
  }
  return v;
}

export function defaultNodeName(): string {
  // the kubelet registers the lowercased hostname when not told otherwise
  return process.env['KUBERNETES_NODE_NAME'] || process.env['NODE_NAME'] || os.hostname().toLowerCase();
}

export function resolveOptions(o: KubernetesOptions): ResolvedOptions {
  const nodeName = o.nodeName ?? defaultNodeName();
  if (typeof nodeName !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(nodeName)) {
    throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `kubernetes.nodeName must be a node name (DNS subdomain), got ${JSON.stringify(nodeName)}`);
  }
  const initialMs = ms('backoff.initialMs', o.backoff?.initialMs, 1000, 1);
  const maxMs = ms('backoff.maxMs', o.backoff?.maxMs, 60_000, initialMs);
  const fixedWatch = o.watchTimeoutSeconds === undefined ? undefined : ms('watchTimeoutSeconds', o.watchTimeoutSeconds, 0, 1);
  return {
    kubeconfig: o.kubeconfig || undefined,
    nodeName,
    clusterName: o.clusterName || undefined,
    deletedPodGraceMs: ms('deletedPodGraceMs', o.deletedPodGraceMs, 60_000),
    log: o.log ?? ((line) => process.stderr.write(`${line}\n`)),
    startTimeoutMs: ms('startTimeoutMs', o.startTimeoutMs, 5000),
    requestTimeoutMs: ms('requestTimeoutMs', o.requestTimeoutMs, 30_000, 1),
    watchTimeoutSeconds: fixedWatch === undefined ? () => 300 + Math.floor(Math.random() * 300) : () => Math.round(fixedWatch),
    backoff: { initialMs, maxMs },
    pageSize: Math.floor(ms('pageSize', o.pageSize, 500, 1)),
    wellKnownLabels: o.wellKnownLabels ?? true,
    inClusterPathPrefix: o.inClusterPathPrefix ?? '',
  };
}
