/**
 * Runs every benchmark in sequence (`npm run bench`, as root). Arguments are
 * not forwarded: each benchmark runs with its defaults; run one alone to tune it.
 */
import { main as kernelCost } from './kernel-cost';
import { main as intake } from './intake';

const BENCHES: readonly [string, (argv: string[]) => Promise<void>][] = [
  ['kernel-cost', kernelCost],
  ['intake', intake],
];

async function runAll(): Promise<void> {
  for (const [name, run] of BENCHES) {
    console.log(`\n===== ${name} =====`);
    await run([]);
  }
}

runAll().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
});
