// StagedBlobWriter: the one BlobWriter state machine every blob store shares; a store supplies only where the bytes go (BlobStaging).
import { createHash } from 'node:crypto';
import { HoardError } from '../errors.ts';
import { checkExpectedContent } from './blob-digest.ts';
import type { BlobInfo, BlobWriter, ExpectedContent } from './blob-store.ts';
import { toStoreError } from './store-errors.ts';

/**
 * Where one write's bytes are kept while they are written, and how a commit makes them visible: a temp
 * file renamed into place (FsBlobStore), a buffer (MemoryBlobStore), a local stage uploaded to object
 * storage. The writer calls it only in the order its state machine allows: `append` while writing, `read`
 * and `peekAt` until the bytes are discarded, `drain` then `publish` once, after the seal's check passed;
 * `discard` at most once, never after a successful `publish`. The staging checks nothing itself: counting,
 * hashing, the size and digest checks and every state error are the writer's.
 */
export interface BlobStaging {
  /**
   * The medium's first failure (a full disk, an I/O error), kept from then on: `write` and `commit` report
   * it. A staging that writes behind sets it when a background write fails.
   */
  readonly failure: HoardError | undefined;
  /**
   * Bytes readable so far, for a medium where accepted bytes become readable later (it then also offers
   * `whenLanded`); undefined when every accepted byte is readable at once.
   */
  readonly landed?: number | undefined;
  /**
   * Takes over the next accepted chunk (non-empty), as it is: the caller never changes it afterwards, so
   * the staging may keep it instead of copying it. Throws a HoardError to refuse it (and must then report
   * that error as `failure`). Returns a promise when the writer's caller must wait (write-behind holding too
   * much, a write landing), undefined when it may go on at once.
   */
  append(chunk: Uint8Array): Promise<void> | undefined;
  /** `length` (> 0) accepted bytes at `position`, all readable (below `landed`), in a buffer the caller may keep. */
  read(position: number, length: number): Promise<Uint8Array>;
  /** Accepted bytes still held in memory at `position`, as in `BlobWriter.peekAt`. Optional: without it the writer offers no `peekAt`. */
  peekAt?(position: number, maxLength: number): Uint8Array | undefined;
  /** Resolves once `landed` has caught up with every byte accepted so far; the seal waits for it. Only with `landed`. */
  whenLanded?(): Promise<void>;
  /** Resolves once every accepted byte has reached the medium or failed to (then `failure` says so); never rejects. */
  drain(): Promise<void>;
  /** Makes the verified bytes durable and visible under `info.digest`; a rejection leaves them readable until `discard`. */
  publish(info: BlobInfo): Promise<void>;
  /** Deletes the bytes and frees what holds them once no read needs it; never rejects. Its synchronous part releases any `append` waiting for room. */
  discard(): Promise<void>;
}

/**
 * writing -> sealed (size and digest checked) -> committing -> committed; a failed check -> failed
 * (bytes discarded); a failed durable commit -> stranded (bytes kept, readable until abort); anything not
 * committed -> aborted.
 */
type WriterState = 'writing' | 'sealed' | 'committing' | 'committed' | 'stranded' | 'aborted' | 'failed';

/**
 * The BlobWriter contract (storage/blob-store.ts) over a BlobStaging. It counts the accepted bytes and
 * hashes them as they arrive, so `seal` answers without reading anything back: on the download path the
 * last byte goes to the clients as soon as the seal checked it, while the staging may still be landing the
 * bytes. Chunks are handed to the staging as they are, never copied.
 */
export class StagedBlobWriter implements BlobWriter {
  /** Present only when the staging keeps chunks in memory (`BlobStaging.peekAt`). */
  readonly peekAt?: (position: number, maxLength: number) => Uint8Array | undefined;
  readonly #staging: BlobStaging;
  readonly #hash = createHash('sha256');
  #accepted = 0;
  #state: WriterState = 'writing';
  #seal: Promise<BlobInfo> | undefined;
  // Why the bytes failed their check: seal and commit report it from then on.
  #checkFailure: Error = new HoardError('HOARD_ERR_INTERNAL', 'no failed check');
  #commit: Promise<BlobInfo> | undefined;
  #abort: Promise<void> | undefined;
  // The staging's discard, started by a failed check or by abort, whichever comes first.
  #discarded: Promise<void> | undefined;

  constructor(staging: BlobStaging) {
    this.#staging = staging;
    if (staging.peekAt !== undefined) this.peekAt = (position, maxLength) => this.#peek(position, maxLength);
  }

