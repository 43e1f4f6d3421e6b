/**
 * One log line per state change, across the five informers. Failures of the
 * whole API server (unreachable, no answer, credentials rejected, server
 * errors) hit every kind at once, so they are one state of the connection: the
 * first kind to enter one logs it, the last kind to leave it logs the recovery.
 * Failures of one kind (RBAC forbids it, the API group is not served) are
 * logged per kind. Retries log nothing.
 *
 * Example:
 *   const failures = new FailureLog(log);
 *   failures.enter('pods', 'unreachable', 'kubernetes: API server unreachable (ECONNREFUSED) …');  // logged
 *   failures.enter('nodes', 'unreachable', '…');    // same state: silent
 *   failures.leave('pods', 'unreachable');
 *   failures.leave('nodes', 'unreachable');         // "kubernetes: API server answering again"
 */
import type { Failure } from './api-errors';

const SERVER_WIDE: ReadonlySet<Failure> = new Set<Failure>(['unreachable', 'no-answer', 'unauthorized', 'server-error']);

export function isServerWide(f: Failure): boolean {
  return SERVER_WIDE.has(f);
}

export class FailureLog {
  readonly #log: (line: string) => void;
  readonly #members = new Map<Failure, Set<string>>();

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  /** `kind` now fails with `failure`; `line` is logged unless this is old news. */
  enter(kind: string, failure: Failure, line: string): void {
    let set = this.#members.get(failure);
    if (!set) this.#members.set(failure, (set = new Set()));
    const first = set.size === 0;
    set.add(kind);
    if (!isServerWide(failure) || first) this.#log(line);
  }

  /** `kind` no longer fails with `failure`; `recovered` when it is back in sync. */
  leave(kind: string, failure: Failure, recovered: boolean): void {
    const set = this.#members.get(failure);
    if (!set?.delete(kind)) return;
    if (!recovered) return;
    if (!isServerWide(failure)) this.#log(`kubernetes: ${kind}: watching again`);
    else if (set.size === 0) this.#log(`kubernetes: API server answering again (was: ${failure.replace('-', ' ')})`);
  }
}
