// Whole bodies of small, often-asked objects kept in memory by strong ETag, so a hit on them costs no file I/O.

/**
 * Keyed by the strong validator: RFC 9110 8.8.1 has a strong ETag change whenever the representation's
 * bytes do, and hoard's ETags are derived from the SHA-256 of the bytes, so one key never names two
 * bodies. Least recently used bodies leave first; both the total and each body are bounded.
 */
export class HotBodyCache {
  readonly #maxBytes: number;
  readonly #maxEntryBytes: number;
  /** Map order is use order: the first key is the least recently used. */
  readonly #bodies = new Map<string, Uint8Array>();
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
    const body = this.#bodies.get(etag);
    if (body !== undefined) {
      this.#bodies.delete(etag);
      this.#bodies.set(etag, body);
    }
    return body;
  }

  set(etag: string, body: Uint8Array): void {
    if (!this.accepts(body.byteLength) || this.#bodies.has(etag)) return;
    this.#bodies.set(etag, body);
    this.#bytes += body.byteLength;
    for (const [oldest, evicted] of this.#bodies) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#bodies.delete(oldest);
      this.#bytes -= evicted.byteLength;
    }
  }

  get bytes(): number {
    return this.#bytes;
  }
}
