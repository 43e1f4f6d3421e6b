/**
 * The `kindling` command. Errors with a KINDLING_ERR_* code are printed as one
 * clear message (no stack trace) and exit 2; `check` exits 1 when capture
 * cannot work.
 */
import { parseArgs } from 'node:util';
import { KindlingError } from '../errors';
import { runCapture } from './capture';
import { runCheck } from './check';
import { runAgent } from './run';

const USAGE = `Usage: kindling <command> [options]

Commands:
  run [options]            the agent: spans and RED metrics from every process's traffic
      --config FILE        YAML configuration (see README); OTEL_* variables override it
      --replay FILE        feed a capture file instead of the kernel
      --duration S         stop after S seconds
  check                    can capture work on this machine? (kernel, BTF, tracefs,
                           capabilities, every hook); exits 1 when it cannot
  capture [options]        print socket events, one per line, until Ctrl-C
      --pid P              only process P
      --port N             only sockets with local or remote port N
      --json               JSON lines (payload base64 in "payload")
      --duration S         stop after S seconds
      --record FILE        also record to FILE (replay with --replay FILE)
      --replay FILE        print a recording instead of the kernel
      --payload-bytes N    payload prefix per syscall (power of two, default 512)
      --ring-bytes N       ring buffer size (power of two, default 8388608)
      --quiet              print only the summary
  help                     this text

Environment: KINDLING_LOG_STACK=1 prints stack traces of errors.`;

function intOpt(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

function positiveSeconds(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `--duration must be a positive number of seconds, got "${v}"`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === 'check') return runCheck();
  if (command === 'run') {
    let values;
    try {
      ({ values } = parseArgs({ args: rest, options: { config: { type: 'string' }, replay: { type: 'string' }, duration: { type: 'string' } }, strict: true }));
    } catch (e) {
      throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `${(e as Error).message}\n\n${USAGE}`);
    }
    const duration = values.duration === undefined ? undefined : positiveSeconds(values.duration);
    return runAgent({
      ...(values.config !== undefined ? { config: values.config } : {}),
      ...(values.replay !== undefined ? { replay: values.replay } : {}),
      ...(duration !== undefined ? { duration } : {}),
    });
  }
  if (command === 'capture') {
    let values;
    try {
      ({ values } = parseArgs({
        args: rest,
        options: {
          pid: { type: 'string' },
          port: { type: 'string' },
          json: { type: 'boolean', default: false },
          duration: { type: 'string' },
          record: { type: 'string' },
          replay: { type: 'string' },
          'payload-bytes': { type: 'string' },
          'ring-bytes': { type: 'string' },
          quiet: { type: 'boolean', default: false },
        },
        strict: true,
      }));
    } catch (e) {
      throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `${(e as Error).message}\n\n${USAGE}`);
    }
    const duration = values.duration === undefined ? undefined : positiveSeconds(values.duration);
    const pid = intOpt('pid', values.pid, 1, 0x7fffffff);
    const port = intOpt('port', values.port, 1, 65535);
    const payloadBytes = intOpt('payload-bytes', values['payload-bytes'], 16, 4096);
    const ringBytes = intOpt('ring-bytes', values['ring-bytes'], 65536, 1 << 30);
    return runCapture({
      json: values.json ?? false,
      quiet: values.quiet ?? false,
      ...(pid !== undefined ? { pid } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(duration !== undefined ? { duration } : {}),
      ...(values.record !== undefined ? { record: values.record } : {}),
      ...(values.replay !== undefined ? { replay: values.replay } : {}),
      ...(payloadBytes !== undefined ? { payloadBytes } : {}),
      ...(ringBytes !== undefined ? { ringBytes } : {}),
    });
  }
  throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `unknown command "${command}"\n\n${USAGE}`);
}

/** Entry point: exit codes 0 ok, 1 check failed, 2 error. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof KindlingError) {
        process.stderr.write(`kindling: ${e.message} [${e.code}]\n`);
        if (process.env['KINDLING_LOG_STACK'] === '1') process.stderr.write(`${e.stack}\n`);
      } else {
        process.stderr.write(`kindling: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
      }
      process.exitCode = 2;
    },
  );
}
