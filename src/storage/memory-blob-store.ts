// MemoryBlobStore: the BlobStore contract held in memory, for unit tests of the layers above storage.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { HoardError } from '../errors.ts';
import { assertBlobDigest, checkExpectedContent } from './blob-digest.ts';
import type { BlobInfo, BlobStore, BlobWriter, ExpectedContent } from './blob-store.ts';

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
    return new MemoryBlobWriter(this.#ledger);
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

/** As the fs writer: writing -> sealed -> committing -> committed | stranded (readable until abort); failed; aborted. */
type WriterState = 'writing' | 'sealed' | 'committing' | 'committed' | 'stranded' | 'aborted' | 'failed';

// A turn of the event loop, as a disk write takes: followers must cope with bytes arriving later.
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class MemoryBlobWriter implements BlobWriter {
  readonly #ledger: Ledger;
  #buffer = Buffer.alloc(0);
  // Bytes placed in the buffer; `#written` trails it by one turn per write, like a file write landing.
  #filled = 0;
  #written = 0;
  #state: WriterState = 'writing';
  #failure: HoardError | undefined;
  #seal: Promise<BlobInfo> | undefined;
  // Why the bytes failed their check: seal and commit report it from then on.
  #checkFailure: Error = new HoardError('HOARD_ERR_INTERNAL', 'no failed check');
  #commit: Promise<BlobInfo> | undefined;
  #abort: Promise<void> | undefined;

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'writing') {
      throw new HoardError('HOARD_ERR_INTERNAL', `blob write after ${this.#state === 'aborted' ? 'abort' : this.#state === 'failed' ? 'a failed check' : 'seal'}`);
    }
    if (this.#failure !== undefined) throw this.#failure;
    if (chunk.byteLength === 0) return;
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
    await nextTurn();
    // setImmediate callbacks run in order, so `#written` only grows.
    this.#written = end;
  }

  async readAt(position: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new HoardError('HOARD_ERR_INTERNAL', `readAt(${position}, ${length}): position and length must be non-negative integers`);
    }
    if (this.#state === 'aborted' || this.#state === 'failed') {
      throw new HoardError('HOARD_ERR_STORE_IO', 'the blob write was abandoned; its bytes are gone');
    }
    await Promise.resolve();
    const n = Math.min(length, this.#written - position);
    if (n <= 0) return new Uint8Array(0);
    return Buffer.from(this.#buffer.subarray(position, position + n));
  }

  seal(expected: ExpectedContent = {}): Promise<BlobInfo> {
    if (this.#state === 'failed') return Promise.reject(this.#checkFailure);
    const sealing = this.#seal;
    if (sealing !== undefined) return sealing.then((info) => this.#recheck(expected, info));
    if (this.#state !== 'writing') return Promise.reject(new HoardError('HOARD_ERR_INTERNAL', 'blob seal after abort'));
    this.#state = 'sealed';
    this.#seal = this.#check(expected);
    return this.#seal;
  }

  commit(expected: ExpectedContent = {}): Promise<BlobInfo> {
    if (this.#commit !== undefined) return this.#commit;
    if (this.#state === 'failed') return Promise.reject(this.#checkFailure);
    if (this.#state !== 'writing' && this.#state !== 'sealed') return Promise.reject(new HoardError('HOARD_ERR_INTERNAL', 'blob commit after abort'));
    this.#commit = this.#finishCommit(expected);
    return this.#commit;
  }

  abort(): Promise<void> {
    if (this.#abort !== undefined) return this.#abort;
    if (this.#state === 'committed') return Promise.resolve();
    const committing = this.#commit;
    if (committing !== undefined && this.#state !== 'stranded' && this.#state !== 'failed') {
      return committing.then(
        () => undefined,
        () => this.abort(),
      );
    }
    // A failed check gave its reservation back already.
    if (this.#state !== 'failed') this.#ledger.release(this.#filled);
    this.#state = 'aborted';
    this.#abort = nextTurn();
    return this.#abort;
  }

  async #check(expected: ExpectedContent): Promise<BlobInfo> {
    // Lets writes already started land first, as the fs writer's queue does.
    await nextTurn();
    const size = this.#filled;
    const digest = createHash('sha256').update(this.#buffer.subarray(0, size)).digest('hex');
    try {
      checkExpectedContent(expected, size, digest);
    } catch (err) {
      this.#discard(err);
      throw err;
    }
    return { digest, size };
  }

  #recheck(expected: ExpectedContent, info: BlobInfo): BlobInfo {
    try {
      checkExpectedContent(expected, info.size, info.digest);
    } catch (err) {
      if (this.#state !== 'committed') this.#discard(err);
      throw err;
    }
    return info;
  }

  #discard(err: unknown): void {
    if (this.#state === 'failed' || this.#state === 'aborted') return;
    this.#state = 'failed';
    this.#checkFailure = err instanceof Error ? err : new Error(String(err));
    this.#ledger.release(this.#filled);
  }

  async #finishCommit(expected: ExpectedContent): Promise<BlobInfo> {
    const { digest, size } = await this.seal(expected);
    this.#state = 'committing';
    // As a disk would be flushed here: a late turn, in which a write failure or an injected fault shows.
    await nextTurn();
    try {
      if (this.#failure !== undefined) throw this.#failure;
      this.#ledger.durable();
    } catch (err) {
      // The bytes stay readable, and their room reserved, until abort().
      this.#state = 'stranded';
      throw err;
    }
    // The writer's reservation becomes the blob's, or is given back when the blob was stored already.
    if (!this.#ledger.publish(digest, Buffer.from(this.#buffer.subarray(0, size)))) this.#ledger.release(size);
    this.#state = 'committed';
    return { digest, size };
  }
}

