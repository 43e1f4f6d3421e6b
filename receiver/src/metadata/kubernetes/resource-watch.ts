/**
 * One kind's informer (the client's ListWatch) kept alive: the informer stops
 * on its first error, so this restarts it with exponential backoff (1 s
 * doubling to 60 s, ±20 % jitter); its cache and our index keep serving the
 * last known state meanwhile. A restart resumes the watch from the last
 * resourceVersion; a 410 makes the informer relist. One log line per state
 * change — failing in a new way, or recovering — never one per retry. A 403
 * degrades this kind only, with one line naming the missing permission.
 *
 * Example:
 *   const w = new ResourceWatch(k8s, kc, spec, { upsert, remove }, opts);
 *   w.start();
 *   await w.settled;      // first list in, or first failure
 *   w.state               // 'synced' | 'starting' | 'forbidden' | 'unreachable' | …
 */
import { classify, describeFailure } from './api-errors';
import type { Failure } from './api-errors';
import type { K8s, KubeConfig, KubernetesListObject, ListWatch } from './client';
import { isServerWide } from './failure-log';
import type { FailureLog } from './failure-log';
import { createGuardedWatch } from './guarded-watch';
import type { AnyRecord, Slim } from './objects';
import type { ResourceSpec } from './resources';

export type WatchState = 'starting' | 'synced' | Failure;

export interface ResourceWatchOptions {
  /** where state changes are logged, deduplicated across kinds */
  failures: FailureLog;
  /** deadline for a list request and for a watch's response headers */
  requestTimeoutMs: number;
  watchTimeoutSeconds(): number;
  backoff: { initialMs: number; maxMs: number };
  /** items per list page (limit/continue) */
  pageSize: number;
}

export interface ResourceHandlers {
  upsert(rec: AnyRecord): void;
  remove(rec: AnyRecord): void;
}

export interface ResourceWatchStats {
  state: WatchState;
  objects: number;
  lists: number;
  events: number;
  malformed: number;
  /** 410 Gone: resourceVersion too old, relisted */
  expired: number;
  failures: number;
  handlerErrors: number;
  lastError?: string;
}

/** A watch that stays open this long without failing counts as recovered. */
const STABLE_MS = 2000;

export class ResourceWatch {
  readonly spec: ResourceSpec;
  readonly settled: Promise<void>;
  readonly #o: ResourceWatchOptions;
  readonly #lw: ListWatch<Slim>;
  #settle: () => void = () => undefined;
  #state: WatchState = 'starting';
  #lastError: string | undefined;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** aborts in-flight lists on stop() */
  #stopCtl = new AbortController();
  readonly #n = { lists: 0, events: 0, malformed: 0, expired: 0, failures: 0, handlerErrors: 0 };

