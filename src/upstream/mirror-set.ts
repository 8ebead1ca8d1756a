// An Upstream backed by an ordered list of mirrors: tried in order, failing over on network errors and 5xx.
import type { Clock } from '../clock.ts';
import { HoardError, isHoardError } from '../errors.ts';
import type { FetchInit, Fetcher, RedirectGuard, Upstream, UpstreamResponse } from './fetcher.ts';
import type { MirrorHealth } from './mirror-health.ts';

export interface MirrorSetOptions {
  key: string;
  /** Base URLs; a request path is appended to each (`http://mirror.example/debian` + `/dists/...`). */
  mirrors: URL[];
  fetcher: Fetcher;
  health: MirrorHealth;
  clock: Clock;
  /** Applied to every redirect hop of this upstream's requests, before any guard the caller's FetchInit carries. */
  redirectGuard?: RedirectGuard | undefined;
}

export class MirrorSet implements Upstream {
  readonly key: string;
  readonly #mirrors: URL[];
  readonly #fetcher: Fetcher;
  readonly #health: MirrorHealth;
  readonly #redirectGuard: RedirectGuard | undefined;

  constructor(options: MirrorSetOptions) {
    this.key = options.key;
    this.#mirrors = options.mirrors;
    this.#fetcher = options.fetcher;
    this.#health = options.health;
    this.#redirectGuard = options.redirectGuard;
  }

  get mirrors(): readonly URL[] {
    return this.#mirrors;
  }

  async fetch(path: string, init: FetchInit): Promise<UpstreamResponse> {
    // Mirrors in cooldown go last rather than never: when all are failing, one still gets a try.
    const ordered = [...this.#mirrors].sort((a, b) => Number(this.#health.coolingDown(a.href)) - Number(this.#health.coolingDown(b.href)));
    let lastError: HoardError | undefined;
    let lastServerError: UpstreamResponse | undefined;
    const own = this.#redirectGuard;
    const theirs = init.redirectGuard;
    const guard: RedirectGuard | undefined = own === undefined || theirs === undefined ? (own ?? theirs) : (next, from) => theirs(own(next, from), from);
    const fetchInit = guard === init.redirectGuard ? init : { ...init, redirectGuard: guard };
    for (const base of ordered) {
      const url = joinUrl(base, path);
      try {
        const response = await this.#fetcher.fetch(url, fetchInit);
        if (response.status >= 500) {
          this.#health.failure(base.href, `HTTP ${response.status}`);
          lastServerError?.body.destroy();
          lastServerError = response;
          continue;
        }
        this.#health.success(base.href);
        lastServerError?.body.destroy();
        return response;
      } catch (err) {
        if (init.signal?.aborted) throw err;
        // A destination the rules refuse is not an outage of this mirror, and no other mirror of a client-chosen origin exists.
        if (isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED')) throw err;
        const error = isHoardError(err) ? err : new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', String(err), { cause: err });
        // A TLS failure is a configuration problem, not an outage: report it as it is.
        this.#health.failure(base.href, error.message);
        lastError = error;
      }
    }
    if (lastServerError) return lastServerError;
    throw lastError ?? new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', `no mirror configured for ${this.key}`);
  }

  reportFailure(url: URL, reason: string): void {
    const base = baseOf(this.#mirrors, url);
    if (base) this.#health.failure(base.href, reason);
  }
}

/** The mirror base a URL was fetched from, or undefined for a redirect target outside the set. */
function baseOf(mirrors: readonly URL[], url: URL): URL | undefined {
  return mirrors.find((m) => url.origin === m.origin && url.pathname.startsWith(m.pathname.replace(/\/$/, '')));
}

/** Appends an already-encoded absolute path, with its query if it has one, to a base URL that may carry a path prefix. */
export function joinUrl(base: URL, path: string): URL {
  const prefix = base.pathname.endsWith('/') ? base.pathname.slice(0, -1) : base.pathname;
  const url = new URL(base.href);
  // Assigned to `pathname`, a `?` would be percent-encoded into the path: the query goes to `search`.
  const cut = path.indexOf('?');
  url.pathname = prefix + (cut === -1 ? path : path.slice(0, cut));
  url.search = cut === -1 ? '' : path.slice(cut);
  return url;
}
