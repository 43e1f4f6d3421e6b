/**
 * Teardown that must also run when the benchmark is interrupted: a Ctrl-C or a
 * kill between attach and detach would otherwise leave children running a
 * multi-second loop. (Attached probes go away with the process anyway: their
 * links are file descriptors, nothing is pinned.)
 *
 * Example:
 *   const release = onInterrupt(() => probe.close());
 *   try { ... } finally { release(); probe.close(); }
 */

const tasks = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const t of [...tasks]) {
    try {
      t();
    } catch {
      // best effort: the process is going away
    }
  }
  tasks.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      runAll();
      process.exit(code);
    });
  }
}

/** Register teardown to run on SIGINT/SIGTERM; returns the function that unregisters it. */
export function onInterrupt(task: () => void): () => void {
  install();
  tasks.add(task);
  return () => {
    tasks.delete(task);
  };
}
