import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface Run {
  pid: number;
  stdout: string;
}

/** Runs a command to its end; rejects on a non-zero exit. `onSpawn` gets the child (for cleanup). */
export function run(cmd: string, args: string[], onSpawn?: (c: ChildProcess) => void): Promise<Run> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  onSpawn?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${stderr}`));
      else resolve({ pid: child.pid ?? 0, stdout });
    });
  });
}

