// MemoryMetadataIndex: the MetadataIndex contract in memory, for tests and tools; hoard serves from SqliteMetadataIndex.
import type { BlobCursor, IndexedBlob, IndexTotals, MetadataIndex, ObjectEntry, PathQuery } from './metadata-index.ts';

/**
 * A fresh entry with the fields in one order and no optional field set to undefined, so that an
 * entry read back from memory, or from disk after a restart, is deep-equal to the one put.
 */
export function normalizeEntry(entry: ObjectEntry): ObjectEntry {
  const normal: { -readonly [K in keyof ObjectEntry]: ObjectEntry[K] } = {
    key: entry.key,
    protocol: entry.protocol,
    upstream: entry.upstream,
    path: entry.path,
    digest: entry.digest,
    size: entry.size,
    storedAt: entry.storedAt,
    validatedAt: entry.validatedAt,
    lastAccessAt: entry.lastAccessAt,
    verification: entry.verification,
  };
  if (entry.lastModified !== undefined) normal.lastModified = entry.lastModified;
  if (entry.upstreamEtag !== undefined) normal.upstreamEtag = entry.upstreamEtag;
  if (entry.contentType !== undefined) normal.contentType = entry.contentType;
  return normal;
}

/**
 * Entries are immutable once stored: `touch` and `markValidated` replace them, so an entry a caller
 * holds never changes under it.
 */
export class MemoryMetadataIndex implements MetadataIndex {
  readonly #entries = new Map<string, ObjectEntry>();
  readonly #keysByDigest = new Map<string, Set<string>>();
  /** The size of each blob, as its first entry gave it; summed in #bytes. */
  readonly #blobSizes = new Map<string, number>();
  #bytes = 0;

  get(key: string): ObjectEntry | undefined {
    return this.#entries.get(key);
  }

  put(entry: ObjectEntry): void {
    const normal = normalizeEntry(entry);
    const previous = this.#entries.get(normal.key);
    if (previous !== undefined && previous.digest !== normal.digest) this.#unlinkDigest(previous);
    this.#entries.set(normal.key, normal);
    let keys = this.#keysByDigest.get(normal.digest);
    if (keys === undefined) {
      keys = new Set();
      this.#keysByDigest.set(normal.digest, keys);
      this.#blobSizes.set(normal.digest, normal.size);
      this.#bytes += normal.size;
    }
    keys.add(normal.key);
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#unlinkDigest(entry);
  }

  /** Sets the entry's lastAccessAt to `at`; a key not stored is ignored. */
  touch(key: string, at: number): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.lastAccessAt !== at) this.#entries.set(key, { ...entry, lastAccessAt: at });
  }

  /** Sets the entry's validatedAt to `at`; a key not stored is ignored. */
  markValidated(key: string, at: number): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.validatedAt !== at) this.#entries.set(key, { ...entry, validatedAt: at });
  }

  /** A live view: deleting entries while iterating is safe, and they are not visited after. */
  all(): Iterable<ObjectEntry> {
    return this.#entries.values();
  }

  byDigest(digest: string): ObjectEntry[] {
    const keys = this.#keysByDigest.get(digest);
    if (keys === undefined) return [];
    const entries: ObjectEntry[] = [];
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) entries.push(entry);
    }
    return entries;
  }

  count(): number {
    return this.#entries.size;
  }

  totals(): IndexTotals {
    return { entries: this.#entries.size, blobs: this.#keysByDigest.size, bytes: this.#bytes };
  }

  /** Sorts every blob for each page: fine for the small stores this class serves. */
  blobsByAccess(after: BlobCursor | undefined, limit: number): IndexedBlob[] {
    const blobs: IndexedBlob[] = [];
    for (const [digest, keys] of this.#keysByDigest) {
      let lastAccessAt = 0;
      for (const key of keys) lastAccessAt = Math.max(lastAccessAt, this.#entries.get(key)?.lastAccessAt ?? 0);
      const blob = { digest, size: this.#blobSizes.get(digest) ?? 0, lastAccessAt };
      if (after === undefined || compareBlobs(blob, after) > 0) blobs.push(blob);
    }
    return blobs.sort(compareBlobs).slice(0, limit);
  }

  findByPath(query: PathQuery): ObjectEntry[] {
    return [...this.#entries.values()].filter((entry) => pathMatches(entry, query));
  }

  close(): void {
    // Nothing to flush.
  }

  #unlinkDigest(entry: ObjectEntry): void {
    const keys = this.#keysByDigest.get(entry.digest);
    if (keys === undefined) return;
    keys.delete(entry.key);
    if (keys.size === 0) {
      this.#keysByDigest.delete(entry.digest);
      this.#bytes -= this.#blobSizes.get(entry.digest) ?? 0;
      this.#blobSizes.delete(entry.digest);
    }
  }
}

/** The order of `blobsByAccess`: least recently accessed first, then by digest. */
export function compareBlobs(a: BlobCursor, b: BlobCursor): number {
  return a.lastAccessAt - b.lastAccessAt || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);
}

export function pathMatches(entry: ObjectEntry, query: PathQuery): boolean {
  if (query.protocol !== undefined && entry.protocol !== query.protocol) return false;
  if (query.pathEndsWith !== undefined && !query.pathEndsWith.some((end) => entry.path.endsWith(end))) return false;
  if (query.pathContains !== undefined && !entry.path.includes(query.pathContains)) return false;
  return true;
}
