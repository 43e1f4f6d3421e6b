/**
 * The client's Watch with the guards a long-running agent needs, handed to
 * the client's own ListWatch informer:
 *  - asks for bookmarks and a server-side timeout, like client-go's reflector
 *    (5–10 min), so resourceVersions stay fresh and streams are recycled;
 *  - a deadline for the response headers, and a client-side deadline a bit
 *    past the server's timeout, so a hung server or a silently dead
 *    connection ends in an error (and a backoff) instead of waiting forever;
 *  - reduces every object before the informer sees it, so the informer cache
 *    holds small objects, and drops malformed ones (counted) — the informer
 *    itself would throw on an object without metadata;
 *  - ignores anything a watch delivers after it was given up;
 *  - three closes in a row within a second, with no events but ERRORs, count
 *    as a failure, so a server that closes (or expires) every watch at once
 *    gets a backoff rather than a hot loop.
 *
 * Example:
 *   const watch = createGuardedWatch(k8s, kc, hooks);
 *   const informer = new k8s.ListWatch('/api/v1/pods', watch, listFn, false, undefined, 'spec.nodeName=worker-1');
 */
import { NoAnswerError } from './api-errors';
import type { K8s, KubeConfig } from './client';
import type { Slim } from './objects';

export interface WatchHooks {
  normalize(raw: unknown): Slim | undefined;
  /** false once stopped: the informer may still try to open a watch after a list it started earlier */
  active(): boolean;
  /** deadline for the watch's response headers */
  requestTimeoutMs: number;
  /** the timeoutSeconds to ask the server for, per watch */
  watchTimeoutSeconds(): number;
  onOpen(): void;
  onEvent(type: string): void;
  onMalformed(): void;
  /** the server said the resourceVersion is too old (410): the informer relists */
  onExpired(): void;
  onCallbackError(e: unknown): void;
}

type Watch = InstanceType<K8s['Watch']>;
type WatchArgs = Parameters<Watch['watch']>;

const QUICK_CLOSE_MS = 1000;
const QUICK_CLOSES = 3;
/** how long past the server-side timeout a watch may stay open before we end it */
const TIMEOUT_SLACK_MS = 30_000;

function unref(t: NodeJS.Timeout): NodeJS.Timeout {
  t.unref();
  return t;
}

function resourceVersionOf(obj: unknown): string | undefined {
  const md = obj !== null && typeof obj === 'object' ? (obj as { metadata?: { resourceVersion?: unknown } }).metadata : undefined;
  const rv = md?.resourceVersion;
  return typeof rv === 'string' && rv.length > 0 ? rv : undefined;
}

export function createGuardedWatch(k8s: K8s, kc: KubeConfig, h: WatchHooks): Watch {
  let quickCloses = 0;

  class GuardedWatch extends k8s.Watch {
    override async watch(path: WatchArgs[0], query: WatchArgs[1], callback: WatchArgs[2], done: WatchArgs[3]): Promise<AbortController> {
      // the informer keeps this handle and aborts it when it stops or restarts the watch
      const handle = new AbortController();
      if (!h.active()) {
        handle.abort();
        return handle;
      }
      const timers: NodeJS.Timeout[] = [];
      const openedAt = Date.now();
      let real: AbortController | undefined;
      let finished = false;
      let events = 0;

      const finish = (err: unknown): void => {
        if (finished) return;
        finished = true;
        for (const t of timers) clearTimeout(t);
        real?.abort();
        if (handle.signal.aborted) return; // ended by the informer itself: nothing to report
        let reported = err ?? null;
        const quick = events === 0 && Date.now() - openedAt < QUICK_CLOSE_MS;
        if (!quick) quickCloses = 0;
        else if (reported === null && ++quickCloses >= QUICK_CLOSES) {
          quickCloses = 0;
          reported = new Error(`the API server closed ${QUICK_CLOSES} watches of ${path} at once`);
        }
        done(reported);
      };
      handle.signal.addEventListener('abort', () => finish(null), { once: true });

      const guarded = (type: string, obj: unknown): void => {
        if (finished) return;
        // an ERROR is not progress: a server that fails every watch must not look healthy
        if (type !== 'ERROR') {
          events++;
          h.onEvent(type);
        }
        let forward: unknown;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
          case 'DELETED':
            forward = h.normalize(obj);
            break;
          case 'BOOKMARK': {
            const rv = resourceVersionOf(obj);
            forward = rv ? { metadata: { resourceVersion: rv } } : undefined;
            break;
          }
          case 'ERROR': {
            const code = obj !== null && typeof obj === 'object' ? (obj as { code?: unknown }).code : undefined;
            if (code === 410) h.onExpired();
            // the informer only reads .code; the stream ends after an ERROR
            forward = { code: typeof code === 'number' ? code : undefined, metadata: {} };
            break;
          }
          default:
            forward = undefined;
        }
        if (forward === undefined) {
          h.onMalformed();
          return;
        }
        try {
          const r = (callback as (t: string, o: unknown) => unknown)(type, forward);
          if (r instanceof Promise) r.catch(h.onCallbackError);
        } catch (e) {
          h.onCallbackError(e);
        }
      };

      const timeoutSeconds = h.watchTimeoutSeconds();
      timers.push(unref(setTimeout(() => finish(new NoAnswerError(`no answer to the watch of ${path} within ${h.requestTimeoutMs} ms`)), h.requestTimeoutMs)));
      super.watch(path, { ...query, allowWatchBookmarks: true, timeoutSeconds }, guarded, (err: unknown) => finish(err)).then(
        (ctrl) => {
          real = ctrl;
          if (finished) {
            ctrl.abort();
            return;
          }
          const headerTimer = timers.pop();
          if (headerTimer) clearTimeout(headerTimer);
          h.onOpen();
          const limit = timeoutSeconds * 1000 + TIMEOUT_SLACK_MS;
          timers.push(unref(setTimeout(() => finish(new NoAnswerError(`the watch of ${path} outlived its ${timeoutSeconds} s timeout`)), limit)));
        },
        (err: unknown) => finish(err),
      );
      return handle;
    }
  }

  return new GuardedWatch(kc);
}
