/**
 * Shared set-up for the Kubernetes identity tests: a sandboxed environment
 * (no real kubeconfig or service account can leak in), a fake API server
 * loaded with the fixture cluster, a kubeconfig that points at it, and a
 * poller.
 *
 * Example:
 *   const env = sandbox();                       // restore with env.restore()
 *   const api = await startApi(cluster());
 *   const k8s = createKubernetesIdentity({ kubeconfig: writeKubeconfig(env.dir, api), nodeName: NODE, log: logs.push.bind(logs) });
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeApiServer } from './fake-apiserver';
import type { FakeApiServerOptions, Resource } from './fake-apiserver';
import { TEST_CA_CERT } from './fixtures/tls';

export const TOKEN = 'kindling-test-token';

const ENV_KEYS = ['HOME', 'KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'KUBERNETES_NODE_NAME', 'NODE_NAME'];

/** A temp dir as $HOME, and no Kubernetes variables, until restore(). */
export function sandbox(): { dir: string; restore(): void } {
  const saved = new Map(ENV_KEYS.map((k) => [k, process.env[k]]));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-k8s-'));
  for (const k of ENV_KEYS) delete process.env[k];
  process.env['HOME'] = dir;
  return {
    dir,
    restore() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startApi(objects: Partial<Record<Resource, Array<Record<string, unknown>>>>, o: Partial<FakeApiServerOptions> = {}): Promise<FakeApiServer> {
  const api = new FakeApiServer({ token: TOKEN, bookmarkIntervalMs: 200, ...o });
  for (const [resource, list] of Object.entries(objects) as Array<[Resource, Array<Record<string, unknown>>]>) {
    for (const obj of list) api.create(resource, obj);
  }
  await api.listen();
  return api;
}

/** A kubeconfig (JSON is YAML) trusting the fake server's certificate. */
export function writeKubeconfig(dir: string, api: FakeApiServer, token = TOKEN): string {
  const file = path.join(dir, `kubeconfig-${api.port}-${token.length}`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: `https://127.0.0.1:${api.port}`, 'certificate-authority-data': Buffer.from(TEST_CA_CERT).toString('base64') } }],
    users: [{ name: 'kindling', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'kindling' } }],
    'current-context': 'fake',
  };
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Polls until cond() is truthy; fails with `what` after timeoutMs. */
export async function waitFor<T>(cond: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Options every test shares: fast backoff and deadlines. */
export const FAST = { backoff: { initialMs: 50, maxMs: 200 }, requestTimeoutMs: 2000, startTimeoutMs: 3000 };
