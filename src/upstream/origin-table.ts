// The Upstreams of client-chosen origins (proxy and prefix mode), one per host, in a bounded LRU.
import type { Upstream } from './fetcher.ts';

/**
 * Each host a client names gets a small Upstream, built on first use. Clients choose the hosts, so the
 * table keeps only the `maxEntries` most recently used (default 1024); a dropped one holds no connection
 * or state worth keeping (connections belong to the fetcher's pool, health to MirrorHealth) and is
 * simply built again when asked for.
 */
export class OriginTable {
  readonly #entries = new Map<string, Upstream>();
  readonly #maxEntries: number;
  readonly #build: ((key: string) => Upstream) | undefined;

  constructor(build?: (key: string) => Upstream, maxEntries = 1024) {
    this.#build = build;
    this.#maxEntries = Math.max(1, maxEntries);
  }

  /** The Upstream for the canonical origin `key`, marked most recently used; `build` overrides the table's builder. */
  get(key: string, build: ((key: string) => Upstream) | undefined = this.#build): Upstream {
    let upstream = this.#entries.get(key);
    if (upstream !== undefined) {
      // Re-inserting moves it to the end of the Map's order: the front is the least recently used.
      this.#entries.delete(key);
    } else {
      if (build === undefined) throw new Error(`no builder for origin ${key}`);
      upstream = build(key);
      if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    }
    this.#entries.set(key, upstream);
    return upstream;
  }

  get size(): number {
    return this.#entries.size;
  }
}
