// Container identity from real cgroups: a test server and curl moved into cgroups named as
// docker, containerd, CRI-O and podman name them (v2, and v1 where mounted); their spans must
// carry the right container.id and container.runtime.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Agent } from '../../src/agent';
import { loadConfig } from '../../src/config/config';
import { MemorySpanExporter } from '../../src/export/console-spans';
import { kernelTest } from '../helpers/kernel';
import { TestCgroup, cgroupV1Root, cgroupV2Root } from '../helpers/cgroups';
import { startHttpServer } from '../helpers/peers';

interface Case {
  name: string;
  runtime: string;
  root: string | undefined;
  rel: (id: string, pod: string) => string;
}

const v2 = cgroupV2Root();
const CASES: Case[] = [
  { name: 'docker (systemd, v2)', runtime: 'docker', root: v2, rel: (id) => `system.slice/docker-${id}.scope` },
  { name: 'containerd (kubelet systemd, v2)', runtime: 'containerd', root: v2, rel: (id, pod) => `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${pod.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope` },
  { name: 'CRI-O (v2)', runtime: 'cri-o', root: v2, rel: (id, pod) => `kubepods.slice/kubepods-pod${pod.replace(/-/g, '_')}.slice/crio-${id}.scope` },
  { name: 'podman (v2)', runtime: 'podman', root: v2, rel: (id) => `machine.slice/libpod-${id}.scope` },
  { name: 'docker (cgroupfs, v1 pids)', runtime: 'docker', root: cgroupV1Root('pids'), rel: (id) => `docker/${id}` },
  { name: 'containerd (kubelet cgroupfs, v1 cpu)', runtime: 'containerd', root: cgroupV1Root('cpu'), rel: (id, pod) => `kubepods/burstable/pod${pod}/${id}` },
];

function curlIn(cg: TestCgroup, url: string): Promise<number> {
  const child = spawn('sh', ['-c', `${cg.shellPrefix()} curl -s --max-time 5 ${url}`], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(child.pid ?? 0) : reject(new Error(`curl exited ${code}`))));
  });
}

kernelTest('spans carry container.id and container.runtime from real cgroups', async (t) => {
  assert.ok(v2, 'a cgroup v2 hierarchy is mounted');
  const mem = new MemorySpanExporter();
  const agent = new Agent(loadConfig({ env: { OTEL_METRICS_EXPORTER: 'none' } }), { spanExporters: [mem], metricExporters: [], log: () => undefined, kubernetes: null });
  await agent.start();
  const cleanups: (() => void | Promise<void>)[] = [];
  const expected: { case: string; runtime: string; serverId: string; clientId: string; serverPid: number; clientPid: number }[] = [];
  try {
    for (const c of CASES) {
      if (!c.root) {
        t.diagnostic(`${c.name}: hierarchy not mounted here, case not run`);
        continue;
      }
      const serverId = randomBytes(32).toString('hex');
      const clientId = randomBytes(32).toString('hex');
      const serverCg = new TestCgroup(c.root, c.rel(serverId, randomUUID()));
      const clientCg = new TestCgroup(c.root, c.rel(clientId, randomUUID()));
      cleanups.push(() => clientCg.remove(), () => serverCg.remove());
      const server = await startHttpServer();
      cleanups.push(() => server.close());
      serverCg.add(server.pid);
      // the test server's /slow answers after 50 ms: on v1-only layouts the agent reads /proc/PID/cgroup,
      // which needs the client alive when its connection is first seen (a 2 ms curl may be gone by then)
      const clientPid = await curlIn(clientCg, `http://127.0.0.1:${server.port}/slow/${c.runtime}`);
      expected.push({ case: c.name, runtime: c.runtime, serverId, clientId, serverPid: server.pid, clientPid });
    }
    const deadline = Date.now() + 10_000;
    const mine = (): ReadableSpan[] => mem.spans.filter((s) => expected.some((e) => [e.serverPid, e.clientPid].includes(Number(s.resource.attributes['process.pid']))));
    while (mine().length < expected.length * 2 && Date.now() < deadline) {
      await agent.spans.flush();
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const e of expected) {
      const server = mem.spans.find((s) => s.kind === SpanKind.SERVER && s.resource.attributes['process.pid'] === e.serverPid);
      const client = mem.spans.find((s) => s.kind === SpanKind.CLIENT && s.resource.attributes['process.pid'] === e.clientPid);
      assert.ok(server && client, `${e.case}: both spans`);
      assert.equal(server.resource.attributes['container.id'], e.serverId, `${e.case}: server container.id`);
      assert.equal(server.resource.attributes['container.runtime'], e.runtime, `${e.case}: server container.runtime`);
      assert.equal(client.resource.attributes['container.id'], e.clientId, `${e.case}: client container.id`);
      assert.equal(client.resource.attributes['container.runtime'], e.runtime, `${e.case}: client container.runtime`);
      assert.equal(client.resource.attributes['process.executable.name'], 'curl');
    }
    assert.ok(expected.length >= 4, 'at least the four v2 layouts ran');
  } finally {
    await agent.stop();
    for (const c of cleanups.reverse()) await c();
  }
});
