/**
 * A connection's prepared statements and portals (extended query protocol), so
 * that an Execute, which names only a portal, is reported with the statement's
 * text. Bounded: past `max` named entries, the least recently used goes (its
 * later Executes report the command tag's verb and no text). The unnamed
 * statement and portal are one slot each, replaced by every Parse / Bind.
 *
 * What telemetry needs from a text (verb, table, fingerprint) is worked out
 * once per statement, not per Execute: a statement prepared once and executed
 * a million times costs one fingerprint.
 *
 * Example (pgbench -M prepared):
 *   t.parse('P_1', new Statement('UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;', false));
 *   t.bind('', 'P_1');                  // Bind: unnamed portal for P_1
 *   t.portal('')?.derived(true).operation   // 'UPDATE'
 */
import { fingerprintSql, sqlCollection, sqlOperation } from './sql';

export interface StatementInfo {
  operation: string | undefined;
  collection: string | undefined;
  /** db.query.text: the fingerprint, or the text itself when fingerprinting is off */
  queryText: string | undefined;
}

/** The most text kept per statement (the fingerprint is cut at 2048 anyway). */
const MAX_TEXT = 8192;

export class Statement {
  readonly text: string;
  /** capture truncation cut the text short */
  readonly truncated: boolean;
  #info: StatementInfo | undefined;
  #fingerprinted = false;

  constructor(text: string, truncated: boolean) {
    this.text = text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text;
    this.truncated = truncated || text.length > MAX_TEXT;
  }

  derived(fingerprint: boolean): StatementInfo {
    if (this.#info === undefined || this.#fingerprinted !== fingerprint) {
      this.#info = describeSql(this.text, this.truncated, fingerprint);
      this.#fingerprinted = fingerprint;
    }
    return this.#info;
  }
}

/** Verb, first table and query text of an SQL text (possibly a captured prefix). */
export function describeSql(text: string, truncated: boolean, fingerprint: boolean): StatementInfo {
  if (text.trim() === '') return { operation: undefined, collection: undefined, queryText: undefined };
  const q = fingerprint ? fingerprintSql(text) : text;
  // a word cut by the end of a truncated text is no verb or table name: leave it out
  const whole = truncated ? text.replace(/[^\s(),;]*$/, '') : text;
  return { operation: sqlOperation(whole), collection: sqlCollection(whole), queryText: truncated && !q.endsWith('…') ? `${q}…` : q };
}

/**
 * A bounded map that forgets the least recently used entry. A use only stamps the
 * entry; the stamps are compared when one must go (rarely: past `max` entries).
 */
class Lru<V> {
  readonly #m = new Map<string, { v: V; used: number }>();
  readonly #max: number;
  #clock = 0;
  evicted = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#m.size;
  }

  get(k: string): V | undefined {
    const e = this.#m.get(k);
    if (e === undefined) return undefined;
    e.used = ++this.#clock;
    return e.v;
  }

  set(k: string, v: V): void {
    const e = this.#m.get(k);
    if (e !== undefined) {
      e.v = v;
      e.used = ++this.#clock;
      return;
    }
    if (this.#m.size >= this.#max) this.#evict();
    this.#m.set(k, { v, used: ++this.#clock });
  }

  #evict(): void {
    let oldest: string | undefined;
    let when = Infinity;
    for (const [k, e] of this.#m) {
      if (e.used < when) {
        when = e.used;
        oldest = k;
      }
    }
    if (oldest !== undefined) this.#m.delete(oldest);
    this.evicted++;
  }

  delete(k: string): void {
    this.#m.delete(k);
  }

  clear(): void {
    this.#m.clear();
  }
}

export class StatementTable {
  #unnamed: Statement | undefined;
  #unnamedPortal: Statement | undefined;
  readonly #named: Lru<Statement>;
  readonly #portals: Lru<Statement>;

  constructor(maxNamed = 256, maxPortals = 64) {
    this.#named = new Lru(maxNamed);
    this.#portals = new Lru(maxPortals);
  }

  /** named statements and portals dropped by the bound */
  get evicted(): number {
    return this.#named.evicted + this.#portals.evicted;
  }

  get size(): number {
    return this.#named.size + this.#portals.size + (this.#unnamed ? 1 : 0) + (this.#unnamedPortal ? 1 : 0);
  }

  parse(name: string, s: Statement): void {
    if (name === '') this.#unnamed = s;
    else this.#named.set(name, s);
  }

  statement(name: string): Statement | undefined {
    return name === '' ? this.#unnamed : this.#named.get(name);
  }

  /** Bind: the portal runs this statement (undefined when the statement is not known). */
  bind(portal: string, statement: string): void {
    const s = this.statement(statement);
    if (portal === '') this.#unnamedPortal = s;
    else if (s) this.#portals.set(portal, s);
    else this.#portals.delete(portal);
  }

  portal(name: string): Statement | undefined {
    return name === '' ? this.#unnamedPortal : this.#portals.get(name);
  }

  close(kind: 'S' | 'P', name: string): void {
    if (kind === 'S') {
      if (name === '') this.#unnamed = undefined;
      else this.#named.delete(name);
    } else if (name === '') this.#unnamedPortal = undefined;
    else this.#portals.delete(name);
  }

  clear(): void {
    this.#unnamed = this.#unnamedPortal = undefined;
    this.#named.clear();
    this.#portals.clear();
  }
}

/**
 * describeSql for simple-query texts, shared by a detector's connections and
 * bounded. Texts that differ only in their numbers share an entry: the key is the
 * text with each number that stands alone (not part of a name, a $n parameter or
 * anything quoted) written 0, and fingerprinting turns every such number into '?'
 * while verbs and table names hold none, so one description serves them all. pgbench's
 *   UPDATE pgbench_accounts SET abalance = abalance + -1234 WHERE aid = 56789;
 * is fingerprinted once, not once per transaction. Texts that differ in strings
 * have keys of their own.
 */
export class SqlInfoCache {
  readonly #m: Lru<StatementInfo>;
  readonly #fingerprint: boolean;

  constructor(fingerprint: boolean, max = 1024) {
    this.#m = new Lru(max);
    this.#fingerprint = fingerprint;
  }

  get(text: string, truncated: boolean): StatementInfo {
    // without fingerprinting the text itself is reported: nothing to share
    if (truncated || !this.#fingerprint || text.length > 1024) return describeSql(text, truncated, this.#fingerprint);
    const key = shapeKey(text);
    let info = this.#m.get(key);
    if (info === undefined) {
      info = describeSql(text, false, true);
      this.#m.set(key, info);
    }
    return info;
  }
}

// quoted parts are left as they are (a quoted name may hold a number); numbers standing alone become 0
const SHAPE = /'(?:[^']|'')*'|"[^"]*"|`[^`]*`|(?<![\w$.])\d+/g;

/** The text with every number standing alone, outside quotes, written 0 (see SqlInfoCache). */
export function shapeKey(text: string): string {
  return text.replace(SHAPE, (m) => (m.charCodeAt(0) >= 0x30 && m.charCodeAt(0) <= 0x39 ? '0' : m));
}
