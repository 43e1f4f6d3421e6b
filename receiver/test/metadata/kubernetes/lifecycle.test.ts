/**
 * The watch stream over time, through @kubernetes/client-node against the
 * fake API server: pods and owners changing mid-stream, deleted pods and
 * restarted containers within and after their grace period, a watch expiring
 * with 410 Gone (relist), a connection destroyed mid-stream (reconnect), a
 * server-side watch timeout with bookmarks (resume without relisting), and
 * malformed objects.
 */
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKubernetesIdentity } from '../../../src/metadata/kubernetes';
import type { KubernetesIdentitySource } from '../../../src/metadata/kubernetes';
import type { FakeApiServer } from './fake-apiserver';
import { cluster, containerId, NODE, pod, replicaSet, service } from './fixtures/cluster';
import { FAST, sandbox, sleep, startApi, waitFor, writeKubeconfig } from './helpers';

const GRACE_MS = 400;

describe('kubernetes identity: a changing cluster', () => {
  let env: ReturnType<typeof sandbox>;
  let api: FakeApiServer;
  let k8s: KubernetesIdentitySource;
  const logs: string[] = [];

  before(async () => {
    env = sandbox();
    api = await startApi(cluster());
    k8s = createKubernetesIdentity({ ...FAST, kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, deletedPodGraceMs: GRACE_MS, log: (l) => logs.push(l) });
    await k8s.start();
  });
  after(async () => {
    await k8s.stop();
    await api.close();
    env.restore();
  });

  const lists = (): number => api.requests.filter((r) => r.resource === 'pods' && !r.watch).length;

  it('resolves a pod added mid-stream; after deletion it resolves, flagged, until the grace period ends', async () => {
    const before = k8s.stats().index;
    const p = pod({ name: 'cart-7d4f9c7b9d-new01', ip: '10.244.1.40', labels: { 'pod-template-hash': '7d4f9c7b9d' }, owner: { kind: 'ReplicaSet', name: 'cart-7d4f9c7b9d' }, containers: [{ name: 'cart', image: 'ghcr.io/acme/cart:1.4.2' }] });
    api.create('pods', p);
    const id = containerId('cart-7d4f9c7b9d-new01', 'cart');
    const live = await waitFor(() => k8s.podForContainer(id), 'the new pod');
    assert.equal(live.deleted, false);
    assert.equal(live.service.name, 'cart');
    assert.equal((k8s.peerForAddress('10.244.1.40', 8080) as { pod?: string } | undefined)?.pod, 'cart-7d4f9c7b9d-new01');

    api.delete('pods', 'shop', 'cart-7d4f9c7b9d-new01');
    const gone = await waitFor(() => k8s.podForContainer(id)?.deleted && k8s.podForContainer(id), 'the deleted flag');
    assert.equal(gone.attributes['k8s.pod.name'], 'cart-7d4f9c7b9d-new01');
    assert.equal((k8s.peerForAddress('10.244.1.40', 8080) as { pod?: string } | undefined)?.pod, 'cart-7d4f9c7b9d-new01');
    assert.equal(k8s.stats().index.deletedPods, 1);

    await waitFor(() => k8s.podForContainer(id) === undefined, 'the grace period to end', GRACE_MS * 5);
    assert.equal(k8s.peerForAddress('10.244.1.40', 8080), undefined);
    await waitFor(() => k8s.stats().index.pendingDeletes === 0, 'the sweep');
    assert.deepEqual(k8s.stats().index, before);
  });

  it('updates the Deployment name when the ReplicaSet arrives after its pod', async () => {
    api.create('pods', pod({ name: 'late-rs-abcde', ip: '10.244.1.41', owner: { kind: 'ReplicaSet', name: 'late-rs' }, containers: [{ name: 'late', image: 'ghcr.io/acme/late:1' }] }));
    const id = containerId('late-rs-abcde', 'late');
    const first = await waitFor(() => k8s.podForContainer(id), 'the pod');
    assert.equal(first.attributes['k8s.deployment.name'], undefined);
    assert.equal(first.service.name, 'late-rs');
    api.create('replicasets', replicaSet('late-rs', 'late'));
    const second = await waitFor(() => k8s.podForContainer(id)?.attributes['k8s.deployment.name'] === 'late' && k8s.podForContainer(id), 'the Deployment name');
    assert.equal(second.service.name, 'late');
    assert.notEqual(second, first);
  });

  it('a restarted container: the new id resolves at once, the old one until the grace period ends', async () => {
    const name = 'postgres-0';
    const oldId = containerId(name, 'postgres');
    const current = api.get('pods', 'data', name);
    assert.ok(current);
    const newId = containerId(name, 'postgres-restart-1');
    current['status'].containerStatuses[0].containerID = `containerd://${newId}`;
    current['status'].containerStatuses[0].restartCount = 1;
    api.update('pods', current);
    await waitFor(() => k8s.podForContainer(newId), 'the new container id');
    assert.equal(k8s.podForContainer(oldId)?.attributes['k8s.pod.name'], name);
    await waitFor(() => k8s.podForContainer(oldId) === undefined, 'the old id to be forgotten', GRACE_MS * 5);
    assert.equal(k8s.podForContainer(newId)?.attributes['k8s.container.name'], 'postgres');
  });

  it('a watch that ends with 410 Gone relists, and the state is right afterwards', async () => {
    const listsBefore = lists();
    // the client is cut off while the cluster changes and the history is compacted
    api.hang(true);
    api.dropWatches('pods');
    await waitFor(() => api.openWatches('pods') === 0, 'the watch to drop');
    api.delete('pods', 'shop', 'debug-shell');
    api.create('pods', pod({ name: 'while-away', ip: '10.244.1.42', containers: [{ name: 'away', image: 'busybox:1.36' }] }));
    api.compact();
    api.hang(false);
    await waitFor(() => k8s.podForContainer(containerId('while-away', 'away')), 'the pod created while away');
    await waitFor(() => k8s.podForContainer(containerId('debug-shell', 'shell'))?.deleted, 'the pod deleted while away');
    assert.ok(lists() > listsBefore, 'relisted');
    assert.ok((k8s.stats().resources.pods?.expired ?? 0) >= 1, 'saw the 410');
    assert.equal(k8s.podForContainer(containerId('cart-7d4f9c7b9d-x2x8q', 'cart'))?.deleted, false);

    // and a 410 sent on an open watch (a lagging watch cache) relists too
    await waitFor(() => api.openWatches('pods') === 1, 'the watch to reopen');
    const again = lists();
    api.expireWatches('pods');
    await waitFor(() => lists() > again, 'the relist');
  });

  it('reconnects after the server destroys the connection, resumes from the last resourceVersion, and new events arrive', async () => {
    await waitFor(() => api.openWatches('pods') === 1, 'an open watch');
    const listsBefore = lists();
    const logsBefore = logs.length;
    api.dropWatches('pods');
    await sleep(20);
    api.create('pods', pod({ name: 'after-drop', ip: '10.244.1.43', containers: [{ name: 'after', image: 'busybox:1.36' }] }));
    await waitFor(() => k8s.podForContainer(containerId('after-drop', 'after')), 'an event after the reconnect');
    assert.equal(lists(), listsBefore, 'resumed the watch without a relist');
    const resumed = api.requests.filter((r) => r.resource === 'pods' && r.watch).at(-1);
    assert.match(resumed?.query['resourceVersion'] ?? '', /^\d+$/);
    assert.equal(resumed?.query['allowWatchBookmarks'], 'true');
    await waitFor(() => k8s.stats().resources.pods?.state === 'synced', 'the synced state');
    const lines = logs.slice(logsBefore);
    assert.ok(lines.length <= 2, `one line per state change, got ${JSON.stringify(lines)}`);
    if (lines.length > 0) assert.match(lines.at(-1) ?? '', /answering again|watching again/);
  });

  it('skips and counts malformed objects from lists and watches, and keeps going', async () => {
    const malformedBefore = k8s.stats().resources.pods?.malformed ?? 0;
    api.createRaw('pods', { kind: 'Pod', apiVersion: 'v1', spec: { nodeName: NODE } }); // no metadata
    api.createRaw('pods', { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'no-uid', namespace: 'shop' } });
    api.sendRawLine('pods', 'this is not json');
    api.sendRawLine('pods', '{"type":"ADDED","object":null}');
    api.sendRawLine('pods', '{"type":"ADDED"}');
    api.sendRawLine('pods', '{"type":"BOOKMARK","object":{}}');
    api.sendRawLine('pods', '{"type":"SOMETHING","object":{"metadata":{"name":"x","namespace":"shop","uid":"u"}}}');
    // well identified, every other field missing or of the wrong type: kept, resolves what it can
    api.createRaw('pods', {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'odd', namespace: 'shop', uid: 'b3f0c2f5-odd', resourceVersion: '1', ownerReferences: [null, { kind: 'ReplicaSet' }], labels: 'x' },
      spec: { nodeName: NODE, containers: 'none' },
      status: { podIPs: [null, { ip: 5 }, { ip: '10.244.1.44' }], containerStatuses: [null, { name: 'odd', containerID: 42 }, { name: 'ok', containerID: `containerd://${containerId('odd', 'ok')}` }], initContainerStatuses: 'x' },
    });
    api.create('pods', pod({ name: 'after-garbage', ip: '10.244.1.45', containers: [{ name: 'after', image: 'busybox:1.36' }] }));
    await waitFor(() => k8s.podForContainer(containerId('after-garbage', 'after')), 'a valid pod after the garbage');
    const odd = k8s.podForContainer(containerId('odd', 'ok'));
    assert.deepEqual(odd?.service, { name: 'odd', namespace: 'shop', instanceId: 'shop.odd.ok' });
    assert.equal((k8s.peerForAddress('10.244.1.44', 1) as { pod?: string } | undefined)?.pod, 'odd');
    const s = k8s.stats().resources.pods;
    assert.equal((s?.malformed ?? 0) - malformedBefore, 6); // 2 raw objects, null, missing, bad bookmark, unknown type
    assert.equal(s?.handlerErrors, 0);
    assert.equal(s?.state, 'synced');
  });

  it('counts malformed list items the same way after a relist', async () => {
    const before = k8s.stats().resources.pods?.malformed ?? 0;
    const listsBefore = lists();
    api.expireWatches('pods');
    await waitFor(() => lists() > listsBefore && k8s.stats().resources.pods?.state === 'synced', 'the relist');
    await waitFor(() => (k8s.stats().resources.pods?.malformed ?? 0) - before >= 2, 'the malformed items');
    assert.equal((k8s.stats().resources.pods?.malformed ?? 0) - before, 2); // no metadata, no uid
    assert.ok(k8s.podForContainer(containerId('odd', 'ok')));
  });
});

