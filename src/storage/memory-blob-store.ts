// MemoryBlobStore: the BlobStore contract held in memory, for unit tests of the layers above storage.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { HoardError } from '../errors.ts';
import { assertBlobDigest } from './blob-digest.ts';
import type { BlobInfo, BlobStore, BlobWriter } from './blob-store.ts';
import { StagedBlobWriter } from './staged-blob-writer.ts';
import type { BlobStaging } from './staged-blob-writer.ts';
import { toStoreError } from './store-errors.ts';

export interface MemoryBlobStoreOptions {
  /**
   * Bytes the store may hold, committed and in-progress writes together; a write past it rejects with
   * HOARD_ERR_STORE_FULL, as a full disk would. Unlimited by default.
   */
  readonly capacityBytes?: number | undefined;
}

interface Ledger {
  /** Claims room for `bytes` more, or throws HOARD_ERR_STORE_FULL. */
  reserve(bytes: number): void;
  release(bytes: number): void;
  /** Stores a committed blob; false when the digest was stored already. */
  publish(digest: string, bytes: Buffer): boolean;
  /** The durable step of a commit: throws the fault a test asked for with `failNextCommit`. */
  durable(): void;
}

// Small chunks, so that tests of consumers see several of them even for modest blobs.
const streamChunkBytes = 64 * 1024;

