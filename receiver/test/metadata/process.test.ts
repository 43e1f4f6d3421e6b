import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { ProcessTable } from '../../src/metadata/process';

test('a live process: parent, executable, argv[0], owner; arguments only when enabled', () => {
  const child = spawn('sleep', ['30', '--secret-looking-arg'].slice(0, 1));
  try {
    const t = new ProcessTable();
    const info = t.get(child.pid ?? 0);
    assert.equal(info?.parentPid, process.pid);
    assert.equal(info?.executableName, 'sleep');
    assert.ok(info?.executablePath?.endsWith('/sleep'));
    assert.equal(info?.command, 'sleep');
    assert.equal(info?.commandArgs, undefined, 'no arguments by default');
    assert.equal(info?.owner, process.getuid?.() === 0 ? 'root' : String(process.getuid?.()));
    const withArgs = new ProcessTable({ commandArgs: true }).get(child.pid ?? 0);
    assert.deepEqual(withArgs?.commandArgs, ['sleep', '30']);
  } finally {
    child.kill();
  }
});

test('exec bumps the generation; exit forgets after the grace period', () => {
  const t = new ProcessTable({ exitGraceMs: 1000 });
  const me = t.get(process.pid);
  assert.equal(me?.executablePath, path.resolve(process.execPath));
  assert.equal(me?.generation, 0);
  t.onExec(process.pid);
  assert.equal(t.get(process.pid)?.generation, 1);
  t.onExit(process.pid, 10_000);
  assert.equal(t.size, 1, 'still there during the grace period');
  t.sweep(11_500);
  assert.equal(t.size, 0);
  assert.equal(t.get(999_999_999), undefined);
});
