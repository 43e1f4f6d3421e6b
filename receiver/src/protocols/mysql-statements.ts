/**
 * Prepared statements of one connection: the statement id a PREPARE_OK gave
 * back, mapped to what its text said (operation, table, fingerprint), so that
 * COM_STMT_EXECUTE, which carries only the id, can be named. Bounded: past
 * `max` statements the oldest is forgotten (and counted), as a client that
 * never closes its statements must not grow the agent.
 *
 * Example:
 *   const t = new StatementTable(256);
 *   t.set(1, { operation: 'SELECT', collection: 'users', queryText: 'SELECT * FROM users WHERE id = ?' });
 *   t.get(1)?.operation      // 'SELECT'
 *   t.delete(1);             // COM_STMT_CLOSE
 */

export interface StatementInfo {
  /** the statement's verb (SELECT, INSERT, ...) or undefined when the text named none */
  operation: string | undefined;
  collection?: string;
  /** db.query.text: fingerprinted unless configured otherwise */
  queryText?: string;
}

export class StatementTable {
  readonly max: number;
  readonly #byId = new Map<number, StatementInfo>();
  /** the newest statement prepared: MariaDB's COM_STMT_EXECUTE with id 0xffffffff means it */
  #last: StatementInfo | undefined;
  evictions = 0;

  constructor(max: number) {
    this.max = Math.max(1, Math.floor(max));
  }

  get size(): number {
    return this.#byId.size;
  }

  set(id: number, info: StatementInfo): void {
    this.#byId.delete(id);
    this.#byId.set(id, info);
    this.#last = info;
    while (this.#byId.size > this.max) {
      const oldest = this.#byId.keys().next();
      if (oldest.done) break;
      this.#byId.delete(oldest.value);
      this.evictions++;
    }
  }

  get(id: number): StatementInfo | undefined {
    return id === 0xffffffff ? this.#last : this.#byId.get(id);
  }

  /** The statement a prepare now in flight will create: what id 0xffffffff means until its PREPARE_OK arrives. */
  setLast(info: StatementInfo): void {
    this.#last = info;
  }

  delete(id: number): StatementInfo | undefined {
    const info = this.get(id);
    this.#byId.delete(id);
    return info;
  }

  /** COM_RESET_CONNECTION, COM_CHANGE_USER: the server forgot every statement. */
  clear(): void {
    this.#byId.clear();
    this.#last = undefined;
  }
}
