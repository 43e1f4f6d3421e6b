#!/usr/bin/env node
'use strict';
// Runs every compiled test file (dist/**/*.test.js) with node:test, one file at a
// time: kernel tests load BPF programs and must not see each other's traffic.
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=replay).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'dist', 'receiver', 'test');
function find(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? find(p) : d.name.endsWith('.test.js') ? [p] : [];
  });
}
if (!fs.existsSync(root)) {
  process.stderr.write('no compiled tests: run npm run build first\n');
  process.exit(2);
}
const files = find(root).sort();
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...process.argv.slice(2), ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
