/**
 * http.route from a raw path, without a framework to ask: identifiers become
 * placeholders (/users/42 -> /users/{id}) and each service keeps at most
 * `maxRoutesPerService` distinct routes; past that, `overflowRoute`.
 *
 * Example:
 *   const routes = new RouteTemplater({ maxRoutesPerService: 200 });
 *   routes.route('shop', '/orders/9f1c3a2e-44b1-4c55-9a0e-3f1d2c4b5a6e/items?x=1'); // '/orders/{uuid}/items'
 */

export interface RouteOptions {
  maxRoutesPerService?: number;
  overflowRoute?: string;
  /** false: keep paths as they are (still query-stripped and capped) */
  templating?: boolean;
}

const MAX_SERVICES = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^[+-]?\d+(\.\d+)?$/;
const HEX = /^(0x)?[0-9a-f]{8,}$/i;
const TOKEN = /^[A-Za-z0-9_\-.~%+=:]{20,}$/;

/** The path of a request target: no query, no fragment; absolute-form reduced to its path. */
export function targetPath(target: string): string {
  let t = target;
  const q = t.search(/[?#]/);
  if (q >= 0) t = t.slice(0, q);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    const slash = t.indexOf('/', t.indexOf('//') + 2);
    t = slash < 0 ? '/' : t.slice(slash);
  }
  return t === '' ? '/' : t;
}

export function templateSegment(seg: string): string {
  if (seg === '') return seg;
  if (NUMBER.test(seg)) return '{id}';
  if (UUID.test(seg)) return '{uuid}';
  if (HEX.test(seg) && /\d/.test(seg)) return '{hex}';
  // long opaque tokens: letters and digits mixed
  if (TOKEN.test(seg) && /\d/.test(seg) && /[A-Za-z]/.test(seg)) return '{token}';
  return seg;
}

export function templatePath(path: string): string {
  if (path === '*') return path;
  return path.split('/').map(templateSegment).join('/');
}

export class RouteTemplater {
  readonly #max: number;
  readonly #overflow: string;
  readonly #templating: boolean;
  readonly #seen = new Map<string, Set<string>>();
  /** requests whose route was replaced by the overflow value */
  overflowed = 0;

  constructor(options: RouteOptions = {}) {
    this.#max = options.maxRoutesPerService ?? 200;
    this.#overflow = options.overflowRoute ?? '/{other}';
    this.#templating = options.templating ?? true;
  }

  readonly #memo = new Map<string, string>();

  /** the template of a raw target, memoised (bounded): the same paths come again and again */
  #template(target: string): string {
    let r = this.#memo.get(target);
    if (r === undefined) {
      const p = targetPath(target);
      r = this.#templating ? templatePath(p) : p;
      if (this.#memo.size >= 16_384) this.#memo.clear();
      this.#memo.set(target, r);
    }
    return r;
  }

  route(service: string, target: string): string {
    const route = this.#template(target);
    let routes = this.#seen.get(service);
    if (!routes) {
      // services come and go with processes: keep the table bounded
      if (this.#seen.size >= MAX_SERVICES) this.#seen.delete(this.#seen.keys().next().value as string);
      routes = new Set();
      this.#seen.set(service, routes);
    }
    if (routes.has(route)) return route;
    if (routes.size >= this.#max) {
      this.overflowed++;
      return this.#overflow;
    }
    routes.add(route);
    return route;
  }
}
