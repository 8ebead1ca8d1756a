// The per-host upgrade rule: an http origin that clients name is fetched over TLS, under its unchanged cache key.

/**
 * Turns the `httpsUpgrade` config (`host[:port]` -> `https://host[:port]`) into a table keyed by the
 * canonical http origin that request-target parsing produces (`http://host[:port]`, port 80 omitted), so
 * the lookup is one map access and objects already cached under the http spelling stay valid.
 */
export function httpsUpgradeTable(rules: Readonly<Record<string, string>>): Map<string, URL> {
  const table = new Map<string, URL>();
  for (const [from, to] of Object.entries(rules)) {
    const source = new URL(`http://${from}`);
    const target = new URL(to);
    if (target.protocol !== 'https:') throw new Error(`httpsUpgrade.${from}: ${to} is not an https:// origin`);
    table.set(source.origin, new URL(target.origin));
  }
  return table;
}

/** The URL to fetch `origin` from: its https replacement when a rule names it, else the origin itself. */
export function upgradedOrigin(table: ReadonlyMap<string, URL>, origin: string): URL {
  return table.get(origin) ?? new URL(origin);
}

/** A mirror base URL (which may carry a path) with its origin upgraded when a rule names it. */
export function upgradedMirror(table: ReadonlyMap<string, URL>, mirror: URL): URL {
  const target = table.get(mirror.origin);
  if (target === undefined) return mirror;
  return new URL(`${target.origin}${mirror.pathname}${mirror.search}`);
}
