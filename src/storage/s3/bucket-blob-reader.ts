// Positional reads of a blob straight from the bucket, for a node serving a blob it has no local copy of yet.
import type { Readable } from 'node:stream';
import { HoardError } from '../../errors.ts';
import type { BlobReader } from '../blob-store.ts';
import { bucketError, type S3Bucket } from './s3-bucket.ts';

/**
 * A sender reads a blob front to back in buffer-sized steps: one ranged GET from the first position asked
 * serves them all, and only a jump (a client's next Range) opens another. The bytes are the bucket's,
 * which were checked before they were uploaded; the local copy being filled meanwhile is checked again.
 */
export class BucketBlobReader implements BlobReader {
  readonly #bucket: S3Bucket;
  readonly #key: string;
  readonly #size: number;
  #body: Readable | undefined;
  #chunks: AsyncIterator<unknown> | undefined;
  #left: Buffer = Buffer.alloc(0);
  /** Position of the next byte the open GET yields. */
  #at = -1;
  #closed = false;

  constructor(bucket: S3Bucket, key: string, size: number) {
    this.#bucket = bucket;
    this.#key = key;
    this.#size = size;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (this.#closed) throw new HoardError('HOARD_ERR_STORE_IO', `read of ${this.#key} after close`);
    const want = Math.min(length, this.#size - position);
    if (want <= 0) return 0;
    if (this.#chunks === undefined || position !== this.#at) await this.#open(position);
    let got = 0;
    try {
      while (got < want) {
        if (this.#left.length === 0) {
          const next = await (this.#chunks as AsyncIterator<unknown>).next();
          if (next.done === true) break;
          this.#left = next.value as Buffer;
        }
        const n = Math.min(want - got, this.#left.length);
        buffer.set(this.#left.subarray(0, n), offset + got);
        this.#left = this.#left.subarray(n);
        got += n;
      }
    } catch (err) {
      this.#drop();
      throw bucketError(err, `cannot read ${this.#key}`);
    }
    this.#at += got;
    if (got < want) throw new HoardError('HOARD_ERR_STORE_IO', `${this.#key} ended at ${position + got}, before ${position + want}`);
    return got;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#drop();
    return Promise.resolve();
  }

  async #open(position: number): Promise<void> {
    this.#drop();
    const body = await this.#bucket.get(this.#key, position, this.#size - 1);
    if (body === undefined) throw new HoardError('HOARD_ERR_STORE_IO', `${this.#key} is not in the store`);
    this.#body = body;
    this.#chunks = body[Symbol.asyncIterator]();
    this.#at = position;
  }

  #drop(): void {
    this.#body?.destroy();
    this.#body = undefined;
    this.#chunks = undefined;
    this.#left = Buffer.alloc(0);
  }
}
