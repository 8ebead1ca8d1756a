// The base of MetadataIndex wrappers: every call goes to the wrapped index; a wrapper overrides only what it adds to.
import type { BlobCursor, IndexTotals, IndexedBlob, MetadataIndex, ObjectEntry, PathQuery } from './metadata-index.ts';

export class ForwardingMetadataIndex implements MetadataIndex {
  protected readonly inner: MetadataIndex;

  constructor(inner: MetadataIndex) {
    this.inner = inner;
  }

  get(key: string): ObjectEntry | undefined {
    return this.inner.get(key);
  }
  put(entry: ObjectEntry): void {
    this.inner.put(entry);
  }
  delete(key: string): void {
    this.inner.delete(key);
  }
  touch(key: string, at: number): void {
    this.inner.touch(key, at);
  }
  markValidated(key: string, at: number): void {
    this.inner.markValidated(key, at);
  }
  all(): Iterable<ObjectEntry> {
    return this.inner.all();
  }
  byDigest(digest: string): ObjectEntry[] {
    return this.inner.byDigest(digest);
  }
  count(): number {
    return this.inner.count();
  }
  totals(): IndexTotals {
    return this.inner.totals();
  }
  blobsByAccess(after: BlobCursor | undefined, limit: number): IndexedBlob[] {
    return this.inner.blobsByAccess(after, limit);
  }
  findByPath(query: PathQuery): ObjectEntry[] {
    return this.inner.findByPath(query);
  }
  close(): void {
    this.inner.close();
  }
}
