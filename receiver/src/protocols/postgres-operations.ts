/**
 * How an answered (or given up) pending item of a PostgreSQL connection becomes a
 * PgOperation, with the counters kept. Which answer goes with which item is
 * decided in postgres-conversation.ts.
 *
 * Example:
 *   const ops = new OperationReporter({ fingerprint: true, stats, sqlCache, report });
 *   ops.done(execItem, commandComplete.endNs, { verb: 'UPDATE', rows: 1 }, responseTid);
 */
import type { DbOperationRecord, ProtocolStats } from './context';
import type { SqlInfoCache, StatementInfo } from './postgres-statements';
import type { CommandTag } from './postgres-wire';
import { K, returnsRows } from './postgres-pending';
import type { Item } from './postgres-pending';

/** One database operation as the conversation saw it: a DbOperationRecord before the session adds who and where. */
export type PgOperation = Omit<DbOperationRecord, 'system' | 'role' | 'conn' | 'transaction'>;

/** a query text with a statement after a semicolon */
const MORE_STATEMENTS = /;\s*[^\s;]/;

export interface ReporterOptions {
  fingerprint: boolean;
  stats: ProtocolStats;
  sqlCache: SqlInfoCache;
  report(op: PgOperation): void;
}

/** Builds and reports operations, keeping the counters. */
export class OperationReporter {
  readonly #o: ReporterOptions;
  /** db.namespace: the startup's database (default its user) */
  namespace: string | undefined;

  constructor(o: ReporterOptions) {
    this.#o = o;
  }

  /** Answered: CommandComplete (its tag), EmptyQueryResponse or PortalSuspended (no tag). */
  done(it: Item, endNs: number, tag: CommandTag | undefined, responseTid: number): void {
    this.#o.stats.exchanges++;
    const op = this.#base(it, this.#info(it), tag?.verb, endNs, responseTid);
    if (tag?.rows !== undefined && returnsRows(tag.verb)) op.returnedRows = tag.rows;
    this.#o.report(op);
  }

  /** Answered by an ErrorResponse (its SQLSTATE, when captured). */
  failed(it: Item, code: string | undefined, endNs: number, responseTid: number): void {
    this.#o.stats.exchanges++;
    const op = this.#base(it, this.#info(it), undefined, endNs, responseTid);
    if (code !== undefined) op.statusCode = code;
    op.errorType = code ?? '_OTHER';
    this.#o.report(op);
  }

  /** A simple query, at its ReadyForQuery. */
  query(it: Item, endNs: number, responseTid: number): void {
    this.#o.stats.exchanges++;
    this.#o.report(this.#query(it, endNs, responseTid));
  }

  /** Never answered: timeout, closed or evicted. */
  fail(it: Item, failure: NonNullable<PgOperation['failure']>, atNs: number): void {
    this.#o.stats.expired++;
    const op = it.k === K.Query ? this.#query(it, atNs, undefined) : this.#base(it, this.#info(it), undefined, atNs, undefined);
    delete op.statusCode;
    delete op.returnedRows;
    op.errorType = failure;
    op.failure = failure;
    this.#o.report(op);
  }

  /** The answer was flowing when its framing was lost: complete, with what was seen. */
  finishUnseen(it: Item, endNs: number): void {
    this.#o.stats.exchanges++;
    const e = Math.max(endNs, it.atNs);
    this.#o.report(it.k === K.Query ? this.#query(it, e, undefined) : this.#base(it, this.#info(it), undefined, e, undefined));
  }

  #info(it: Item): StatementInfo | undefined {
    return it.stmt?.derived(this.#o.fingerprint);
  }

  #base(it: Item, info: StatementInfo | undefined, verb: string | undefined, endNs: number, responseTid: number | undefined): PgOperation {
    const op: PgOperation = { operation: info?.operation ?? verb ?? 'EXECUTE', startNs: it.atNs, endNs, requestTid: it.tid };
    if (info?.collection !== undefined) op.collection = info.collection;
    if (info?.queryText !== undefined) op.queryText = info.queryText;
    if (this.namespace !== undefined) op.namespace = this.namespace;
    if (responseTid !== undefined) op.responseTid = responseTid;
    return op;
  }

  #query(it: Item, endNs: number, responseTid: number | undefined): PgOperation {
    const info = this.#o.sqlCache.get(it.text ?? '', it.truncated ?? false);
    const op = this.#base(it, info, it.firstVerb, endNs, responseTid);
    if (info.operation === undefined && it.firstVerb === undefined) op.operation = 'QUERY';
    // counts are only whole when no answer went unseen, or when the one statement's CommandComplete came after the loss
    const counted = !it.lost || (it.beforeLoss === 0 && it.statements === 1 && !MORE_STATEMENTS.test(it.text ?? ''));
    if (it.statements > 1 && !it.lost) op.batchSize = it.statements;
    if (it.errored) {
      if (it.sqlstate !== undefined) op.statusCode = it.sqlstate;
      op.errorType = it.sqlstate ?? '_OTHER';
    } else if (it.rows !== undefined && counted) op.returnedRows = it.rows;
    return op;
  }
}