describe('kubernetes identity: server-side watch timeout and bookmarks', () => {
  it('ends each watch after timeoutSeconds and resumes from the bookmarked resourceVersion, without relisting', async () => {
    const env = sandbox();
    const api = await startApi(cluster(), { bookmarkIntervalMs: 100 });
    const logs: string[] = [];
    const k8s = createKubernetesIdentity({ ...FAST, kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, watchTimeoutSeconds: 1, log: (l) => logs.push(l) });
    try {
      await k8s.start();
      // other kinds move the global resourceVersion; pod watches learn it from bookmarks
      api.create('services', service('extra', ['10.96.50.5'], [{ port: 80 }]));
      const rv = api.resourceVersion;
      await waitFor(() => api.requests.filter((r) => r.resource === 'pods' && r.watch && Number(r.query['resourceVersion']) >= rv).length > 0, 'a watch resumed at the bookmarked version', 4000);
      const pods = api.requests.filter((r) => r.resource === 'pods');
      assert.equal(pods.filter((r) => !r.watch).length, 1, 'listed once');
      assert.ok(pods.filter((r) => r.watch).length >= 2);
      for (const r of pods.filter((x) => x.watch)) assert.equal(r.query['timeoutSeconds'], '1');
      assert.deepEqual(logs, []);
      assert.equal(k8s.peerForAddress('10.96.50.5', 80)?.kind, 'service');
    } finally {
      await k8s.stop();
      await api.close();
      env.restore();
    }
  });
});

