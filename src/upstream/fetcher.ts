// The Fetcher seam: one HTTP exchange with an upstream, and Upstream: a named source of files with failover.
import type { Readable } from 'node:stream';

/**
 * Decides one redirect hop, which is a new upstream request under the rules of the first: returns the URL
 * to follow (`next`, or a reduced copy, e.g. without its query) or throws a HoardError
 * (HOARD_ERR_REDIRECT_REFUSED) to refuse it. Called after the fetcher's own rules (http(s) only, never
 * https to http) and before the hop is sent.
 */
export type RedirectGuard = (next: URL, from: URL) => URL;

export interface FetchInit {
  method: 'GET' | 'HEAD';
  /** Extra request headers (conditional headers, Range); lower-case names. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Applied to every redirect hop; without one, any http(s) hop that keeps https is followed. */
  redirectGuard?: RedirectGuard | undefined;
  /** The `Via` of the client request that caused this one (a chain of caches): the fetcher appends its own entry. */
  via?: string | undefined;
}

export interface UpstreamResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  /** The body; must be consumed or destroyed. Errors with a HoardError when the upstream fails mid-body. */
  body: Readable;
  /** The URL that finally answered (after mirror failover and redirects). */
  url: URL;
}

export interface Fetcher {
  /** Rejects with HOARD_ERR_UPSTREAM_UNREACHABLE / _TIMEOUT / _TLS when no response arrives. */
  fetch(url: URL, init: FetchInit): Promise<UpstreamResponse>;
}

/** Where one upstream's files come from: a canonical identity and the logic to reach it. */
export interface Upstream {
  /** Canonical identity used in cache keys: `http://host:port`, `https://host` or `backend:<name>`. */
  readonly key: string;
  /** Fetches `path` (starting with `/`, raw-encoded as it goes on the wire), failing over between mirrors. */
  fetch(path: string, init: FetchInit): Promise<UpstreamResponse>;
  /**
   * Reports that a response from `url` failed after its headers (stall, cut, wrong bytes), so the next
   * request prefers another mirror.
   */
  reportFailure?(url: URL, reason: string): void;
}
