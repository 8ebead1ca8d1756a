// Which blobs the local first level holds, in least-recently-used order, and which to drop to stay within its bound.

export class LocalCopies {
  readonly #maxBytes: number | undefined;
  /** digest -> size; a Map iterates in insertion order, so re-inserting on use keeps it LRU. */
  readonly #sizes = new Map<string, number>();
  #bytes = 0;

  constructor(maxBytes: number | undefined) {
    this.#maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  has(digest: string): boolean {
    return this.#sizes.has(digest);
  }

  add(digest: string, size: number): void {
    this.remove(digest);
    this.#sizes.set(digest, size);
    this.#bytes += size;
  }

  touch(digest: string): void {
    const size = this.#sizes.get(digest);
    if (size === undefined) return;
    this.#sizes.delete(digest);
    this.#sizes.set(digest, size);
  }

  remove(digest: string): void {
    const size = this.#sizes.get(digest);
    if (size === undefined) return;
    this.#sizes.delete(digest);
    this.#bytes -= size;
  }

  /** Takes the least recently used copies out until `share` of the bytes held is gone, and names them. */
  oldest(share: number): string[] {
    const target = this.#bytes * (1 - share);
    const victims: string[] = [];
    for (const [digest, size] of this.#sizes) {
      if (this.#bytes <= target || this.#sizes.size <= 1) break;
      this.#sizes.delete(digest);
      this.#bytes -= size;
      victims.push(digest);
    }
    return victims;
  }

  /**
   * Takes the least recently used copies out until the rest fits the bound, and names them (the
   * caller deletes the files). The most recent copy always stays, even alone above the bound: it is
   * the one being served.
   */
  over(): string[] {
    const max = this.#maxBytes;
    if (max === undefined) return [];
    const victims: string[] = [];
    for (const [digest, size] of this.#sizes) {
      if (this.#bytes <= max || this.#sizes.size <= 1) break;
      this.#sizes.delete(digest);
      this.#bytes -= size;
      victims.push(digest);
    }
    return victims;
  }
}