export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, Buffer>();
  readonly #quarantined = new Map<string, Buffer>();
  readonly #capacity: number;
  #reserved = 0;
  // What writers may do to the store, without making it public API.
  readonly #ledger: Ledger = {
    reserve: (bytes) => {
      if (this.#reserved + bytes > this.#capacity) {
        throw new HoardError('HOARD_ERR_STORE_FULL', 'the memory blob store is full (capacityBytes reached)');
      }
      this.#reserved += bytes;
    },
    release: (bytes) => {
      this.#reserved -= bytes;
    },
    publish: (digest, bytes) => {
      if (this.#blobs.has(digest)) return false;
      this.#blobs.set(digest, bytes);
      return true;
    },
    durable: () => {
      const fault = this.#commitFault;
      this.#commitFault = undefined;
      if (fault !== undefined) throw fault;
    },
  };
  #commitFault: HoardError | undefined;

  constructor(options: MemoryBlobStoreOptions = {}) {
    this.#capacity = options.capacityBytes ?? Infinity;
  }

  async init(): Promise<void> {
    // Nothing survives a restart of a memory store, so there is nothing to clean.
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    assertBlobDigest(digest);
    await Promise.resolve();
    const blob = this.#blobs.get(digest);
    return blob === undefined ? undefined : { digest, size: blob.length };
  }

  createReadStream(digest: string, start = 0, endInclusive?: number): Readable {
    assertBlobDigest(digest);
    if (!Number.isSafeInteger(start) || start < 0 || (endInclusive !== undefined && !Number.isSafeInteger(endInclusive))) {
      throw new HoardError('HOARD_ERR_INTERNAL', `blob range ${start}-${endInclusive} is not a pair of non-negative integers`);
    }
    const blobs = this.#blobs;
    let bytes: Buffer | undefined;
    let position = start;
    return new Readable({
      highWaterMark: streamChunkBytes,
      // Looked up on first read, like a file opened by the stream: a delete before that is seen.
      read() {
        if (bytes === undefined) {
          bytes = blobs.get(digest);
          if (bytes === undefined) {
            this.destroy(missingBlob(digest));
            return;
          }
          if (endInclusive !== undefined && endInclusive >= bytes.length && start <= endInclusive) {
            this.destroy(new HoardError('HOARD_ERR_STORE_IO', `blob ${digest} ends at byte ${bytes.length}, before the requested ${endInclusive}`));
            return;
          }
        }
        const end = Math.min(endInclusive === undefined ? Infinity : endInclusive + 1, bytes.length);
        if (position >= end) {
          this.push(null);
          return;
        }
        const next = Math.min(end, position + streamChunkBytes);
        // A copy: a consumer must not be able to change the stored bytes.
        this.push(Buffer.from(bytes.subarray(position, next)));
        position = next;
      },
    });
  }

  async createWriter(): Promise<BlobWriter> {
    await Promise.resolve();
    return new StagedBlobWriter(new MemoryBlobStaging(this.#ledger));
  }

  async delete(digest: string): Promise<void> {
    assertBlobDigest(digest);
    await Promise.resolve();
    const blob = this.#blobs.get(digest);
    if (blob === undefined) return;
    this.#blobs.delete(digest);
    this.#reserved -= blob.length;
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const [digest, blob] of [...this.#blobs]) {
      await Promise.resolve();
      yield { digest, size: blob.length };
    }
  }

  async verify(digest: string): Promise<boolean> {
    assertBlobDigest(digest);
    await Promise.resolve();
    const blob = this.#blobs.get(digest);
    return blob !== undefined && createHash('sha256').update(blob).digest('hex') === digest;
  }

  async quarantine(digest: string): Promise<void> {
    assertBlobDigest(digest);
    await Promise.resolve();
    const blob = this.#blobs.get(digest);
    if (blob === undefined) return;
    this.#blobs.delete(digest);
    this.#reserved -= blob.length;
    this.#quarantined.set(digest, blob);
  }

  /** Digests moved aside by `quarantine`. */
  quarantined(): string[] {
    return [...this.#quarantined.keys()];
  }

  /** The stored bytes themselves, not a copy: tests change them to simulate a rotting disk. */
  rawBytes(digest: string): Uint8Array | undefined {
    return this.#blobs.get(digest);
  }

  /**
   * The next commit that passes its check fails with `error` instead of storing, as a disk failing at
   * fsync would (the writer's bytes stay readable until abort). For tests.
   */
  failNextCommit(error: HoardError): void {
    this.#commitFault = error;
  }

  /** Bytes held now, committed and in progress. */
  get usedBytes(): number {
    return this.#reserved;
  }
}

function missingBlob(digest: string): HoardError {
  const cause = Object.assign(new Error(`no blob ${digest}`), { code: 'ENOENT' });
  return new HoardError('HOARD_ERR_STORE_IO', `cannot open blob ${digest}: it is not stored`, { cause });
}

// A turn of the event loop, as a disk write takes: followers must cope with bytes arriving later.
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A write into one growing buffer. Bytes land (become readable) one turn after they are accepted, as a
 * file write would; room is claimed from the store's capacity as they are accepted and given back by
 * discard, or handed to the blob on publish.
 */
class MemoryBlobStaging implements BlobStaging {
  readonly #ledger: Ledger;
  #buffer = Buffer.alloc(0);
  // Bytes placed in the buffer; `#landed` trails it by one turn per append, like a file write landing.
  #filled = 0;
  #landed = 0;
  #failure: HoardError | undefined;

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  get failure(): HoardError | undefined {
    return this.#failure;
  }

  get landed(): number {
    return this.#landed;
  }

  append(chunk: Uint8Array): Promise<void> {
    try {
      this.#ledger.reserve(chunk.byteLength);
    } catch (err) {
      this.#failure = err as HoardError;
      throw err;
    }
    const end = this.#filled + chunk.byteLength;
    if (end > this.#buffer.length) {
      const grown = Buffer.alloc(Math.max(end, this.#buffer.length * 2, 4096));
      this.#buffer.copy(grown, 0, 0, this.#filled);
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#filled);
    this.#filled = end;
    // setImmediate callbacks run in order, so `#landed` only grows.
    return nextTurn().then(() => {
      this.#landed = end;
    });
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    await Promise.resolve();
    return Buffer.from(this.#buffer.subarray(position, position + length));
  }

  // Lets appends already started land first, as the fs writer's queue does.
  whenLanded(): Promise<void> {
    return nextTurn();
  }

  // As a disk would be flushed here: a late turn, in which a write failure or an injected fault shows.
  drain(): Promise<void> {
    return nextTurn();
  }

  publish({ digest, size }: BlobInfo): Promise<void> {
    try {
      this.#ledger.durable();
    } catch (err) {
      // The bytes stay readable, and their room reserved, until discard().
      return Promise.reject(toStoreError(err, 'cannot commit a blob'));
    }
    // The writer's reservation becomes the blob's, or is given back when the blob was stored already.
    if (!this.#ledger.publish(digest, Buffer.from(this.#buffer.subarray(0, size)))) this.#ledger.release(size);
    return Promise.resolve();
  }

  discard(): Promise<void> {
    this.#ledger.release(this.#filled);
    return nextTurn();
  }
}