describe('kubernetes identity: a server that fails every watch', () => {
  it('backs off instead of relisting in a tight loop, logs once, and recovers', async () => {
    const env = sandbox();
    const api = await startApi(cluster());
    const logs: string[] = [];
    const k8s = createKubernetesIdentity({ ...FAST, backoff: { initialMs: 50, maxMs: 400 }, kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, log: (l) => logs.push(l) });
    try {
      await k8s.start();
      const lists = (): number => api.requests.filter((r) => r.resource === 'pods' && !r.watch).length;
      api.expireEveryWatch(true);
      api.expireWatches();
      const before = lists();
      await sleep(1500);
      const during = lists() - before;
      // 3 quick expiries, then 50, 100, 200, 400, 400 … ms pauses: a few dozen lists, not thousands
      assert.ok(during >= 3 && during < 40, `${during} lists in 1.5 s`);
      const podLines = logs.filter((l) => l.includes('pods'));
      assert.equal(podLines.length, 1, JSON.stringify(logs));
      assert.match(podLines[0] ?? '', /closed 3 watches of \/api\/v1\/pods at once/);
      api.expireEveryWatch(false);
      api.create('pods', pod({ name: 'after-storm', ip: '10.244.1.46', containers: [{ name: 'after', image: 'busybox:1.36' }] }));
      await waitFor(() => k8s.podForContainer(containerId('after-storm', 'after')), 'the pod after the storm', 3000);
      await waitFor(() => logs.some((l) => l === 'kubernetes: pods: watching again'), 'the recovery line', 3000);
    } finally {
      await k8s.stop();
      await api.close();
      env.restore();
    }
  });
});
