/** Bookkeeping shared by the receivers: waiting on a condition, and failNext budgets. */

/** Waiters re-check their condition after every accepted request. */
export class Waiters {
  private readonly pending = new Set<() => void>();
  notify(): void {
    for (const check of [...this.pending]) check();
  }
  until<T>(probe: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let hit: T | undefined;
        try {
          hit = probe();
        } catch (err) {
          // a throwing predicate fails its own wait, not the server that notified it
          this.pending.delete(check);
          clearTimeout(timer);
          reject(err as Error);
          return;
        }
        if (hit === undefined) return;
        this.pending.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.pending.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      this.pending.add(check);
      check();
    });
  }
}

/** Counts down failNext(count, code): answers the code while count lasts. */
export class FailureBudget<C> {
  private left = 0;
  private code: C | undefined;
  rejected = 0;
  arm(count: number, code: C): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`failNext count must be a non-negative integer, got ${count}`);
    this.left = count;
    this.code = code;
  }
  take(): C | undefined {
    if (this.left === 0 || this.code === undefined) return undefined;
    this.left--;
    this.rejected++;
    return this.code;
  }
}
