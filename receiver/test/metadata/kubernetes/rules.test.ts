/**
 * The pure rules under the Kubernetes identity source: service.* attributes
 * (semconv order), image versions (distribution/reference tag and digest),
 * controller names derived from child names, IP and container id forms, and
 * the classification of API failures.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify } from '../../../src/metadata/kubernetes/api-errors';
import { normalizeIp, parseContainerId } from '../../../src/metadata/kubernetes/objects';
import { annotationAttributes, serviceAttributes, versionFromImage } from '../../../src/metadata/kubernetes/service-attributes';
import type { ServiceFacts } from '../../../src/metadata/kubernetes/service-attributes';
import { cronJobFromJobName, deploymentFromReplicaSetName, topWorkload } from '../../../src/metadata/kubernetes/workload';

const DIGEST = 'sha256:4bf8c37e1d6c5c9b1ad9d2bd5b1b3b8a4d0f2e9b7c6a5d4e3f2a1b0c9d8e7f6a';

describe('service.* rules', () => {
  const base: ServiceFacts = { namespace: 'shop', pod: 'cart-7d4f9c7b9d-x2x8q', container: 'cart', labels: {}, annotations: {}, workload: {} };

  it('service.name walks the semconv list, first value found wins', () => {
    const chain: Array<[Partial<ServiceFacts>, string]> = [
      [{ annotations: { 'resource.opentelemetry.io/service.name': 'a' }, labels: { 'app.kubernetes.io/instance': 'b' } }, 'a'],
      [{ labels: { 'app.kubernetes.io/instance': 'b', 'app.kubernetes.io/name': 'c' } }, 'b'],
      [{ labels: { 'app.kubernetes.io/name': 'c' }, workload: { deployment: 'd' } }, 'c'],
      [{ workload: { deployment: 'd', replicaset: 'd-1' } }, 'd'],
      [{ workload: { replicaset: 'rs', statefulset: 'ss' } }, 'rs'],
      [{ workload: { statefulset: 'ss', daemonset: 'ds' } }, 'ss'],
      [{ workload: { daemonset: 'ds', cronjob: 'cj' } }, 'ds'],
      [{ workload: { cronjob: 'cj', job: 'cj-28930460' } }, 'cj'],
      [{ workload: { job: 'j' } }, 'j'],
      [{}, 'cart-7d4f9c7b9d-x2x8q'],
    ];
    for (const [f, want] of chain) assert.equal(serviceAttributes({ ...base, ...f }).name, want, JSON.stringify(f));
  });

  it('empty annotation or label values do not count as found', () => {
    assert.equal(serviceAttributes({ ...base, annotations: { 'resource.opentelemetry.io/service.name': '' }, labels: { 'app.kubernetes.io/name': 'c' } }).name, 'c');
  });

  it('well-known labels can be turned off (semconv asks tools to make them opt-out)', () => {
    const f = { ...base, labels: { 'app.kubernetes.io/name': 'c', 'app.kubernetes.io/version': '9' }, workload: { statefulset: 'ss' }, wellKnownLabels: false, image: 'x:1' };
    assert.deepEqual(serviceAttributes(f), { name: 'ss', namespace: 'shop', version: '1', instanceId: 'shop.cart-7d4f9c7b9d-x2x8q.cart' });
  });

  it('namespace, version and instance id fall back from annotations', () => {
    assert.deepEqual(serviceAttributes({ ...base, labels: { 'app.kubernetes.io/version': '3.2.0' }, image: 'nginx:1.27' }), { name: base.pod, namespace: 'shop', version: '3.2.0', instanceId: 'shop.cart-7d4f9c7b9d-x2x8q.cart' });
    assert.deepEqual(serviceAttributes({ ...base, container: undefined }), { name: base.pod, namespace: 'shop' });
  });

  it('other resource.opentelemetry.io/ annotations become attributes', () => {
    assert.deepEqual(annotationAttributes({ 'resource.opentelemetry.io/service.name': 'x', 'resource.opentelemetry.io/deployment.environment.name': 'prod', 'resource.opentelemetry.io/team': '' }), { 'deployment.environment.name': 'prod' });
  });
});

describe('image versions', () => {
  const cases: Array<[string, string | undefined]> = [
    ['nginx', undefined],
    ['nginx:1.27.2', '1.27.2'],
    ['nginx:latest', 'latest'],
    ['docker.io/library/nginx:1.27', '1.27'],
    ['localhost:5000/team/app', undefined],
    ['localhost:5000/team/app:v2', 'v2'],
    ['[fd00::1]:5000/app:v3', 'v3'],
    [`ghcr.io/acme/app@${DIGEST}`, DIGEST],
    [`ghcr.io/acme/app:1.0@${DIGEST}`, `1.0@${DIGEST}`],
    ['ghcr.io/acme/app@sha256:short', undefined],
    ['Upper/Case:1', undefined],
    ['app:bad tag', undefined],
    ['', undefined],
  ];
  for (const [image, want] of cases) it(`${JSON.stringify(image)} → ${String(want)}`, () => assert.equal(versionFromImage(image), want));
});

describe('derived controller names', () => {
  it('Deployment from a ReplicaSet name and its pod-template-hash', () => {
    assert.equal(deploymentFromReplicaSetName('cart-7d4f9c7b9d', '7d4f9c7b9d'), 'cart');
    assert.equal(deploymentFromReplicaSetName('my-app-v2-59d8c5d4c7', '59d8c5d4c7'), 'my-app-v2');
    assert.equal(deploymentFromReplicaSetName('cart-7d4f9c7b9d', undefined), undefined);
    assert.equal(deploymentFromReplicaSetName('cart-7d4f9c7b9d', 'ffff'), undefined);
    assert.equal(deploymentFromReplicaSetName('-7d4f9c7b9d', '7d4f9c7b9d'), undefined);
  });

  it('CronJob from a Job name with a scheduled-time suffix', () => {
    assert.equal(cronJobFromJobName('nightly-report-28930460'), 'nightly-report');
    assert.equal(cronJobFromJobName('db-migrate'), undefined);
    assert.equal(cronJobFromJobName('migrate-2'), undefined);
  });

  it('the outermost workload names a peer', () => {
    assert.deepEqual(topWorkload({ replicaset: 'a-1', deployment: 'a' }), { kind: 'Deployment', name: 'a' });
    assert.deepEqual(topWorkload({ job: 'b-28930460', cronjob: 'b' }), { kind: 'CronJob', name: 'b' });
    assert.equal(topWorkload({}), undefined);
  });
});

describe('addresses and ids', () => {
  it('normalizes IPs the way sockets print them', () => {
    assert.equal(normalizeIp('10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('::FFFF:a00:1'), '10.0.0.1');
    assert.equal(normalizeIp('FD00:10:96:0:0:0:0:1'), 'fd00:10:96::1');
    assert.equal(normalizeIp('256.0.0.1'), undefined);
    assert.equal(normalizeIp('None'), undefined);
    assert.equal(normalizeIp(''), undefined);
    assert.equal(normalizeIp(7), undefined);
  });

  it('parses runtime-prefixed container ids', () => {
    assert.deepEqual(parseContainerId('containerd://ABCdef0123'), { runtime: 'containerd', id: 'abcdef0123' });
    assert.deepEqual(parseContainerId('cri-o://0a1b'), { runtime: 'cri-o', id: '0a1b' });
    assert.deepEqual(parseContainerId('0a1b'), { runtime: '', id: '0a1b' });
    assert.equal(parseContainerId('docker://'), undefined);
    assert.equal(parseContainerId(42), undefined);
  });
});

describe('API failures', () => {
  it('sorts client errors into operator-facing states', () => {
    const status = { kind: 'Status', code: 403, message: 'pods is forbidden: User "x" cannot list resource "pods"' };
    assert.deepEqual(classify({ code: 403, body: JSON.stringify(status), message: 'HTTP-Code: 403\nMessage: Unknown API Status Code!' }), { failure: 'forbidden', status: 403, detail: status.message });
    assert.equal(classify({ statusCode: 401, message: 'Unauthorized' }).failure, 'unauthorized');
    assert.equal(classify({ code: 404 }).failure, 'not-served');
    assert.equal(classify({ code: 503 }).failure, 'server-error');
    assert.equal(classify(Object.assign(new Error('request to https://x/api failed, reason: connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', type: 'system' })).detail, 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1');
    assert.equal(classify(Object.assign(new Error('The operation was aborted.'), { name: 'AbortError', type: 'aborted' })).failure, 'no-answer');
    assert.equal(classify(new Error('boom')).failure, 'error');
    assert.equal(classify(undefined).failure, 'error');
  });
});
