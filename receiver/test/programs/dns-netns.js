// Runs inside `unshare --net --mount`: brings up loopback, points /etc/resolv.conf
// (in this mount namespace only) at a dnsmasq on 127.0.0.1:53, runs each step to
// its end, stops dnsmasq and prints one JSON line: { dnsmasqPid, steps: [{ cmd, pid, code, stdout }] }.
// Usage: node dns-netns.js '{"dnsmasq": [args...], "more": [[args...]], "steps": [["getent", "ahosts", "dual.test"], ...]}'
//   more: further dnsmasq instances (on other ports), started before the steps
// (No address is added to lo: with one more, glibc's AI_ADDRCONFIG stops asking for AAAA.)
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const spec = JSON.parse(process.argv[2]);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-dns-'));
const resolv = path.join(dir, 'resolv.conf');
fs.writeFileSync(resolv, 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n');

function runStep(cmd) {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d.toString()));
    child.stderr.on('data', (d) => (stdout += d.toString()));
    child.once('error', (e) => resolve({ cmd, pid: 0, code: -1, stdout: String(e) }));
    child.once('exit', (code) => resolve({ cmd, pid: child.pid, code, stdout }));
  });
}

function startDnsmasq(args) {
  const dnsmasq = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    dnsmasq.stderr.on('data', (d) => {
      log += d.toString();
      if (/dnsmasq(\[\d+\])?: started/.test(log)) resolve(dnsmasq);
    });
    dnsmasq.once('exit', (code) => reject(new Error(`dnsmasq exited ${code}: ${log}`)));
  });
}

async function main() {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  execFileSync('mount', ['--bind', resolv, '/etc/resolv.conf']);
  const servers = [];
  for (const args of [spec.dnsmasq, ...(spec.more || [])]) servers.push(await startDnsmasq(args));
  const steps = [];
  for (const cmd of spec.steps) steps.push(await runStep(cmd));
  for (const s of servers) {
    const exited = new Promise((r) => s.once('exit', r));
    s.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ dnsmasqPid: servers[0].pid, morePids: servers.slice(1).map((s) => s.pid), steps }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
