/**
 * service.name, service.namespace, service.version and service.instance.id
 * of a pod's container, by the OpenTelemetry rules for Kubernetes.
 *
 * Sources followed (read, not copied):
 *  - semantic-conventions docs/non-normative/k8s-attributes.md ("Populating
 *    resource attributes in Kubernetes"): the priority lists below, and that
 *    every `resource.opentelemetry.io/<key>` pod annotation becomes resource
 *    attribute <key>; tools should let users opt out of well-known labels.
 *  - opentelemetry-collector-contrib processor/k8sattributesprocessor
 *    (internal/kube/client.go, service_attributes.go): the same order as
 *    implemented — app.kubernetes.io/instance wins over app.kubernetes.io/name,
 *    a Deployment wins over its ReplicaSet, a CronJob over its Job; the
 *    container name is the last resort; service.instance.id joins namespace,
 *    pod and container name with "."; the image version is the
 *    distribution/reference tag and digest.
 *
 * Example:
 *   serviceAttributes({ namespace: 'shop', pod: 'cart-7d4f9c7b9d-x2x8q', container: 'cart',
 *     labels: {}, annotations: {}, workload: { deployment: 'cart', replicaset: 'cart-7d4f9c7b9d' },
 *     image: 'ghcr.io/acme/cart:1.4.2' })
 *   // { name: 'cart', namespace: 'shop', version: '1.4.2', instanceId: 'shop.cart-7d4f9c7b9d-x2x8q.cart' }
 */
import { ANNOTATION_PREFIX } from './objects';
import type { WorkloadNames } from './workload';

export interface ServiceFacts {
  namespace: string;
  pod: string;
  /** unknown for a peer seen only by its IP */
  container?: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  workload: WorkloadNames;
  image?: string;
  /** use app.kubernetes.io/* labels (default true; semconv asks tools to allow opting out) */
  wellKnownLabels?: boolean;
}

export interface ServiceAttributes {
  name: string;
  namespace?: string;
  version?: string;
  instanceId?: string;
}

const ann = (f: ServiceFacts, key: string): string | undefined => nonEmpty(f.annotations[`${ANNOTATION_PREFIX}${key}`]);
const label = (f: ServiceFacts, key: string): string | undefined => (f.wellKnownLabels === false ? undefined : nonEmpty(f.labels[key]));

function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s.length > 0 ? s : undefined;
}

/** The first value found, in the semconv order. */
export function serviceName(f: ServiceFacts): string {
  const w = f.workload;
  return (
    ann(f, 'service.name') ??
    label(f, 'app.kubernetes.io/instance') ??
    label(f, 'app.kubernetes.io/name') ??
    w.deployment ??
    w.replicaset ??
    w.statefulset ??
    w.daemonset ??
    w.cronjob ??
    w.job ??
    f.pod
  );
  // k8s.container.name comes last in the rule, but k8s.pod.name is always known here
}

export function serviceAttributes(f: ServiceFacts): ServiceAttributes {
  const version = ann(f, 'service.version') ?? label(f, 'app.kubernetes.io/version') ?? (f.image ? versionFromImage(f.image) : undefined);
  const instanceId = ann(f, 'service.instance.id') ?? (f.container ? `${f.namespace}.${f.pod}.${f.container}` : undefined);
  return {
    name: serviceName(f),
    namespace: ann(f, 'service.namespace') ?? f.namespace,
    ...(version ? { version } : {}),
    ...(instanceId ? { instanceId } : {}),
  };
}

// distribution/reference grammar, reduced to what telling tag and digest apart needs
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?';
const NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/**
 * The version an image reference carries: "<tag>@<digest>", else "<digest>",
 * else "<tag>" (semconv). "nginx" has none; "nginx:latest" has "latest", as the
 * Collector reports it. Undefined for a reference that does not parse.
 */
export function versionFromImage(image: string): string | undefined {
  const at = image.indexOf('@');
  const namePart = at >= 0 ? image.slice(0, at) : image;
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  if (digest !== undefined && !DIGEST.test(digest)) return undefined;
  const slash = namePart.lastIndexOf('/');
  const colon = namePart.lastIndexOf(':');
  const tag = colon > slash ? namePart.slice(colon + 1) : undefined;
  const name = colon > slash ? namePart.slice(0, colon) : namePart;
  if (!NAME.test(name) || name.length > 255 || (tag !== undefined && !TAG.test(tag))) return undefined;
  if (digest) return tag ? `${tag}@${digest}` : digest;
  return tag;
}

/**
 * The other `resource.opentelemetry.io/<key>` annotations as resource
 * attributes (service.* are already in ServiceAttributes).
 */
export function annotationAttributes(annotations: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) {
    const key = k.slice(ANNOTATION_PREFIX.length);
    if (!key.startsWith('service.') && v.length > 0) out[key] = v;
  }
  return out;
}
