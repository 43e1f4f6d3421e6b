/**
 * API failures sorted into the few states an operator acts on differently:
 * RBAC (forbidden), bad credentials, an API group the server does not serve, a
 * server that does not answer, one that cannot be reached, and server errors.
 * The client reports them in two shapes: ApiException (`code`, `body` holding
 * a Status) from list calls, and Error with `statusCode` from watches;
 * node-fetch adds system errors (`code: 'ECONNREFUSED'`) and AbortError.
 *
 * Example:
 *   classify(e)  // { failure: 'forbidden', status: 403,
 *                //   detail: 'services is forbidden: User "system:serviceaccount:kindling:agent" cannot list …' }
 */
import { STATUS_CODES } from 'node:http';

export type Failure = 'forbidden' | 'unauthorized' | 'not-served' | 'no-answer' | 'unreachable' | 'server-error' | 'error';

export interface Classified {
  failure: Failure;
  status?: number;
  detail: string;
}

/** Raised by our own deadlines (a list or watch the server never answered). */
export class NoAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAnswerError';
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']);

function statusMessage(body: unknown): string | undefined {
  let b: unknown = body;
  if (typeof body === 'string') {
    try {
      b = JSON.parse(body) as unknown;
    } catch {
      return body.length > 0 ? body.slice(0, 300) : undefined;
    }
  }
  const m = b !== null && typeof b === 'object' ? (b as { message?: unknown }).message : undefined;
  return typeof m === 'string' && m.length > 0 ? m.slice(0, 300) : undefined;
}

export function classify(err: unknown): Classified {
  const e = (err ?? {}) as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; name?: unknown; type?: unknown; cause?: unknown };
  const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const first = typeof e.message === 'string' ? e.message.split('\n')[0] ?? '' : String(err);
  // node-fetch: "request to https://…/api/v1/pods?… failed, reason: socket hang up"
  const message = /^request to \S+ failed, reason: (.*)$/.exec(first)?.[1] ?? first;
  if (status !== undefined) {
    const detail = statusMessage(e.body) ?? `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trim();
    if (status === 403) return { failure: 'forbidden', status, detail };
    if (status === 401) return { failure: 'unauthorized', status, detail };
    if (status === 404) return { failure: 'not-served', status, detail };
    if (status >= 500 || status === 429) return { failure: 'server-error', status, detail };
    return { failure: 'error', status, detail };
  }
  if (err instanceof NoAnswerError || e.name === 'AbortError' || e.type === 'aborted' || e.name === 'TimeoutError') {
    return { failure: 'no-answer', detail: message || 'request timed out' };
  }
  const code = typeof e.code === 'string' ? e.code : typeof (e.cause as { code?: unknown } | undefined)?.code === 'string' ? String((e.cause as { code: string }).code) : undefined;
  if ((code && NETWORK_CODES.has(code)) || e.type === 'system' || /premature close|socket hang up/i.test(message)) {
    return { failure: 'unreachable', detail: code ? `${code}: ${message}` : message };
  }
  return { failure: 'error', detail: message || 'unknown error' };
}

/** One phrase per failure, for the state-change log lines and status(). */
export function describeFailure(c: Classified): string {
  switch (c.failure) {
    case 'forbidden':
      return `forbidden (${c.detail})`;
    case 'unauthorized':
      return `credentials rejected (${c.detail})`;
    case 'not-served':
      return `not served by this API server (${c.detail})`;
    case 'no-answer':
      return `no answer from the API server (${c.detail})`;
    case 'unreachable':
      return `API server unreachable (${c.detail})`;
    case 'server-error':
      return `API server error (${c.detail})`;
    default:
      return `failed (${c.detail})`;
  }
}
