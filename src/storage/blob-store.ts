// The BlobStore seam: content-addressed bytes (SHA-256), written invisibly and committed only when whole.
import type { Readable } from 'node:stream';

export interface BlobInfo {
  /** Lower-case hex SHA-256 of the content. */
  readonly digest: string;
  readonly size: number;
}

export interface ExpectedContent {
  /** Lower-case hex SHA-256 the content must have; checked on commit when given. */
  readonly sha256?: string | undefined;
  /** Exact byte length the content must have; checked on commit when given. */
  readonly size?: number | undefined;
}

/**
 * One in-progress write. Bytes are invisible to `BlobStore` readers until `commit` succeeds.
 * While writing, `readAt` lets other readers follow the bytes already written (late joiners of a
 * shared download read the prefix from here, then wait for more).
 * Every writer must end in `commit` or `abort`: until then it holds resources (an open file). A sealed
 * writer's bytes are verified but not stored yet: a shared download may hand them to clients before the
 * (slower) durable commit.
 */
export interface BlobWriter {
  /** Bytes written so far. */
  readonly written: number;
  /**
   * Appends a chunk. The writer takes the chunk over: it may keep and hand out (through `peekAt`) the
   * very bytes until they are on disk, so the caller must never change them afterwards (network and
   * file-stream chunks are fresh buffers: nothing to do). Rejects with
   * HOARD_ERR_STORE_FULL on ENOSPC, HOARD_ERR_STORE_IO otherwise. A store may write behind (resolve
   * before the bytes reach the disk, waiting only when too much is buffered): a disk failure is then
   * reported by a later `write` or by `commit`, and the writer stays failed.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Reads up to `length` already-written bytes at `position` into a new buffer (short or empty when
   * fewer are written). Works until `abort` or a failed check; after `commit` it keeps working for
   * readers that started before.
   */
  readAt(position: number, length: number): Promise<Uint8Array>;
  /**
   * Bytes at `position` (at most `maxLength`) that the writer still holds in memory, handed out as they
   * are, without a copy: the start of what `readAt` would return, possibly shorter (up to the end of
   * one written chunk). Undefined when those bytes are only on disk (or nothing is there yet): use
   * `readAt`. Lets a client following a download at its head take the upstream chunks themselves.
   */
  peekAt?(position: number, maxLength: number): Uint8Array | undefined;
  /**
   * Ends the writing and checks size and digest against `expected`, without making anything durable
   * or visible: the step after which the bytes are known good. On a mismatch it deletes the temporary
   * data and rejects with HOARD_ERR_SIZE_MISMATCH or HOARD_ERR_DIGEST_MISMATCH (the writer is then
   * aborted). After it, `write` rejects and `readAt` keeps answering; a write failure not yet reported
   * is left to `commit`. A later call answers the same `BlobInfo`, checking its own `expected` against it.
   */
  seal(expected?: ExpectedContent): Promise<BlobInfo>;
  /**
   * Seals (when not done yet), then makes the blob durable (fsync) and visible (atomic rename). On a
   * mismatch it deletes the temporary data and rejects with HOARD_ERR_SIZE_MISMATCH or
   * HOARD_ERR_DIGEST_MISMATCH. Committing content already stored is a no-op that succeeds.
   * When a sealed writer fails to commit (HOARD_ERR_STORE_FULL, HOARD_ERR_STORE_IO: the disk, not the
   * bytes), nothing is visible, and `readAt` still answers every byte until `abort` deletes the temporary data.
   */
  commit(expected?: ExpectedContent): Promise<BlobInfo>;
  /** Deletes the temporary data. Safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
}

/**
 * Positional reads of one committed blob, for a sender that reads into buffers of its own and reuses
 * them (a stream hands out a new buffer per chunk). Holds an open file until `close`.
 */
export interface BlobReader {
  /**
   * Reads up to `length` bytes at `position` into `buffer` from `offset`; resolves with the count,
   * which is short only at the end of the blob. Rejects with HOARD_ERR_STORE_IO.
   */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Releases the file; never rejects, and safe to call twice. */
  close(): Promise<void>;
}

export interface BlobStore {
  /** Creates what is missing and deletes temporary files left by a crash. */
  init(): Promise<void>;
  stat(digest: string): Promise<BlobInfo | undefined>;
  /**
   * A stream of bytes [start, endInclusive] of a committed blob (by default from its first byte to its
   * last). A missing blob (or one deleted before the stream opens it), or an `endInclusive` past the
   * blob's last byte, errors the stream with HOARD_ERR_STORE_IO: a stream never ends short silently,
   * so callers clamp ranges to the size they know. `start > endInclusive` gives an empty stream.
   */
  createReadStream(digest: string, start?: number, endInclusive?: number): Readable;
  /**
   * Opens a committed blob for positional reads; rejects with HOARD_ERR_STORE_IO when it is missing.
   * Optional: without it, readers use `createReadStream`.
   */
  readonly openReader?: ((digest: string) => Promise<BlobReader>) | undefined;
  createWriter(): Promise<BlobWriter>;
  /** Removes a committed blob; no error when it is already gone. */
  delete(digest: string): Promise<void>;
  /** Every committed blob. */
  list(): AsyncIterable<BlobInfo>;
  /** Re-hashes a committed blob; true when its bytes still match its digest (false when it is missing). */
  verify(digest: string): Promise<boolean>;
  /**
   * Moves a committed blob out of the store, kept aside for inspection (`hoard verify` uses it for
   * blobs that fail `verify`); no error when it is already gone. Optional: a store may not support it.
   */
  quarantine?(digest: string): Promise<void>;
}
