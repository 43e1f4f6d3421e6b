// Joined end to end: a real test server in a containerd-shaped cgroup whose container id is in
// a Pod the (fake, wire-exact) API server serves, owned ReplicaSet -> Deployment. Its spans must
// carry k8s.pod.name, k8s.deployment.name and the semconv service.name; the client's span names
// the pod it called.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SpanKind } from '@opentelemetry/api';
import { Agent } from '../../src/agent';
import { loadConfig } from '../../src/config/config';
import { MemorySpanExporter } from '../../src/export/console-spans';
import { createKubernetesIdentity } from '../../src/metadata/kubernetes';
import { kernelTest } from '../helpers/kernel';
import { TestCgroup, cgroupV2Root } from '../helpers/cgroups';
import { startHttpServer } from '../helpers/peers';
import { FAST, sandbox, startApi, writeKubeconfig } from './kubernetes/helpers';
import { NODE, containerId, pod, replicaSet } from './kubernetes/fixtures/cluster';

kernelTest('a server in a pod cgroup gets k8s.* attributes and the Kubernetes service.name; its client names the peer pod', async () => {
  const root = cgroupV2Root();
  assert.ok(root, 'cgroup v2 mounted');
  const env = sandbox();
  const cleanups: (() => void | Promise<void>)[] = [() => env.restore()];
  try {
    const cartPod = pod({
      name: 'cart-7d9f8b6c5d-x2x7q',
      ip: '127.0.0.1',
      labels: { 'app.kubernetes.io/name': 'cart', 'pod-template-hash': '7d9f8b6c5d' },
      owner: { kind: 'ReplicaSet', name: 'cart-7d9f8b6c5d' },
      containers: [{ name: 'server', image: 'ghcr.io/acme/cart:1.4.2' }],
    });
    const api = await startApi({ pods: [cartPod], replicasets: [replicaSet('cart-7d9f8b6c5d', 'cart')] });
    cleanups.push(() => api.close());
    const kubernetes = createKubernetesIdentity({ kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, ...FAST, log: () => undefined });
    const mem = new MemorySpanExporter();
    const agent = new Agent(loadConfig({ env: { OTEL_METRICS_EXPORTER: 'none' } }), { spanExporters: [mem], metricExporters: [], log: () => undefined, kubernetes });
    await agent.start();
    cleanups.push(() => agent.stop());

    const uid = String(api.get('pods', 'shop', 'cart-7d9f8b6c5d-x2x7q')?.['metadata']?.uid);
    assert.match(uid, /^[0-9a-f-]{36}$/, 'the API server stamped a uid');
    const id = containerId('cart-7d9f8b6c5d-x2x7q', 'server');
    const cg = new TestCgroup(root, `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`);
    cleanups.push(() => cg.remove());
    const server = await startHttpServer();
    cleanups.push(() => server.close());
    cg.add(server.pid);

    const curl = spawn('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${server.port}/slow/items/42`], { stdio: 'ignore' });
    const curlPid = curl.pid ?? 0;
    await new Promise((r) => curl.once('exit', r));
    const deadline = Date.now() + 10_000;
    const find = (kind: SpanKind, pid: number) => mem.spans.find((s) => s.kind === kind && s.resource.attributes['process.pid'] === pid);
    while ((!find(SpanKind.SERVER, server.pid) || !find(SpanKind.CLIENT, curlPid)) && Date.now() < deadline) {
      await agent.spans.flush();
      await new Promise((r) => setTimeout(r, 100));
    }
    const s = find(SpanKind.SERVER, server.pid);
    const c = find(SpanKind.CLIENT, curlPid);
    assert.ok(s && c, 'both spans');
    const r = s.resource.attributes;
    assert.equal(r['container.id'], id);
    assert.equal(r['container.runtime'], 'containerd');
    assert.equal(r['k8s.pod.name'], 'cart-7d9f8b6c5d-x2x7q');
    assert.equal(r['k8s.namespace.name'], 'shop');
    assert.equal(r['k8s.container.name'], 'server');
    assert.equal(r['k8s.node.name'], NODE);
    assert.equal(r['k8s.replicaset.name'], 'cart-7d9f8b6c5d');
    assert.equal(r['k8s.deployment.name'], 'cart');
    assert.equal(r['service.name'], 'cart', 'app.kubernetes.io/name wins over the workload name');
    assert.equal(r['service.namespace'], 'shop');
    assert.equal(r['service.instance.id'], 'shop.cart-7d9f8b6c5d-x2x7q.server');
    assert.equal(r['process.executable.name'], 'node', 'process identity stays alongside');
    assert.equal(s.attributes['http.route'], '/slow/items/{id}');
    // the client talked to 127.0.0.1, which this cluster says is the cart pod's IP
    assert.equal(c.attributes['service.peer.name'], 'cart');
    assert.equal(c.attributes['kindling.peer.kind'], 'pod');
    assert.equal(c.attributes['kindling.peer.k8s.pod.name'], 'cart-7d9f8b6c5d-x2x7q');
    assert.equal(c.resource.attributes['k8s.pod.name'], undefined, 'curl runs outside any pod');
  } finally {
    for (const f of cleanups.reverse()) await f();
  }
});

kernelTest('an API server that forbids pods, or hangs: one clear log line each, identity degrades to container and process, spans keep flowing', async () => {
  const root = cgroupV2Root();
  assert.ok(root, 'cgroup v2 mounted');
  for (const failure of ['forbidden', 'hang'] as const) {
    const env = sandbox();
    const cleanups: (() => void | Promise<void>)[] = [() => env.restore()];
    try {
      const api = await startApi({ pods: [pod({ name: 'p-1', ip: '10.1.1.1', containers: [{ name: 'c', image: 'x:1' }] })] });
      cleanups.push(() => api.close());
      if (failure === 'forbidden') api.forbid('pods');
      else api.hang(true);
      cleanups.unshift(() => api.hang(false));
      const logs: string[] = [];
      const kubernetes = createKubernetesIdentity({ kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, ...FAST, startTimeoutMs: 500, log: (l) => logs.push(l) });
      const mem = new MemorySpanExporter();
      const agent = new Agent(loadConfig({ env: { OTEL_METRICS_EXPORTER: 'none' } }), { spanExporters: [mem], metricExporters: [], log: (l) => logs.push(l), kubernetes });
      const t0 = Date.now();
      await agent.start();
      assert.ok(Date.now() - t0 < 8000, `${failure}: start does not wait for the API server`);
      cleanups.push(() => agent.stop());
      const id = 'c'.repeat(64);
      const cg = new TestCgroup(root, `system.slice/docker-${id}.scope`);
      cleanups.push(() => cg.remove());
      const server = await startHttpServer();
      cleanups.push(() => server.close());
      cg.add(server.pid);
      await new Promise((r) => spawn('curl', ['-s', `http://127.0.0.1:${server.port}/slow/x`], { stdio: 'ignore' }).once('exit', r));
      const deadline = Date.now() + 10_000;
      const find = () => mem.spans.find((s) => s.kind === SpanKind.SERVER && s.resource.attributes['process.pid'] === server.pid);
      while (!find() && Date.now() < deadline) {
        await agent.spans.flush();
        await new Promise((r) => setTimeout(r, 100));
      }
      const s = find();
      assert.ok(s, `${failure}: the span still comes`);
      assert.equal(s.resource.attributes['container.id'], id);
      assert.equal(s.resource.attributes['service.name'], 'node', `${failure}: service.name falls back to the executable`);
      assert.equal(s.resource.attributes['k8s.pod.name'], undefined);
      const k8sLines = logs.filter((l) => /kubernetes/i.test(l) && !/^identity:/.test(l));
      assert.ok(k8sLines.length >= 1 && k8sLines.length <= 3, `${failure}: a clear line, not a storm: ${JSON.stringify(k8sLines)}`);
      if (failure === 'forbidden') assert.ok(k8sLines.some((l) => /pods/.test(l) && /forbid|403|permission/i.test(l)), JSON.stringify(k8sLines));
    } finally {
      for (const f of cleanups.reverse()) await f();
    }
  }
});
