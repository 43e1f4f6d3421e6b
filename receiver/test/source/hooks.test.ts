import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureViability, hookOfProgram, hookStatuses } from '../../src/source/hooks';
import type { ProgramReport } from '../../src/source/native';

function prog(name: string, attached = true, message = ''): ProgramReport {
  const hook = hookOfProgram(name);
  const section = hook === 'inet_sock_set_state' ? 'tracepoint/sock/inet_sock_set_state' : `tracepoint/syscalls/sys_${name.includes('enter') ? 'enter' : 'exit'}_${hook}`;
  return { name, section, loaded: true, attached, errno: attached ? 0 : 13, message };
}

const pair = (hook: string, enterOk = true, exitOk = true): ProgramReport[] => [prog(`kd_enter_${hook}`, enterOk, 'Permission denied'), prog(`kd_exit_${hook}`, exitOk)];

test('a hook is whole only when both its programs attached', () => {
  const s = hookStatuses([...pair('read'), ...pair('write', false), prog('kd_inet_sock_set_state')]);
  assert.deepEqual(s.map((x) => [x.hook, x.ok]), [['read', true], ['write', false], ['inet_sock_set_state', true]]);
  assert.match(s[1]!.reason, /sys_enter_write: attach failed \(errno 13\): Permission denied/);
});

test('capture works with one whole receive hook and one whole send hook, degraded without the rest', () => {
  const v = captureViability([...pair('recvfrom'), ...pair('sendto'), ...pair('read', false), ...pair('close', true, false)]);
  assert.equal(v.ok, true);
  assert.deepEqual(v.degraded.sort(), ['close', 'read']);
});

test('capture cannot work without a send hook, and says so', () => {
  const v = captureViability([...pair('read'), ...pair('write', true, false)]);
  assert.equal(v.ok, false);
  assert.deepEqual(v.problems, ['no send hook attached (write, writev, sendto, sendmsg, sendmmsg, sendfile64)']);
});