  get written(): number {
    return this.#staging.landed ?? this.#accepted;
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'writing') {
      return Promise.reject(
        new HoardError('HOARD_ERR_INTERNAL', `blob write after ${this.#state === 'aborted' ? 'abort' : this.#state === 'failed' ? 'a failed check' : 'seal'}`),
      );
    }
    const failure = this.#staging.failure;
    if (failure !== undefined) return Promise.reject(failure);
    if (chunk.byteLength === 0) return Promise.resolve();
    let wait: Promise<void> | undefined;
    try {
      wait = this.#staging.append(chunk);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.#hash.update(chunk);
    this.#accepted += chunk.byteLength;
    return wait ?? Promise.resolve();
  }

  async readAt(position: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new HoardError('HOARD_ERR_INTERNAL', `readAt(${position}, ${length}): position and length must be non-negative integers`);
    }
    if (this.#state === 'aborted' || this.#state === 'failed') {
      throw new HoardError('HOARD_ERR_STORE_IO', 'the blob write was abandoned; its bytes are gone');
    }
    const n = Math.min(length, this.written - position);
    if (n <= 0) return new Uint8Array(0);
    return this.#staging.read(position, n);
  }

  seal(expected: ExpectedContent = {}): Promise<BlobInfo> {
    if (this.#state === 'failed') return Promise.reject(this.#checkFailure);
    const sealing = this.#seal;
    if (sealing !== undefined) return sealing.then((info) => this.#recheck(expected, info));
    if (this.#state !== 'writing') return Promise.reject(new HoardError('HOARD_ERR_INTERNAL', 'blob seal after abort'));
    this.#state = 'sealed';
    const landing = this.#staging.whenLanded?.();
    this.#seal = landing === undefined ? this.#check(expected) : landing.then(() => this.#check(expected));
    return this.#seal;
  }

  commit(expected: ExpectedContent = {}): Promise<BlobInfo> {
    if (this.#commit !== undefined) return this.#commit;
    if (this.#state === 'failed') return Promise.reject(this.#checkFailure);
    if (this.#state !== 'writing' && this.#state !== 'sealed') return Promise.reject(new HoardError('HOARD_ERR_INTERNAL', 'blob commit after abort'));
    this.#commit = this.#finishCommit(expected);
    return this.#commit;
  }

  /**
   * Never rejects. After a successful commit it does nothing: the blob is no longer the writer's to
   * delete. During a commit it waits for it, then discards the bytes if the commit failed.
   */
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
    this.#state = 'aborted';
    this.#abort = this.#discard();
    return this.#abort;
  }

  #peek(position: number, maxLength: number): Uint8Array | undefined {
    if (maxLength <= 0 || this.#state === 'aborted' || this.#state === 'failed') return undefined;
    return this.#staging.peekAt?.(position, maxLength);
  }

  /** The first seal's check; the digest is final once taken, so it runs once per writer. */
  #check(expected: ExpectedContent): Promise<BlobInfo> {
    const info: BlobInfo = { digest: this.#hash.digest('hex'), size: this.#accepted };
    try {
      checkExpectedContent(expected, info.size, info.digest);
    } catch (err) {
      return this.#fail(err);
    }
    return Promise.resolve(info);
  }

  /** A later seal's expectation, checked against what the first one found; a mismatch discards the bytes all the same. */
  #recheck(expected: ExpectedContent, info: BlobInfo): Promise<BlobInfo> {
    try {
      checkExpectedContent(expected, info.size, info.digest);
      return Promise.resolve(info);
    } catch (err) {
      return this.#fail(err);
    }
  }

  /** The bytes failed their check: nothing of them may remain, not even for readAt. Rejects with `err` once they are gone. */
  async #fail(err: unknown): Promise<never> {
    if (this.#state !== 'committed' && this.#state !== 'aborted' && this.#state !== 'failed') {
      this.#state = 'failed';
      this.#checkFailure = err instanceof Error ? err : new Error(String(err));
      await this.#discard();
    }
    throw err;
  }

  #discard(): Promise<void> {
    this.#discarded ??= this.#staging.discard();
    return this.#discarded;
  }

  async #finishCommit(expected: ExpectedContent): Promise<BlobInfo> {
    // Checked first: bytes that fail it are never published, whatever happens after.
    const info = await this.seal(expected);
    this.#state = 'committing';
    try {
      await this.#staging.drain();
      // A failed write (a full disk): the accepted bytes stay readable until abort(), so a shared
      // download can still hand them to the clients following it.
      const failure = this.#staging.failure;
      if (failure !== undefined) throw failure;
      await this.#staging.publish(info);
    } catch (err) {
      this.#state = 'stranded';
      throw toStoreError(err, 'cannot commit a blob');
    }
    this.#state = 'committed';
    return info;
  }
}
