/**
 * Runs every benchmark in sequence (`npm run bench`, as root). Arguments are
 * not forwarded: each benchmark runs with its defaults; run one alone to tune it.
 */
import { main as kernelCost } from './kernel-cost';
import { main as intake } from './intake';
import { main as pipelineReplay } from './pipeline-replay';
import { main as httpOverhead } from './http-overhead';
import { main as redisOverhead } from './redis-overhead';
import { main as pgbenchOverhead } from './pgbench-overhead';
import { main as profilingOverhead } from './profiling-overhead';

const BENCHES: readonly [string, (argv: string[]) => Promise<void>][] = [
  ['kernel-cost', kernelCost],
  ['intake', intake],
  ['pipeline-replay', pipelineReplay],
  ['http-overhead', httpOverhead],
  ['redis-overhead', redisOverhead],
  ['pgbench-overhead', pgbenchOverhead],
  ['profiling-overhead', profilingOverhead],
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
