// A MetadataIndex wrapper that reports every entry written or deleted: reused hit decisions of serving threads end then.
import type { BlobCursor, IndexTotals, IndexedBlob, MetadataIndex, ObjectEntry, PathQuery } from '../storage/metadata-index.ts';

/**
 * Reads pass straight through; `put` and `delete` call `onWrite` once done (an entry replaced by other bytes,
 * evicted, collected or dropped changes what a hit on its key may answer). Access times and validation marks do
 * not: they change no answer a serving thread may reuse (immutable objects only).
 */
export class WriteWatchingIndex implements MetadataIndex {
  readonly #inner: MetadataIndex;
  readonly #onWrite: () => void;

  constructor(inner: MetadataIndex, onWrite: () => void) {
    this.#inner = inner;
    this.#onWrite = onWrite;
  }

  put(entry: ObjectEntry): void {
    this.#inner.put(entry);
    this.#onWrite();
  }
  delete(key: string): void {
    this.#inner.delete(key);
    this.#onWrite();
  }
  get(key: string): ObjectEntry | undefined {
    return this.#inner.get(key);
  }
  touch(key: string, at: number): void {
    this.#inner.touch(key, at);
  }
  markValidated(key: string, at: number): void {
    this.#inner.markValidated(key, at);
  }
  all(): Iterable<ObjectEntry> {
    return this.#inner.all();
  }
  byDigest(digest: string): ObjectEntry[] {
    return this.#inner.byDigest(digest);
  }
  count(): number {
    return this.#inner.count();
  }
  totals(): IndexTotals {
    return this.#inner.totals();
  }
  blobsByAccess(after: BlobCursor | undefined, limit: number): IndexedBlob[] {
    return this.#inner.blobsByAccess(after, limit);
  }
  findByPath(query: PathQuery): ObjectEntry[] {
    return this.#inner.findByPath(query);
  }
  close(): void {
    this.#inner.close();
  }
}
