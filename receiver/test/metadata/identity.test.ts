import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Identity } from '../../src/metadata/identity';
import { Conntrack } from '../../src/metadata/conntrack';
import type { KubernetesIdentity, PeerIdentity, PodIdentity } from '../../src/metadata/types';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

class FakeK8s implements KubernetesIdentity {
  pods = new Map<string, PodIdentity>();
  peers = new Map<string, PeerIdentity>();
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  podForContainer(id: string): PodIdentity | undefined {
    return this.pods.get(id);
  }
  peerForAddress(ip: string, port: number): PeerIdentity | undefined {
    return this.peers.get(`${ip}:${port}`) ?? this.peers.get(ip);
  }
  status(): string {
    return 'kubernetes: fake';
  }
}

test('a plain process: service.name is the executable, process.* from /proc, producer attributes, extras', () => {
  const id = new Identity({ hostName: 'h1', extra: { 'deployment.environment.name': 'test' } });
  const ref = id.resourceFor(process.pid, 'node', 0);
  const a = ref.resource.attributes;
  assert.equal(a['service.name'], 'node');
  assert.equal(a['service.instance.id'], `h1/${process.pid}`);
  assert.equal(a['process.pid'], process.pid);
  assert.equal(a['process.parent_pid'], process.ppid);
  assert.equal(a['process.executable.path'], process.execPath);
  assert.equal(a['host.name'], 'h1');
  assert.equal(a['telemetry.distro.name'], 'kindling');
  assert.equal(a['deployment.environment.name'], 'test');
  assert.equal(a['container.id'], undefined);
  assert.equal(id.resourceFor(process.pid, 'node', 0), ref, 'cached');
});

test('a pod known to Kubernetes names the service by the k8s rules; peers are named as pods, Services (with the conntrack backend) and nodes', () => {
  const k8s = new FakeK8s();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-ct-')), 'nf_conntrack');
  fs.writeFileSync(file, 'ipv4 2 tcp 6 300 ESTABLISHED src=10.0.0.7 dst=10.96.0.10 sport=41000 dport=80 src=10.244.1.5 dst=10.0.0.7 sport=8080 dport=41000 [ASSURED]\n');
  k8s.peers.set('10.96.0.10:80', { kind: 'service', namespace: 'shop', service: 'cart' });
  k8s.peers.set('10.244.1.5', { kind: 'pod', namespace: 'shop', pod: 'cart-7d9f-abc', workload: { kind: 'Deployment', name: 'cart' }, service: 'cart' });
  k8s.peers.set('192.168.1.10', { kind: 'node', node: 'node-a' });
  const id = new Identity({ hostName: 'h1', kubernetes: k8s, conntrack: new Conntrack({ file, minIntervalMs: 0 }), names: (ip) => (ip === '93.184.216.34' ? 'example.com' : undefined) });
  const svc = id.peerAttributes({ addr: '10.0.0.7', port: 41000 }, { addr: '10.96.0.10', port: 80 });
  assert.equal(svc['service.peer.name'], 'cart');
  assert.equal(svc['kindling.peer.kind'], 'service');
  assert.equal(svc['kindling.peer.backend.k8s.pod.name'], 'cart-7d9f-abc');
  assert.equal(svc['kindling.peer.backend.k8s.workload.name'], 'cart');
  const pod = id.peerAttributes({ addr: '10.0.0.7', port: 1 }, { addr: '10.244.1.5', port: 8080 });
  assert.equal(pod['kindling.peer.k8s.pod.name'], 'cart-7d9f-abc');
  assert.equal(pod['service.peer.namespace'], 'shop');
  assert.equal(id.peerAttributes({ addr: 'a', port: 1 }, { addr: '192.168.1.10', port: 10250 })['kindling.peer.k8s.node.name'], 'node-a');
  assert.deepEqual(id.peerAttributes({ addr: 'a', port: 1 }, { addr: '93.184.216.34', port: 443 }), { 'kindling.peer.kind': 'external', 'kindling.peer.name': 'example.com' });
});

test('a peer on this host (loopback, or one of its interface addresses) is local, not external', () => {
  const id = new Identity({ hostName: 'h1' });
  assert.equal(id.peerAttributes({ addr: '127.0.0.1', port: 1 }, { addr: '127.0.0.1', port: 80 })['kindling.peer.kind'], 'local');
  assert.equal(id.peerAttributes({ addr: '::1', port: 1 }, { addr: '::1', port: 81 })['kindling.peer.kind'], 'local');
  assert.equal(id.peerAttributes({ addr: '::ffff:127.0.0.1', port: 1 }, { addr: '::ffff:127.0.0.2', port: 82 })['kindling.peer.kind'], 'local');
  const own = Object.values(os.networkInterfaces()).flatMap((l) => l ?? []).find((i) => i.family === 'IPv4' && !i.internal);
  if (own) assert.equal(id.peerAttributes({ addr: '10.1.1.1', port: 1 }, { addr: own.address, port: 83 })['kindling.peer.kind'], 'local');
  assert.equal(id.peerAttributes({ addr: '127.0.0.1', port: 1 }, { addr: '203.0.113.9', port: 84 })['kindling.peer.kind'], 'external');
});
