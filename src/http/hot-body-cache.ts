// Whole bodies of small, often-asked objects kept in memory by strong ETag, so a hit on them costs no file I/O.

/**
 * Keyed by the strong validator: RFC 9110 8.8.1 has a strong ETag change whenever the representation's
 * bytes do, and hoard's ETags are derived from the SHA-256 of the bytes, so one key never names two
 * bodies. Both the total and each body are bounded. Eviction is second-chance (CLOCK): a hit only sets
 * a flag, where moving the key to the end of the map (exact LRU) cost a delete and an insert per hit,
 * a measurable share of a 4 KB hit; bodies used since the last pass are spared once.
 */
export class HotBodyCache {
  readonly #maxBytes: number;
  readonly #maxEntryBytes: number;
  /** Map order is the clock's: eviction looks at the first key first. */
  readonly #bodies = new Map<string, { readonly body: Uint8Array; used: boolean }>();
  #bytes = 0;

  constructor(options: { maxBytes: number; maxEntryBytes: number }) {
    this.#maxBytes = options.maxBytes;
    this.#maxEntryBytes = Math.min(options.maxEntryBytes, options.maxBytes);
  }

  /** Whether a body of this size would be kept. */
  accepts(size: number): boolean {
    return size <= this.#maxEntryBytes;
  }

  get(etag: string): Uint8Array | undefined {
    const entry = this.#bodies.get(etag);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.body;
  }

  set(etag: string, body: Uint8Array): void {
    if (!this.accepts(body.byteLength) || this.#bodies.has(etag)) return;
    this.#bodies.set(etag, { body, used: false });
    this.#bytes += body.byteLength;
    // Ends: each step evicts a body or clears a flag, and a cleared flag is not set again here.
    while (this.#bytes > this.#maxBytes) {
      const first = this.#bodies.entries().next();
      if (first.done === true) break;
      const [key, entry] = first.value;
      this.#bodies.delete(key);
      if (entry.used) {
        entry.used = false;
        this.#bodies.set(key, entry);
      } else {
        this.#bytes -= entry.body.byteLength;
      }
    }
  }

  get bytes(): number {
    return this.#bytes;
  }
}
