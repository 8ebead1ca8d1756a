// MemoryMetadataIndex: the MetadataIndex contract in memory; also the in-memory view SqliteMetadataIndex serves reads from.
import type { MetadataIndex, ObjectEntry } from './metadata-index.ts';

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

  close(): void {
    // Nothing to flush.
  }

  #unlinkDigest(entry: ObjectEntry): void {
    const keys = this.#keysByDigest.get(entry.digest);
    if (keys === undefined) return;
    keys.delete(entry.key);
    if (keys.size === 0) this.#keysByDigest.delete(entry.digest);
  }
}
