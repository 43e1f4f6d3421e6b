// cpu-profile-preload: `node -r cpu-profile-preload.js ...` profiles a process
// from its first SIGUSR2 until it exits, into $KINDLING_CPU_PROFILE_DIR/<pid>.cpuprofile
// (open in Chrome DevTools or speedscope).
//
// Why not `node --cpu-prof`: its sampling signal (SIGPROF, every 1 ms) interrupts
// the BPF verifier, which then gives up with EAGAIN: the agent's programs do not
// load. Starting the profiler once the agent runs avoids that.
'use strict';
const fs = require('node:fs');
const inspector = require('node:inspector');
const path = require('node:path');

const dir = process.env.KINDLING_CPU_PROFILE_DIR || '.';
const session = new inspector.Session();
let profiling = false;

process.on('SIGUSR2', () => {
  if (profiling) return;
  profiling = true;
  session.connect();
  session.post('Profiler.enable', () => session.post('Profiler.start'));
});

process.on('exit', () => {
  if (!profiling) return;
  // an in-process session answers synchronously, so this completes before exit
  session.post('Profiler.stop', (err, result) => {
    if (err) return;
    fs.writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
});
