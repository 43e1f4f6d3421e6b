/**
 * Bounded memory under churn: 10,000 pods created and deleted through the
 * watch stream; after the grace period every table is back to its baseline,
 * and so is the informer's own cache.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createKubernetesIdentity } from '../../../src/metadata/kubernetes';
import { cluster, containerId, NODE, pod } from './fixtures/cluster';
import { FAST, sandbox, startApi, waitFor, writeKubeconfig } from './helpers';

const PODS = 10_000;
const BATCH = 500;
const GRACE_MS = 300;

describe('kubernetes identity: churn', () => {
  it(`${PODS} pods created and deleted: tables return to baseline after the grace period`, async () => {
    const env = sandbox();
    // a short history, as etcd compaction would keep: the live watch needs none
    const api = await startApi(cluster(), { historyLimit: 2000 });
    const k8s = createKubernetesIdentity({ ...FAST, kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, deletedPodGraceMs: GRACE_MS, log: () => undefined });
    try {
      await k8s.start();
      const baseline = k8s.stats();
      const eventsBefore = baseline.resources.pods?.events ?? 0;
      let peak = 0;
      for (let start = 0; start < PODS; start += BATCH) {
        const names: string[] = [];
        for (let i = start; i < start + BATCH; i++) {
          const name = `churn-${i}`;
          names.push(name);
          api.create('pods', pod({ name, namespace: 'churn', ip: `10.245.${i >> 8}.${i & 255}`, owner: { kind: 'ReplicaSet', name: 'churn-5d6f7g8h9' }, labels: { 'pod-template-hash': '5d6f7g8h9' }, containers: [{ name: 'app', image: 'ghcr.io/acme/churn:1' }] }));
        }
        const last = names.at(-1) ?? '';
        await waitFor(() => k8s.podForContainer(containerId(last, 'app')), `pod ${last}`);
        for (const name of names) api.delete('pods', 'churn', name);
        peak = Math.max(peak, k8s.stats().index.containers);
      }
      await waitFor(() => (k8s.stats().resources.pods?.events ?? 0) - eventsBefore >= 2 * PODS, 'every event', 20_000);
      assert.equal(k8s.podForContainer(containerId('churn-42', 'app'))?.deleted ?? true, true);
      await waitFor(() => k8s.stats().index.pendingDeletes === 0 && k8s.stats().index.deletedPods === 0, 'the grace period to pass', 10_000);

      const after = k8s.stats();
      assert.deepEqual(after.index, baseline.index);
      assert.equal(after.resources.pods?.objects, baseline.resources.pods?.objects);
      assert.equal(after.resources.pods?.malformed, 0);
      assert.equal(k8s.podForContainer(containerId(`churn-${PODS - 1}`, 'app')), undefined);
      assert.equal(k8s.peerForAddress('10.245.0.42', 80), undefined);
      assert.ok(peak > baseline.index.containers, 'the churn did go through the tables');
    } finally {
      await k8s.stop();
      await api.close();
      env.restore();
    }
  });
});
