// One upstream download written once to the store and streamed to every client that asks, late joiners included.
import { Readable } from 'node:stream';
import { HoardError } from '../errors.ts';
import type { BlobInfo, BlobWriter } from '../storage/blob-store.ts';
import type { CachedObject } from './cached-object.ts';

/** Bytes read from the temporary file per step when following a download. */
const followChunk = 256 * 1024;

export interface DownloadMeta {
  /** From upstream Content-Length; undefined when the upstream sent none. */
  readonly expectedSize: number | undefined;
  readonly lastModified: string | undefined;
  readonly upstreamEtag: string | undefined;
  readonly contentType: string | undefined;
}

type State = { phase: 'running' } | { phase: 'committed'; info: BlobInfo } | { phase: 'failed'; error: Error };

export class SharedDownload implements CachedObject {
  readonly key: string;
  readonly meta: DownloadMeta;
  readonly #writer: BlobWriter;
  #state: State = { phase: 'running' };
  readonly #waiters = new Set<() => void>();
  /** Settles when the download is committed (with the blob) or failed. Never rejects. */
  readonly settled: Promise<State>;
  #settle!: (state: State) => void;

  constructor(key: string, writer: BlobWriter, meta: DownloadMeta) {
    this.key = key;
    this.#writer = writer;
    this.meta = meta;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
  }

  get size(): number | undefined {
    return this.#state.phase === 'committed' ? this.#state.info.size : this.meta.expectedSize;
  }
  get lastModified(): string | undefined {
    return this.meta.lastModified;
  }
  get etag(): string | undefined {
    return this.#state.phase === 'committed' ? etagFor(this.#state.info.digest) : undefined;
  }
  get contentType(): string | undefined {
    return this.meta.contentType;
  }
  get complete(): boolean {
    return this.#state.phase === 'committed';
  }
  get written(): number {
    return this.#writer.written;
  }
  get failed(): Error | undefined {
    return this.#state.phase === 'failed' ? this.#state.error : undefined;
  }

  /**
   * Copies `body` into the writer, then commits through `commit` (which checks size and digest and
   * records the entry). Any failure aborts the writer and errors every follower. The download does not
   * depend on any client: a client hanging up only ends its own stream.
   */
  async run(body: AsyncIterable<Uint8Array>, commit: (writer: BlobWriter) => Promise<BlobInfo>, mapError: (err: unknown) => Error): Promise<void> {
    try {
      const expected = this.meta.expectedSize;
      for await (const chunk of body) {
        await this.#writer.write(chunk);
        if (expected !== undefined && this.#writer.written > expected) {
          throw new HoardError('HOARD_ERR_SIZE_MISMATCH', `upstream sent more than its Content-Length of ${expected} bytes`);
        }
        this.#notify();
      }
      if (expected !== undefined && this.#writer.written !== expected) {
        throw new HoardError('HOARD_ERR_UPSTREAM_TRUNCATED', `upstream sent ${this.#writer.written} of ${expected} bytes`, { detail: 'upstream closed the connection early' });
      }
      const info = await commit(this.#writer);
      this.#finish({ phase: 'committed', info });
    } catch (err) {
      const error = mapError(err);
      await this.#writer.abort().catch(() => undefined);
      this.#finish({ phase: 'failed', error });
      if (body instanceof Readable) body.destroy();
    }
  }

  #finish(state: State): void {
    this.#state = state;
    this.#settle(state);
    this.#notify();
  }

  #notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  stream(start: number, endInclusive: number | undefined): Readable {
    const end = endInclusive === undefined ? undefined : endInclusive + 1;
    let position = start;
    let pulling = false;
    let wake: (() => void) | undefined;
    const readable = new Readable({
      highWaterMark: followChunk,
      read: () => {
        if (!pulling) void pull();
      },
      destroy: (err, callback) => {
        // Release the waiting pull loop so it sees the stream is gone and ends.
        if (wake) {
          this.#waiters.delete(wake);
          wake();
        }
        callback(err);
      },
    });

    const pull = async (): Promise<void> => {
      pulling = true;
      try {
        // Each pass either pushes bytes, ends, fails or waits for the writer: never spins.
        while (!readable.destroyed) {
          const limit = end ?? Number.POSITIVE_INFINITY;
          if (position >= limit) {
            readable.push(null);
            return;
          }
          // The object's last byte is held back until the commit has checked size and digest: a client
          // must never receive a complete-looking body that then turns out to be wrong.
          const available = this.#state.phase === 'committed' ? this.#writer.written : Math.max(0, this.#writer.written - 1);
          if (position < available) {
            const bytes = await this.#writer.readAt(position, Math.min(followChunk, available - position, limit - position));
            if (readable.destroyed) return;
            if (bytes.length === 0) throw new HoardError('HOARD_ERR_STORE_IO', `short read at ${position} of ${this.key}`);
            position += bytes.length;
            if (!readable.push(bytes)) return;
            continue;
          }
          const state = this.#state;
          if (state.phase === 'failed') {
            readable.destroy(state.error);
            return;
          }
          if (state.phase === 'committed') {
            if (end === undefined) readable.push(null);
            else readable.destroy(new HoardError('HOARD_ERR_STORE_IO', `range end ${end} past size ${state.info.size}`));
            return;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            this.#waiters.add(resolve);
          });
          wake = undefined;
        }
      } catch (err) {
        readable.destroy(err instanceof Error ? err : new Error(String(err)));
      } finally {
        pulling = false;
      }
    };
    return readable;
  }
}

/** The client-facing strong validator of a stored blob. */
export function etagFor(digest: string): string {
  return `"${digest.slice(0, 32)}"`;
}
