// Absolute-form request targets under a configured base URL: how a child hoard asks its parent for a registry's (or any configured upstream's) files.

/** The URL of an absolute-form target (RFC 9112 3.2.2), http or https; undefined for origin-form and anything else. */
export function absoluteTarget(raw: string): URL | undefined {
  if (!/^https?:\/\//i.test(raw)) return undefined;
  const url = URL.parse(raw);
  // Credentials in a target are refused elsewhere; here they simply do not match a base.
  return url === null || url.username !== '' || url.password !== '' ? undefined : url;
}

export interface UnderBase<K> {
  /** The key of the base the target falls under. */
  readonly key: K;
  /** The target's path after the base's path and `below` (still percent-encoded, no leading `/`). */
  readonly rest: string;
  /** The raw query, with its `?`, or ''. */
  readonly query: string;
}

/**
 * Which configured base `url` falls under: same origin (scheme, host, port) and a path starting with the
 * base's path followed by `below` (e.g. `v2/` for a registry whose URL is `https://images.example/mirror`).
 * The longest base path wins, so a registry at `/a/b` is not taken for one at `/a`.
 */
export function underBase<K>(url: URL, bases: Iterable<readonly [K, URL]>, below: string): UnderBase<K> | undefined {
  let best: { key: K; prefix: string } | undefined;
  for (const [key, base] of bases) {
    if (base.origin !== url.origin) continue;
    const prefix = `${base.pathname.replace(/\/+$/, '')}/${below}`;
    if (url.pathname.startsWith(prefix) && (best === undefined || prefix.length > best.prefix.length)) best = { key, prefix };
  }
  return best === undefined ? undefined : { key: best.key, rest: url.pathname.slice(best.prefix.length), query: url.search };
}
