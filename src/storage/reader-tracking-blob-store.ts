// A BlobStore wrapper that counts the read streams open on each blob, so eviction can leave them alone.
import type { Readable } from 'node:stream';
import type { BlobInfo, BlobReader, BlobStore, BlobWriter } from './blob-store.ts';

export class ReaderTrackingBlobStore implements BlobStore {
  readonly #inner: BlobStore;
  readonly #open = new Map<string, number>();

  constructor(inner: BlobStore) {
    this.#inner = inner;
  }

  /** True while at least one stream of this blob has not closed. */
  isReading(digest: string): boolean {
    return this.#open.has(digest);
  }

  /** Open read streams, for the dashboard. */
  get openReaders(): number {
    let n = 0;
    for (const count of this.#open.values()) n += count;
    return n;
  }

  createReadStream(digest: string, start?: number, endInclusive?: number): Readable {
    const stream = this.#inner.createReadStream(digest, start, endInclusive);
    this.#opened(digest);
    // 'close' comes once whether the stream ended, failed or was destroyed by a departing client.
    stream.once('close', () => this.#closed(digest));
    return stream;
  }

  /** Absent when the inner store has none, so callers fall back to streams as they would without the wrapper. */
  get openReader(): ((digest: string) => Promise<BlobReader>) | undefined {
    const inner = this.#inner;
    if (inner.openReader === undefined) return undefined;
    return async (digest) => {
      // Counted before the open, so eviction cannot slip in between the open and the count.
      this.#opened(digest);
      let reader: BlobReader;
      try {
        reader = await (inner.openReader as (d: string) => Promise<BlobReader>).call(inner, digest);
      } catch (err) {
        this.#closed(digest);
        throw err;
      }
      let open = true;
      return {
        read: (buffer, offset, length, position) => reader.read(buffer, offset, length, position),
        close: async () => {
          if (!open) return;
          open = false;
          await reader.close();
          this.#closed(digest);
        },
      };
    };
  }

  #opened(digest: string): void {
    this.#open.set(digest, (this.#open.get(digest) ?? 0) + 1);
  }

  #closed(digest: string): void {
    const left = (this.#open.get(digest) ?? 1) - 1;
    if (left <= 0) this.#open.delete(digest);
    else this.#open.set(digest, left);
  }

  init(): Promise<void> {
    return this.#inner.init();
  }
  stat(digest: string): Promise<BlobInfo | undefined> {
    return this.#inner.stat(digest);
  }
  createWriter(): Promise<BlobWriter> {
    return this.#inner.createWriter();
  }
  delete(digest: string): Promise<void> {
    return this.#inner.delete(digest);
  }
  list(): AsyncIterable<BlobInfo> {
    return this.#inner.list();
  }
  verify(digest: string): Promise<boolean> {
    return this.#inner.verify(digest);
  }
  async quarantine(digest: string): Promise<void> {
    await this.#inner.quarantine?.(digest);
  }
}
