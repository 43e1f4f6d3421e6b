/**
 * Failure modes: RBAC denying one kind, an API server that accepts and never
 * answers (HTTP and TCP level), rejected credentials, a wrong node name, an
 * unusable kubeconfig, no credentials at all — and the in-cluster path with a
 * mounted service account.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isKindlingError } from '../../../src/errors';
import { createKubernetesIdentity, findKubeconfig, isInCluster, NOT_FOUND } from '../../../src/metadata/kubernetes';
import type { KubernetesIdentitySource, KubernetesOptions } from '../../../src/metadata/kubernetes';
import type { FakeApiServer } from './fake-apiserver';
import { cluster, containerId, NODE } from './fixtures/cluster';
import { TEST_CA_CERT } from './fixtures/tls';
import { FAST, sandbox, sleep, startApi, waitFor, writeKubeconfig } from './helpers';

const CART = containerId('cart-7d4f9c7b9d-x2x8q', 'cart');

describe('kubernetes identity: failures', () => {
  let env: ReturnType<typeof sandbox>;
  let logs: string[];
  const cleanup: Array<() => Promise<void> | void> = [];

  beforeEach(() => {
    env = sandbox();
    logs = [];
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
    env.restore();
  });

  async function api(token?: string): Promise<FakeApiServer> {
    const a = await startApi(cluster(), token ? { token } : {});
    cleanup.push(() => a.close());
    return a;
  }

  function identity(o: KubernetesOptions): KubernetesIdentitySource {
    const k = createKubernetesIdentity({ ...FAST, nodeName: NODE, log: (l) => logs.push(l), ...o });
    cleanup.push(() => k.stop());
    return k;
  }

  it('403 on Services: one line naming the permission, pods still resolve, no Service peers until granted', async () => {
    const a = await api();
    a.forbid('services');
    const k = identity({ kubeconfig: writeKubeconfig(env.dir, a) });
    await k.start();
    await waitFor(() => a.requests.filter((r) => r.resource === 'services').length >= 5, 'several retries');
    assert.equal(logs.length, 1, JSON.stringify(logs));
    assert.match(logs[0] ?? '', /^kubernetes: services forbidden \(services is forbidden: .*cannot list resource "services".*\): RBAC must allow "list" and "watch" on services; no Service peers until it does$/);
    assert.equal(k.podForContainer(CART)?.service.name, 'cart');
    assert.equal(k.peerForAddress('10.96.12.7', 80), undefined);
    assert.deepEqual(k.peerForAddress('10.0.1.12', 22), { kind: 'node', node: 'worker-2' });
    assert.match(k.status(), /13 pods, 0 services, 3 nodes; services: forbidden by RBAC \(needs list, watch\)$/);

    a.forbid('services', false);
    await waitFor(() => k.peerForAddress('10.96.12.7', 80), 'Service peers once granted');
    await waitFor(() => logs.length > 1, 'the recovery line');
    assert.deepEqual(logs.slice(1), ['kubernetes: services: watching again']);
  });

  it('an API server that accepts and never answers: start() returns at its timeout, status says so, data resolves once it answers', async () => {
    const a = await api();
    a.hang(true);
    const k = identity({ kubeconfig: writeKubeconfig(env.dir, a), startTimeoutMs: 300, requestTimeoutMs: 10_000 });
    const t0 = Date.now();
    await k.start();
    const took = Date.now() - t0;
    assert.ok(took >= 280 && took < 1500, `start took ${took} ms`);
    assert.match(k.status(), /^kubernetes: https:\/\/127\.0\.0\.1:\d+ \(kubeconfig .*\): no answer after 0\.3 s, still waiting; identity resolves once it answers$/);
    assert.equal(k.podForContainer(CART), undefined);
    assert.equal(logs.length, 1);
    assert.match(logs[0] ?? '', /has not answered within 0\.3 s/);

    a.hang(false);
    await waitFor(() => k.podForContainer(CART), 'the pod once the server answers');
    await waitFor(() => /13 pods, 4 services, 3 nodes$/.test(k.status()), 'a synced status');
  });

  it('a TCP endpoint that never speaks: start() returns, one "no answer" line however many retries, stop() is prompt', async () => {
    const sockets: net.Socket[] = [];
    const hole = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), hole.close(() => r()))));
    const port = (hole.address() as net.AddressInfo).port;
    const file = path.join(env.dir, 'hole.kubeconfig');
    fs.writeFileSync(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'hole',
      clusters: [{ name: 'hole', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': Buffer.from(TEST_CA_CERT).toString('base64') } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'hole', context: { cluster: 'hole', user: 'u' } }],
    }));
    const k = identity({ kubeconfig: file, startTimeoutMs: 200, requestTimeoutMs: 150 });
    const t0 = Date.now();
    await k.start();
    assert.ok(Date.now() - t0 < 1000);
    await waitFor(() => sockets.length >= 15, 'retries');
    assert.match(k.status(), /pods: no answer, retrying/);
    const noAnswer = logs.filter((l) => /no answer from the API server/.test(l));
    assert.equal(noAnswer.length, 1, JSON.stringify(logs));
    const t1 = Date.now();
    await k.stop();
    assert.ok(Date.now() - t1 < 500);
    const after = sockets.length;
    await sleep(400);
    assert.equal(sockets.length, after, 'no retries after stop()');
  });

  it('rejected credentials (401): one line for the whole API server, not one per kind', async () => {
    const a = await api();
    const k = identity({ kubeconfig: writeKubeconfig(env.dir, a, 'wrong-token') });
    await k.start();
    await waitFor(() => a.requests.length >= 15, 'retries');
    assert.equal(logs.length, 1, JSON.stringify(logs));
    assert.match(logs[0] ?? '', /^kubernetes: credentials rejected \(HTTP 401 Unauthorized\); retrying with backoff up to 200 ms$/);
  });

  it('no credentials at all: not found, start() resolves at once, no request is ever made', async () => {
    const a = await api();
    // a service host without a token file must not count as in-cluster
    process.env['KUBERNETES_SERVICE_HOST'] = '127.0.0.1';
    process.env['KUBERNETES_SERVICE_PORT'] = String(a.port);
    assert.equal(isInCluster(), false);
    assert.equal(findKubeconfig(), undefined);
    const k = identity({});
    const t0 = Date.now();
    await k.start();
    assert.ok(Date.now() - t0 < 100);
    assert.equal(k.status(), NOT_FOUND);
    assert.equal(k.status(), 'kubernetes: not found (no in-cluster service account, no kubeconfig)');
    await sleep(300);
    assert.equal(a.requests.length, 0);
    assert.deepEqual(logs, []);
    assert.equal(k.podForContainer(CART), undefined);
  });

  it('in-cluster: token, CA and namespace from the mounted service account', async () => {
    const a = await api('sa-token-0123456789');
    const prefix = path.join(env.dir, 'root');
    const dir = path.join(prefix, 'var/run/secrets/kubernetes.io/serviceaccount');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'token'), 'sa-token-0123456789');
    fs.writeFileSync(path.join(dir, 'ca.crt'), TEST_CA_CERT);
    fs.writeFileSync(path.join(dir, 'namespace'), 'kindling');
    process.env['KUBERNETES_SERVICE_HOST'] = '127.0.0.1';
    process.env['KUBERNETES_SERVICE_PORT'] = String(a.port);
    assert.equal(isInCluster(prefix), true);
    const k = identity({ inClusterPathPrefix: prefix });
    assert.equal(k.status(), 'kubernetes: in-cluster service account, not started');
    await k.start();
    assert.match(k.status(), /^kubernetes: https:\/\/127\.0\.0\.1:\d+ \(in-cluster service account\), node worker-1: 13 pods/);
    assert.equal(k.podForContainer(CART)?.service.name, 'cart');
  });

  it('credential order: explicit kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config', () => {
    fs.mkdirSync(path.join(env.dir, '.kube'));
    const home = path.join(env.dir, '.kube', 'config');
    fs.writeFileSync(home, '{}');
    assert.equal(findKubeconfig(), home);
    const prefix = path.join(env.dir, 'root');
    fs.mkdirSync(path.join(prefix, 'var/run/secrets/kubernetes.io/serviceaccount'), { recursive: true });
    fs.writeFileSync(path.join(prefix, 'var/run/secrets/kubernetes.io/serviceaccount/token'), 't');
    process.env['KUBERNETES_SERVICE_HOST'] = '10.96.0.1';
    process.env['KUBERNETES_SERVICE_PORT'] = '443';
    assert.match(identity({ inClusterPathPrefix: prefix }).status(), /in-cluster service account/);
    const env2 = path.join(env.dir, 'env.kubeconfig');
    fs.writeFileSync(env2, '{}');
    process.env['KUBECONFIG'] = [path.join(env.dir, 'missing'), env2].join(path.delimiter);
    assert.equal(findKubeconfig(), env2);
    assert.match(identity({ inClusterPathPrefix: prefix }).status(), /kubeconfig .*env\.kubeconfig \(\$KUBECONFIG\)/);
    assert.match(identity({ inClusterPathPrefix: prefix, kubeconfig: '/etc/kindling/kubeconfig' }).status(), /^kubernetes: kubeconfig \/etc\/kindling\/kubeconfig, not started$/);
  });

  it('an unusable kubeconfig: start() resolves, one line, status says why', async () => {
    const k = identity({ kubeconfig: path.join(env.dir, 'nope') });
    await k.start();
    assert.match(k.status(), /^kubernetes: kubeconfig .*nope unusable \(ENOENT/);
    assert.equal(logs.length, 1);
  });

  it('a node name the cluster does not know is reported once', async () => {
    const a = await api();
    const k = identity({ kubeconfig: writeKubeconfig(env.dir, a), nodeName: 'worker-9' });
    await k.start();
    await waitFor(() => logs.length > 0, 'the warning');
    assert.deepEqual(logs, ['kubernetes: node "worker-9" is not among the 3 nodes of the cluster; no pod will resolve (set KUBERNETES_NODE_NAME to this node\'s name)']);
  });

  it('bad options throw KINDLING_ERR_INVALID_OPTION at construction', () => {
    for (const o of [{ deletedPodGraceMs: -1 }, { nodeName: 'Not A Node!' }, { backoff: { initialMs: 0 } }, { requestTimeoutMs: Number.NaN }]) {
      assert.throws(() => createKubernetesIdentity(o), (e: unknown) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION'));
    }
  });
});
