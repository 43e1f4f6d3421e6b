/**
 * Kernel tests: they run when eBPF is usable here. When it is not, they are
 * skipped with the reason, except under KINDLING_E2E=1 (CI), where they fail
 * with the reason instead: CI never mistakes "could not run" for "passed".
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { btfCheck, capabilityCheck } from '../../src/system/environment';
import { artifacts } from '../../src/util/paths';

export function kernelUnavailableReason(): string | undefined {
  const caps = capabilityCheck();
  if (!caps.ok) return caps.detail;
  const btf = btfCheck();
  if (!btf.ok) return btf.detail;
  for (const f of [artifacts.bpfObject(), artifacts.addon(), artifacts.program('traffic')]) {
    if (!fs.existsSync(f)) return `${f} is not built (npm run build)`;
  }
  return undefined;
}

export function kernelTest(name: string, fn: (t: TestContext) => Promise<void> | void, options: { timeout?: number } = {}): void {
  const why = kernelUnavailableReason();
  const timeout = options.timeout ?? 60_000;
  if (why === undefined) {
    test(name, { timeout }, fn);
  } else if (process.env['KINDLING_E2E'] === '1') {
    test(name, () => assert.fail(`KINDLING_E2E=1 asks for kernel tests, but eBPF is unavailable: ${why}`));
  } else {
    test(name, { skip: `eBPF unavailable (${why}); KINDLING_E2E=1 turns this into a failure` }, fn);
  }
}
