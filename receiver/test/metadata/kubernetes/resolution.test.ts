/**
 * Resolution against the fixture cluster, served by the fake API server and
 * read through @kubernetes/client-node: every container kind and runtime,
 * every service.name rule, the other service.* attributes, workload names,
 * and peers (pod, Service, node, unknown, hostNetwork).
 */
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKubernetesIdentity } from '../../../src/metadata/kubernetes';
import type { KubernetesIdentitySource } from '../../../src/metadata/kubernetes';
import type { FakeApiServer } from './fake-apiserver';
import { cluster, containerId, NODE, uid } from './fixtures/cluster';
import { FAST, sandbox, startApi, writeKubeconfig } from './helpers';

describe('kubernetes identity: resolution', () => {
  let env: ReturnType<typeof sandbox>;
  let api: FakeApiServer;
  let k8s: KubernetesIdentitySource;
  const logs: string[] = [];

  before(async () => {
    env = sandbox();
    api = await startApi(cluster());
    k8s = createKubernetesIdentity({ ...FAST, kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, clusterName: 'prod-eu', log: (l) => logs.push(l) });
    await k8s.start();
  });
  after(async () => {
    await k8s.stop();
    await api.close();
    env.restore();
  });

  const pod = (name: string, container: string) => k8s.podForContainer(containerId(name, container));

  it('starts synced, reports counts, logs nothing', () => {
    assert.match(k8s.status(), /^kubernetes: https:\/\/127\.0\.0\.1:\d+ \(kubeconfig .+\), node worker-1: 13 pods, 4 services, 3 nodes$/);
    assert.deepEqual(logs, []);
  });

  it('lists pods of this node only, with the field selector', () => {
    const podRequests = api.requests.filter((r) => r.resource === 'pods');
    assert.ok(podRequests.length >= 2);
    for (const r of podRequests) assert.equal(r.query['fieldSelector'], 'spec.nodeName=worker-1');
    assert.equal(pod('cart-7d4f9c7b9d-remote', 'cart'), undefined);
    assert.equal(k8s.peerForAddress('10.244.2.15', 8080), undefined);
  });

  it('resolves app, init and ephemeral containers by bare id, any runtime', () => {
    const app = pod('cart-7d4f9c7b9d-x2x8q', 'cart');
    assert.deepEqual(app?.attributes, {
      'k8s.namespace.name': 'shop',
      'k8s.pod.name': 'cart-7d4f9c7b9d-x2x8q',
      'k8s.pod.uid': uid('shop/cart-7d4f9c7b9d-x2x8q'),
      'k8s.container.name': 'cart',
      'k8s.node.name': 'worker-1',
      'k8s.deployment.name': 'cart',
      'k8s.replicaset.name': 'cart-7d4f9c7b9d',
      'k8s.cluster.name': 'prod-eu',
    });
    assert.deepEqual(app?.service, { name: 'cart', namespace: 'shop', version: '1.4.2', instanceId: 'shop.cart-7d4f9c7b9d-x2x8q.cart' });
    assert.equal(app?.deleted, false);
    assert.equal(pod('cart-7d4f9c7b9d-x2x8q', 'envoy')?.attributes['k8s.container.name'], 'envoy'); // docker://
    assert.equal(pod('search-5c9f8d7b6-qwert', 'search')?.attributes['k8s.container.name'], 'search'); // cri-o://
    const init = pod('cart-7d4f9c7b9d-x2x8q', 'migrate');
    assert.equal(init?.attributes['k8s.container.name'], 'migrate');
    assert.equal(init?.service.instanceId, 'shop.cart-7d4f9c7b9d-x2x8q.migrate');
    const eph = pod('cart-7d4f9c7b9d-x2x8q', 'debugger-7x2k');
    assert.equal(eph?.attributes['k8s.container.name'], 'debugger-7x2k');
    assert.equal(eph?.service.version, 'latest');
  });

  it('accepts a runtime-prefixed id and a unique prefix of 12+ characters, nothing shorter', () => {
    const id = containerId('postgres-0', 'postgres');
    assert.equal(k8s.podForContainer(`containerd://${id}`)?.attributes['k8s.pod.name'], 'postgres-0');
    assert.equal(k8s.podForContainer(id.slice(0, 12))?.attributes['k8s.pod.name'], 'postgres-0');
    assert.equal(k8s.podForContainer(id.slice(0, 11)), undefined);
    assert.equal(k8s.podForContainer(id.toUpperCase())?.attributes['k8s.pod.name'], 'postgres-0');
    assert.equal(k8s.podForContainer('0'.repeat(64)), undefined);
    assert.equal(k8s.podForContainer(''), undefined);
  });

  it('returns the same object until something changes (callers cache by identity)', () => {
    assert.equal(pod('postgres-0', 'postgres'), pod('postgres-0', 'postgres'));
  });

  it('names workloads: StatefulSet, DaemonSet, Job of a CronJob, plain Job, bare ReplicaSet, bare pod', () => {
    const names = (p: string, c: string) => {
      const a = pod(p, c)?.attributes ?? {};
      return Object.fromEntries(Object.entries(a).filter(([k]) => /^k8s\.(deployment|replicaset|statefulset|daemonset|job|cronjob)\.name$/.test(k)));
    };
    assert.deepEqual(names('postgres-0', 'postgres'), { 'k8s.statefulset.name': 'postgres' });
    assert.deepEqual(names('node-exporter-4xk2p', 'node-exporter'), { 'k8s.daemonset.name': 'node-exporter' });
    assert.deepEqual(names('nightly-report-28930460-7bq4n', 'report'), { 'k8s.job.name': 'nightly-report-28930460', 'k8s.cronjob.name': 'nightly-report' });
    assert.deepEqual(names('db-migrate-xk2lp', 'migrate'), { 'k8s.job.name': 'db-migrate' });
    assert.deepEqual(names('legacy-rs-h7j8k', 'legacy'), { 'k8s.replicaset.name': 'legacy-rs' });
    assert.deepEqual(names('debug-shell', 'shell'), {});
  });

  it('derives Deployment and CronJob names when the ReplicaSet or Job is not listed', () => {
    assert.equal(pod('recs-8d9e7f6c5-zx12c', 'recs')?.attributes['k8s.deployment.name'], 'recs');
    assert.equal(pod('cleanup-28930500-9xk2m', 'cleanup')?.attributes['k8s.cronjob.name'], 'cleanup');
  });

  it('service.name: one pod per rule, in semconv order', () => {
    const name = (p: string, c: string) => pod(p, c)?.service.name;
    assert.equal(name('checkout-5f6d8c9b7-k9z2m', 'checkout'), 'checkout-api'); // annotation
    assert.equal(name('frontend-6b7c8d9f5-abcde', 'web'), 'frontend-eu'); // app.kubernetes.io/instance
    assert.equal(name('search-5c9f8d7b6-qwert', 'search'), 'search'); // app.kubernetes.io/name
    assert.equal(name('cart-7d4f9c7b9d-x2x8q', 'cart'), 'cart'); // k8s.deployment.name
    assert.equal(name('legacy-rs-h7j8k', 'legacy'), 'legacy-rs'); // k8s.replicaset.name
    assert.equal(name('postgres-0', 'postgres'), 'postgres'); // k8s.statefulset.name
    assert.equal(name('node-exporter-4xk2p', 'node-exporter'), 'node-exporter'); // k8s.daemonset.name
    assert.equal(name('nightly-report-28930460-7bq4n', 'report'), 'nightly-report'); // k8s.cronjob.name
    assert.equal(name('db-migrate-xk2lp', 'migrate'), 'db-migrate'); // k8s.job.name
    assert.equal(name('debug-shell', 'shell'), 'debug-shell'); // k8s.pod.name
    // k8s.container.name is last in the rule but never reached: a pod always has a name
  });

  it('service.namespace, service.version, service.instance.id: annotations first, then the fallbacks', () => {
    const checkout = pod('checkout-5f6d8c9b7-k9z2m', 'checkout');
    assert.deepEqual(checkout?.service, { name: 'checkout-api', namespace: 'payments', version: '2.0.1', instanceId: 'checkout-a' });
    assert.equal(checkout?.attributes['deployment.environment.name'], 'production');
    assert.equal(pod('frontend-6b7c8d9f5-abcde', 'web')?.service.version, '3.2.0'); // app.kubernetes.io/version beats image "nginx"
    assert.equal(pod('postgres-0', 'postgres')?.service.namespace, 'data');
    assert.equal(pod('postgres-0', 'postgres')?.service.version, '16.4');
    const digest = 'sha256:4bf8c37e1d6c5c9b1ad9d2bd5b1b3b8a4d0f2e9b7c6a5d4e3f2a1b0c9d8e7f6a';
    assert.equal(pod('search-5c9f8d7b6-qwert', 'search')?.service.version, `0.9@${digest}`);
    assert.equal(pod('legacy-rs-h7j8k', 'legacy')?.service.version, digest);
    assert.equal(pod('debug-shell', 'shell')?.service.instanceId, 'shop.debug-shell.shell');
  });

  it('peers: pods with workload and service name, Services, nodes, nothing for unknown addresses', () => {
    assert.deepEqual(k8s.peerForAddress('10.244.1.15', 8080), { kind: 'pod', namespace: 'shop', pod: 'cart-7d4f9c7b9d-x2x8q', workload: { kind: 'Deployment', name: 'cart' }, service: 'cart' });
    assert.deepEqual(k8s.peerForAddress('fd00:10:244:1:0:0:0:16', 8080), { kind: 'pod', namespace: 'shop', pod: 'checkout-5f6d8c9b7-k9z2m', workload: { kind: 'Deployment', name: 'checkout' }, service: 'checkout-api' });
    assert.deepEqual(k8s.peerForAddress('::ffff:10.244.1.21', 5432), { kind: 'pod', namespace: 'data', pod: 'postgres-0', workload: { kind: 'StatefulSet', name: 'postgres' }, service: 'postgres' });
    assert.deepEqual(k8s.peerForAddress('10.244.1.26', 22), { kind: 'pod', namespace: 'shop', pod: 'debug-shell', service: 'debug-shell' });
    assert.deepEqual(k8s.peerForAddress('10.244.1.23', 1), { kind: 'pod', namespace: 'shop', pod: 'nightly-report-28930460-7bq4n', workload: { kind: 'CronJob', name: 'nightly-report' }, service: 'nightly-report' });
    assert.deepEqual(k8s.peerForAddress('10.96.12.7', 80), { kind: 'service', namespace: 'shop', service: 'cart', portName: 'http' });
    assert.deepEqual(k8s.peerForAddress('10.96.12.7', 9090), { kind: 'service', namespace: 'shop', service: 'cart', portName: 'grpc' });
    assert.deepEqual(k8s.peerForAddress('10.96.12.7', 1234), { kind: 'service', namespace: 'shop', service: 'cart' });
    assert.deepEqual(k8s.peerForAddress('fd00:10:96::3304', 443), { kind: 'service', namespace: 'shop', service: 'checkout', portName: 'https' });
    assert.deepEqual(k8s.peerForAddress('10.0.1.12', 10250), { kind: 'node', node: 'worker-2' });
    assert.deepEqual(k8s.peerForAddress('203.0.113.11', 443), { kind: 'node', node: 'worker-1' });
    assert.equal(k8s.peerForAddress('192.0.2.1', 80), undefined);
    assert.equal(k8s.peerForAddress('not an ip', 80), undefined);
  });

  it('never names a hostNetwork pod by IP (its IP is the node\'s), but finds it by container', () => {
    assert.deepEqual(k8s.peerForAddress('10.0.1.11', 10249), { kind: 'node', node: 'worker-1' });
    assert.equal(pod('kube-proxy-8m2vd', 'kube-proxy')?.attributes['k8s.daemonset.name'], 'kube-proxy');
  });

  it('keeps self-telemetry: table sizes and per-kind informer state', () => {
    const s = k8s.stats();
    assert.equal(s.index.pods, 13);
    assert.equal(s.index.services, 4);
    assert.equal(s.index.serviceIps, 4); // headless postgres has none
    assert.equal(s.index.podIps, 13); // 12 pods, one dual-stack, hostNetwork excluded
    for (const r of Object.values(s.resources)) assert.equal(r.state, 'synced');
    assert.equal(s.resources.pods?.malformed, 0);
  });
});

describe('kubernetes identity: paginated lists', () => {
  it('lists in pages (limit/continue) from one snapshot and resolves the same', async () => {
    const env = sandbox();
    const api = await startApi(cluster());
    const k8s = createKubernetesIdentity({ ...FAST, kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, pageSize: 4, log: () => undefined });
    try {
      await k8s.start();
      const lists = api.requests.filter((r) => r.resource === 'pods' && !r.watch);
      assert.equal(lists.length, 4); // 13 pods, 4 per page
      assert.ok(lists.every((r) => r.query['limit'] === '4'));
      assert.equal(lists.filter((r) => r.query['continue']).length, 3);
      assert.equal(k8s.stats().index.pods, 13);
      assert.equal(k8s.podForContainer(containerId('debug-shell', 'shell'))?.service.name, 'debug-shell');
    } finally {
      await k8s.stop();
      await api.close();
      env.restore();
    }
  });
});