  constructor(k8s: K8s, kc: KubeConfig, spec: ResourceSpec, handlers: ResourceHandlers, o: ResourceWatchOptions) {
    this.spec = spec;
    this.#o = o;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
    const watch = createGuardedWatch(k8s, kc, {
      normalize: spec.normalize,
      active: () => !this.#stopped,
      requestTimeoutMs: o.requestTimeoutMs,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      onOpen: () => {
        clearTimeout(this.#stableTimer);
        this.#stableTimer = setTimeout(() => this.#healthy(true), STABLE_MS);
        this.#stableTimer.unref();
      },
      onEvent: () => {
        this.#n.events++;
        this.#healthy(true);
      },
      onMalformed: () => this.#n.malformed++,
      onExpired: () => this.#n.expired++,
      onCallbackError: () => this.#n.handlerErrors++,
    });
    this.#lw = new k8s.ListWatch<Slim>(spec.path, watch, () => this.#list(), false, undefined, spec.fieldSelector);
    const apply = (fn: (rec: AnyRecord) => void) => (obj: Slim) => {
      try {
        fn(obj.record);
      } catch {
        this.#n.handlerErrors++;
      }
    };
    this.#lw.on('add', apply(handlers.upsert));
    this.#lw.on('update', apply(handlers.upsert));
    this.#lw.on('delete', apply(handlers.remove));
    this.#lw.on('error', (err: unknown) => this.#failed(err));
  }

  get state(): WatchState {
    return this.#state;
  }

  start(): void {
    this.#stopped = false;
    if (this.#stopCtl.signal.aborted) this.#stopCtl = new AbortController();
    this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopCtl.abort();
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#stableTimer);
    await this.#lw.stop();
  }

  stats(): ResourceWatchStats {
    return { state: this.#state, objects: this.#lw.list().length, ...this.#n, ...(this.#lastError ? { lastError: this.#lastError } : {}) };
  }

  #run(): void {
    if (this.#stopped) return;
    this.#lw.start().catch((err: unknown) => this.#failed(err));
  }

  /** A full, paginated list; a 410 on a continue token restarts it once. */
  async #list(): Promise<KubernetesListObject<Slim>> {
    const items: Slim[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    let restarted = false;
    for (;;) {
      let page: KubernetesListObject<unknown & object>;
      try {
        page = await this.spec.list(
          { ...(this.spec.fieldSelector ? { fieldSelector: this.spec.fieldSelector } : {}), limit: this.#o.pageSize, ...(cont ? { _continue: cont } : {}) },
          AbortSignal.any([this.#stopCtl.signal, AbortSignal.timeout(this.#o.requestTimeoutMs)]),
        );
      } catch (err) {
        if (cont && !restarted && classify(err).status === 410) {
          restarted = true;
          items.length = 0;
          cont = undefined;
          continue;
        }
        throw err;
      }
      for (const raw of Array.isArray(page.items) ? page.items : []) {
        const s = this.spec.normalize(raw);
        if (s) items.push(s);
        else this.#n.malformed++;
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?._continue || undefined;
      if (!cont) break;
    }
    this.#n.lists++;
    // the informer applies the items right after this resolves; report after that
    setImmediate(() => this.#healthy(false));
    return { metadata: { resourceVersion }, items };
  }

  /**
   * In sync (again). After a failure only a watch that delivers events or
   * stays open counts as recovery and resets the backoff: a list that
   * succeeds before a watch that fails at once does not, or a server that
   * fails every watch would make us flap and relist in a tight loop.
   */
  #healthy(progress: boolean): void {
    if (progress) this.#attempt = 0;
    if (this.#stopped || this.#state === 'synced') return;
    if (!progress && this.#state !== 'starting') return;
    const was = this.#state;
    this.#state = 'synced';
    if (was !== 'starting') this.#o.failures.leave(this.spec.key, was, true);
    this.#settle();
  }

  #failed(err: unknown): void {
    if (this.#stopped) return;
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#retryTimer);
    const c = classify(err);
    this.#n.failures++;
    this.#lastError = c.detail;
    const was = this.#state;
    this.#state = c.failure;
    if (was !== c.failure) {
      if (was !== 'starting' && was !== 'synced') this.#o.failures.leave(this.spec.key, was, false);
      this.#o.failures.enter(this.spec.key, c.failure, this.#line(c.failure, describeFailure(c), was));
    }
    this.#settle();
    const { initialMs, maxMs } = this.#o.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt++, 30));
    const delay = Math.min(maxMs, base * (0.8 + Math.random() * 0.4));
    this.#retryTimer = setTimeout(() => this.#run(), delay);
    this.#retryTimer.unref();
  }

  #line(failure: Failure, what: string, was: WatchState): string {
    const s = this.spec;
    if (failure === 'forbidden') {
      const group = s.group ? ` in API group "${s.group}"` : '';
      return `kubernetes: ${s.key} ${what}: RBAC must allow "list" and "watch" on ${s.key}${group}; ${s.without} until it does`;
    }
    const keep = was === 'synced' ? 'keeping the last known state, ' : '';
    const max = this.#o.backoff.maxMs;
    const retry = `retrying with backoff up to ${max >= 1000 ? `${max / 1000} s` : `${max} ms`}`;
    return isServerWide(failure) ? `kubernetes: ${what}; ${keep}${retry}` : `kubernetes: ${s.key}: ${what}; ${keep}${retry}`;
  }
}
