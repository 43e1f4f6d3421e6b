import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerFromCgroup } from '../../src/metadata/container';

const ID = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
const UID = '3f6c2a1e-7b44-4e5a-9c1d-0a2b3c4d5e6f';
const UID_ = UID.replace(/-/g, '_');

test('each runtime as it names its cgroups, v2 and v1', () => {
  const cases: [string, string, string?][] = [
    [`0::/system.slice/docker-${ID}.scope`, 'docker'],
    [`12:pids:/docker/${ID}`, 'docker'],
    [`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, 'containerd', UID],
    [`4:cpu,cpuacct:/kubepods/burstable/pod${UID}/${ID}`, 'containerd', UID],
    [`0::/kubepods/besteffort/pod${UID}/${ID}`, 'containerd', UID],
    [`0::/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope`, 'cri-o', UID],
    [`0::/machine.slice/libpod-${ID}.scope/container`, 'podman'],
    [`3:memory:/libpod_parent/libpod-${ID}`, 'podman'],
  ];
  for (const [text, runtime, pod] of cases) {
    const c = containerFromCgroup(text);
    assert.equal(c?.id, ID, text);
    assert.equal(c?.runtime, runtime, text);
    assert.equal(c?.podUid, pod, text);
  }
});

test('the runtime monitors and plain processes are not containers', () => {
  assert.equal(containerFromCgroup(`0::/machine.slice/libpod-conmon-${ID}.scope`), undefined);
  assert.equal(containerFromCgroup(`0::/system.slice/crio-conmon-${ID}.scope`), undefined);
  assert.equal(containerFromCgroup('0::/user.slice/user-0.slice/session-1.scope'), undefined);
  assert.equal(containerFromCgroup('0::/'), undefined);
  assert.equal(containerFromCgroup(`0::/docker/${ID.slice(1)}`), undefined, '63 hex digits is not an id');
});

test('a whole /proc/PID/cgroup text: the v2 line first, then v1 hierarchies', () => {
  const v1only = ['12:pids:/docker/' + ID, '11:memory:/', '0::/'].join('\n');
  assert.equal(containerFromCgroup(v1only)?.runtime, 'docker');
  const other = 'f'.repeat(64);
  const both = [`12:pids:/docker/${other}`, `0::/system.slice/docker-${ID}.scope`].join('\n');
  assert.equal(containerFromCgroup(both)?.id, ID);
});

test('cgroup ids map to paths by walking the hierarchy; unknown ids walk again, rate-limited, then are remembered as missing', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const path = require('node:path') as typeof import('node:path');
  const { CgroupPaths } = require('../../src/metadata/container') as typeof import('../../src/metadata/container');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-cg-'));
  const a = path.join(root, 'system.slice', `docker-${ID}.scope`);
  fs.mkdirSync(a, { recursive: true });
  const paths = new CgroupPaths({ root, minIntervalMs: 1000 });
  assert.equal(paths.path(fs.statSync(a).ino, 0), `/system.slice/docker-${ID}.scope`);
  const b = path.join(root, 'machine.slice');
  fs.mkdirSync(b);
  const bIno = fs.statSync(b).ino;
  assert.equal(paths.path(bIno, 500), undefined, 'too soon to walk again');
  assert.equal(paths.path(bIno, 1500), '/machine.slice', 'walked again');
  const walks = paths.walks;
  assert.equal(paths.path(123456789, 3000), undefined);
  assert.equal(paths.path(123456789, 5000), undefined);
  assert.equal(paths.walks, walks + 1, 'a missing id walks once, then is remembered');
});
