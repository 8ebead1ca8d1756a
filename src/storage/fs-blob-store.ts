// FsBlobStore: the BlobStore on a local filesystem, content-addressed by SHA-256.
/*
 * On-disk layout, blob layout version 1. Everything lives under the data directory root:
 *
 *   <root>/blobs/VERSION                   "1\n". init() writes it when missing and refuses any other value,
 *                                          so an older hoard never misreads a newer layout.
 *   <root>/blobs/sha256/<xx>/<digest>      One committed blob. <digest> is the lower-case hex SHA-256 of
 *                                          its bytes, <xx> the digest's first two hex digits (256 shards
 *                                          keep directories small). The file size is the blob size.
 *   <root>/tmp/<random hex>                A write in progress. init() deletes everything here: after a
 *                                          restart nothing can finish these writes.
 *   <root>/quarantine/<digest>             Blobs moved aside by quarantine() (they failed verify()).
 *
 * A file reaches blobs/ only by rename(2) from tmp/, which is atomic because both sit on one filesystem,
 * and only after its size and SHA-256 were checked and its data fsynced; the shard directory is fsynced
 * after the rename. So a file under blobs/sha256/ always holds the whole bytes its name promises, unless
 * the disk itself rots, which verify() detects. A crash can leave only temp files (deleted by init()) or
 * blobs no index entry refers to (reported by reconcileStore()).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { HoardError } from '../errors.ts';
import { assertBlobDigest, isBlobDigest } from './blob-digest.ts';
import type { BlobInfo, BlobStore, BlobWriter, ExpectedContent } from './blob-store.ts';
import { isNotFound, toStoreError } from './store-errors.ts';

const layoutVersion = '1';

/**
 * Read buffer of a blob stream. Large reads keep syscalls and stream bookkeeping per byte low; the
 * readable side buffers at most this much per client, which bounds memory under many slow clients.
 */
export const blobReadChunkBytes = 512 * 1024;

// A stream that does not know where the blob ends starts small, so small files (Release, InRelease)
// do not allocate a large buffer each; it grows to full size from the second read.
const firstReadBytes = 64 * 1024;

// How many stat calls list() keeps in flight within one shard.
const listStatConcurrency = 64;

const shardNames = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const shardPattern = /^[0-9a-f]{2}$/;

export class FsBlobStore implements BlobStore {
  readonly #root: string;
  readonly #blobsDir: string;
  readonly #shaDir: string;
  readonly #tmpDir: string;
  readonly #quarantineDir: string;

  constructor(root: string) {
    this.#root = resolve(root);
    this.#blobsDir = `${this.#root}/blobs`;
    this.#shaDir = `${this.#blobsDir}/sha256`;
    this.#tmpDir = `${this.#root}/tmp`;
    this.#quarantineDir = `${this.#root}/quarantine`;
  }

  /** Must run before any other method, and only while no writer of this root is open (it empties tmp/). */
  async init(): Promise<void> {
    try {
      for (const dir of [this.#shaDir, this.#tmpDir, this.#quarantineDir]) await mkdir(dir, { recursive: true });
      await this.#checkLayoutVersion();
      const created = await Promise.all(shardNames.map((shard) => mkdir(`${this.#shaDir}/${shard}`, { recursive: true })));
      // New shard directories must survive a power cut before any blob is renamed into them.
      if (created.some((path) => path !== undefined)) {
        for (const dir of [this.#shaDir, this.#blobsDir, this.#root]) await fsyncDir(dir);
      }
      const leftovers = await readdir(this.#tmpDir);
      await Promise.all(leftovers.map((name) => rm(`${this.#tmpDir}/${name}`, { recursive: true, force: true })));
    } catch (err) {
      throw toStoreError(err, `cannot initialise the blob store at ${this.#root}`);
    }
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    const path = this.#blobPath(digest);
    try {
      const stats = await stat(path);
      return { digest, size: stats.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw toStoreError(err, `cannot stat blob ${digest}`);
    }
  }

  /**
   * Throws HOARD_ERR_INTERNAL synchronously for a malformed digest; every other failure errors the
   * stream. Pass `endInclusive` whenever the size is known (the index has it): the stream then sizes
   * its buffers to the range and stops without a read to find the end of the file.
   */
  createReadStream(digest: string, start = 0, endInclusive?: number): Readable {
    return new BlobReadStream(this.#blobPath(digest), digest, start, endInclusive);
  }

  async createWriter(): Promise<BlobWriter> {
    const tmpPath = `${this.#tmpDir}/${randomBytes(16).toString('hex')}`;
    let handle: FileHandle;
    try {
      handle = await open(tmpPath, 'wx+', 0o644);
    } catch (err) {
      throw toStoreError(err, 'cannot create a temporary blob file');
    }
    return new FsBlobWriter(handle, tmpPath, (digest) => this.#blobPath(digest), this.#shaDir);
  }

  async delete(digest: string): Promise<void> {
    const path = this.#blobPath(digest);
    try {
      await unlink(path);
    } catch (err) {
      if (!isNotFound(err)) throw toStoreError(err, `cannot delete blob ${digest}`);
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    let shards: string[];
    try {
      shards = await readdir(this.#shaDir);
    } catch (err) {
      if (isNotFound(err)) return;
      throw toStoreError(err, 'cannot list the blob store');
    }
    for (const shard of shards.sort()) {
      if (!shardPattern.test(shard)) continue;
      let names: string[];
      try {
        names = await readdir(`${this.#shaDir}/${shard}`);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw toStoreError(err, `cannot list blob shard ${shard}`);
      }
      // Anything else in a shard (an editor's backup, a stray file) is not a blob.
      const digests = names.filter((name) => name.startsWith(shard) && isBlobDigest(name)).sort();
      for (let i = 0; i < digests.length; i += listStatConcurrency) {
        const batch = digests.slice(i, i + listStatConcurrency);
        const infos = await Promise.all(batch.map((digest) => this.#statFile(digest)));
        for (const info of infos) if (info !== undefined) yield info;
      }
    }
  }

  async verify(digest: string): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of this.createReadStream(digest)) hash.update(chunk as Buffer);
    } catch (err) {
      if (err instanceof HoardError && isNotFound(err.cause)) return false;
      throw err;
    }
    return hash.digest('hex') === digest;
  }

  /** Moves the blob to `<root>/quarantine/<digest>`, replacing an earlier quarantined copy. */
  async quarantine(digest: string): Promise<void> {
    const path = this.#blobPath(digest);
    try {
      await rename(path, `${this.#quarantineDir}/${digest}`);
    } catch (err) {
      if (!isNotFound(err)) throw toStoreError(err, `cannot quarantine blob ${digest}`);
    }
  }

  #blobPath(digest: string): string {
    assertBlobDigest(digest);
    return `${this.#shaDir}/${digest.slice(0, 2)}/${digest}`;
  }

  async #statFile(digest: string): Promise<BlobInfo | undefined> {
    try {
      const stats = await stat(this.#blobPath(digest));
      return stats.isFile() ? { digest, size: stats.size } : undefined;
    } catch (err) {
      // Deleted between readdir and stat: it is simply no longer listed.
      if (isNotFound(err)) return undefined;
      throw toStoreError(err, `cannot stat blob ${digest}`);
    }
  }

  async #checkLayoutVersion(): Promise<void> {
    const versionPath = `${this.#blobsDir}/VERSION`;
    let found: string;
    try {
      found = (await readFile(versionPath, 'utf8')).trim();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await writeFile(versionPath, `${layoutVersion}\n`, { flush: true });
      return;
    }
    if (found !== layoutVersion) {
      throw new HoardError(
        'HOARD_ERR_STORE_IO',
        `the blob store at ${this.#root} has layout version ${JSON.stringify(found)}; this hoard reads version ${layoutVersion}`,
      );
    }
  }
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const noop = (): void => {};

type WriterState = 'writing' | 'committing' | 'committed' | 'aborted' | 'failed';

/**
 * A write into `<root>/tmp/`. Lifecycle of its file handle: opened once by createWriter(); writes
 * (positional, serialized through one queue) and readAt (positional, concurrent) share it.
 * Positional I/O never moves a shared file offset, so readers cannot disturb the writer.
 * The handle is closed when commit or abort has completed AND no readAt is in flight: by commit or
 * abort itself when no read is running (before its promise settles), otherwise one event-loop turn
 * after the last read in flight ends. A writer never committed nor aborted keeps its handle open
 * (and its temp file until the next init()).
 * After the handle is closed, readAt on a committed writer reads the committed blob, opening it for
 * each call: followers still far behind at that point do better to switch to createReadStream.
 */
class FsBlobWriter implements BlobWriter {
  readonly #tmpPath: string;
  readonly #blobPath: (digest: string) => string;
  readonly #shaDir: string;
  readonly #hash = createHash('sha256');
  #handle: FileHandle | undefined;
  #written = 0;
  #state: WriterState = 'writing';
  // The first write failure; the writer is broken from then on and reports it again.
  #failure: HoardError | undefined;
  // Serializes writes, commit and abort, so commit sees every byte and the handle is never closed mid-write.
  #tail: Promise<void> = Promise.resolve();
  #readsInFlight = 0;
  #closeScheduled = false;
  // Commit or abort has completed: the handle is no longer needed once reads stop.
  #finished = false;
  #committed: BlobInfo | undefined;
  #commit: Promise<BlobInfo> | undefined;
  #abort: Promise<void> | undefined;

  constructor(handle: FileHandle, tmpPath: string, blobPath: (digest: string) => string, shaDir: string) {
    this.#handle = handle;
    this.#tmpPath = tmpPath;
    this.#blobPath = blobPath;
    this.#shaDir = shaDir;
  }

  get written(): number {
    return this.#written;
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'writing') {
      return Promise.reject(new HoardError('HOARD_ERR_INTERNAL', `blob write after ${this.#state === 'aborted' ? 'abort' : 'commit'}`));
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (chunk.byteLength === 0) return Promise.resolve();
    // Hashing now, in call order, overlaps it with the file write still running for the previous chunk.
    this.#hash.update(chunk);
    return this.#enqueue(() => this.#writeChunk(chunk));
  }

  async readAt(position: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new HoardError('HOARD_ERR_INTERNAL', `readAt(${position}, ${length}): position and length must be non-negative integers`);
    }
    if (this.#state === 'aborted' || this.#state === 'failed') {
      throw new HoardError('HOARD_ERR_STORE_IO', 'the blob write was abandoned; its bytes are gone');
    }
    const n = Math.min(length, this.#written - position);
    if (n <= 0) return new Uint8Array(0);
    const handle = this.#handle;
    if (handle === undefined) return this.#readCommitted(position, n);
    this.#readsInFlight += 1;
    try {
      return await readFully(handle, position, n);
    } catch (err) {
      throw toStoreError(err, 'cannot read a blob being written');
    } finally {
      this.#readsInFlight -= 1;
      if (this.#finished && this.#readsInFlight === 0) this.#closeAfterThisTurn();
    }
  }

  commit(expected: ExpectedContent = {}): Promise<BlobInfo> {
    if (this.#commit !== undefined) return this.#commit;
    if (this.#state !== 'writing') return Promise.reject(new HoardError('HOARD_ERR_INTERNAL', 'blob commit after abort'));
    this.#state = 'committing';
    this.#commit = this.#enqueue(() => this.#finishCommit(expected));
    return this.#commit;
  }

  /**
   * Never rejects: a temp file it cannot delete is removed by the next init(). After a successful
   * commit it does nothing (the blob is no longer the writer's to delete).
   */
  abort(): Promise<void> {
    if (this.#abort !== undefined) return this.#abort;
    if (this.#commit !== undefined) return this.#commit.then(noop, noop);
    this.#state = 'aborted';
    this.#abort = this.#enqueue(async () => {
      await unlink(this.#tmpPath).catch(noop);
      this.#finished = true;
      await this.#closeWhenIdle();
    });
    return this.#abort;
  }

  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(op);
    this.#tail = result.then(noop, noop);
    return result;
  }

  async #writeChunk(chunk: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const handle = this.#handle;
    if (handle === undefined) throw new HoardError('HOARD_ERR_INTERNAL', 'blob writer file is closed');
    try {
      let offset = 0;
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset, this.#written + offset);
        if (bytesWritten === 0) throw new Error('write made no progress');
        offset += bytesWritten;
      }
    } catch (err) {
      this.#failure = toStoreError(err, 'cannot write a temporary blob file');
      throw this.#failure;
    }
    // Only now may readers see these bytes: they are in the file.
    this.#written += chunk.byteLength;
  }

  async #finishCommit(expected: ExpectedContent): Promise<BlobInfo> {
    try {
      if (this.#failure !== undefined) throw this.#failure;
      const handle = this.#handle;
      if (handle === undefined) throw new HoardError('HOARD_ERR_INTERNAL', 'blob writer file is closed');
      const size = this.#written;
      const digest = this.#hash.digest('hex');
      checkExpected(expected, size, digest);
      const finalPath = this.#blobPath(digest);
      if (await fileExists(finalPath)) {
        // Same digest, same bytes: the stored copy serves, and this one is not needed.
        await unlink(this.#tmpPath).catch(noop);
      } else {
        // fdatasync also flushes the file size; the timestamps it skips are not part of a blob.
        await handle.datasync();
        await this.#renameIntoPlace(finalPath);
        await fsyncDir(finalPath.slice(0, finalPath.lastIndexOf('/')));
      }
      this.#committed = { digest, size };
      this.#state = 'committed';
      return this.#committed;
    } catch (err) {
      this.#state = 'failed';
      await unlink(this.#tmpPath).catch(noop);
      throw toStoreError(err, 'cannot commit a blob');
    } finally {
      this.#finished = true;
      await this.#closeWhenIdle();
    }
  }

  async #renameIntoPlace(finalPath: string): Promise<void> {
    try {
      await rename(this.#tmpPath, finalPath);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // init() creates every shard, but one may have been removed by hand since; recreate it durably.
      const created = await mkdir(finalPath.slice(0, finalPath.lastIndexOf('/')), { recursive: true });
      if (created === undefined) throw err;
      await fsyncDir(this.#shaDir);
      await rename(this.#tmpPath, finalPath);
    }
  }

  // A follower reading in a loop issues its next readAt within the same turn; waiting one turn keeps
  // it on this handle instead of reopening the committed blob for every call.
  #closeAfterThisTurn(): void {
    if (this.#closeScheduled) return;
    this.#closeScheduled = true;
    setImmediate(() => {
      this.#closeScheduled = false;
      void this.#closeWhenIdle();
    });
  }

  async #closeWhenIdle(): Promise<void> {
    if (!this.#finished || this.#readsInFlight > 0 || this.#handle === undefined) return;
    const handle = this.#handle;
    this.#handle = undefined;
    // The data is fsynced or deleted by now, so a failing close loses nothing.
    await handle.close().catch(noop);
  }

  async #readCommitted(position: number, length: number): Promise<Uint8Array> {
    const info = this.#committed;
    if (info === undefined) throw new HoardError('HOARD_ERR_INTERNAL', 'blob writer file is closed before commit');
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.#blobPath(info.digest), 'r');
      return await readFully(handle, position, length);
    } catch (err) {
      throw toStoreError(err, `cannot read blob ${info.digest}`);
    } finally {
      await handle?.close().catch(noop);
    }
  }
}

function checkExpected(expected: ExpectedContent, size: number, digest: string): void {
  if (expected.size !== undefined && expected.size !== size) {
    const message = `the body has ${size} bytes, expected ${expected.size}`;
    throw new HoardError('HOARD_ERR_SIZE_MISMATCH', message, { detail: message });
  }
  if (expected.sha256 !== undefined) {
    assertBlobDigest(expected.sha256);
    if (expected.sha256 !== digest) {
      const message = `the body has SHA-256 ${digest}, expected ${expected.sha256}`;
      throw new HoardError('HOARD_ERR_DIGEST_MISMATCH', message, { detail: message });
    }
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

async function readFully(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buffer, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buffer : buffer.subarray(0, got);
}

/**
 * Positional reads of one blob into large buffers. Written on the callback fs API rather than
 * fs.createReadStream so that every failure surfaces as a HoardError and a short file is an error.
 */
class BlobReadStream extends Readable {
  readonly #path: string;
  readonly #digest: string;
  readonly #end: number | undefined;
  #position: number;
  #fd = -1;
  #reading = false;
  #firstRead = true;
  #pendingDestroy: (() => void) | undefined;

  constructor(path: string, digest: string, start: number, endInclusive: number | undefined) {
    super({ highWaterMark: blobReadChunkBytes });
    if (!Number.isSafeInteger(start) || start < 0 || (endInclusive !== undefined && !Number.isSafeInteger(endInclusive))) {
      throw new HoardError('HOARD_ERR_INTERNAL', `blob range ${start}-${endInclusive} is not a pair of non-negative integers`);
    }
    this.#path = path;
    this.#digest = digest;
    this.#position = start;
    this.#end = endInclusive;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    fs.open(this.#path, 'r', (err, fd) => {
      if (err !== null) {
        callback(toStoreError(err, `cannot open blob ${this.#digest}`));
        return;
      }
      this.#fd = fd;
      callback();
    });
  }

  override _read(): void {
    const remaining = this.#end === undefined ? Infinity : this.#end - this.#position + 1;
    if (remaining <= 0) {
      this.push(null);
      return;
    }
    const size = Math.min(remaining, this.#end === undefined && this.#firstRead ? firstReadBytes : blobReadChunkBytes);
    this.#firstRead = false;
    const buffer = Buffer.allocUnsafeSlow(size);
    this.#reading = true;
    fs.read(this.#fd, buffer, 0, size, this.#position, (err, bytesRead) => {
      this.#reading = false;
      if (this.#pendingDestroy !== undefined) {
        this.#pendingDestroy();
        return;
      }
      if (err !== null) {
        this.destroy(toStoreError(err, `cannot read blob ${this.#digest}`));
        return;
      }
      if (bytesRead === 0) {
        if (this.#end === undefined) this.push(null);
        else this.destroy(new HoardError('HOARD_ERR_STORE_IO', `blob ${this.#digest} ends at byte ${this.#position}, before the requested ${this.#end}`));
        return;
      }
      this.#position += bytesRead;
      this.push(bytesRead === size ? buffer : buffer.subarray(0, bytesRead));
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const close = (): void => {
      this.#pendingDestroy = undefined;
      if (this.#fd < 0) {
        callback(error);
        return;
      }
      const fd = this.#fd;
      this.#fd = -1;
      fs.close(fd, () => callback(error));
    };
    // Closing under a running read could hand its fd number to another open() before the read lands.
    if (this.#reading) this.#pendingDestroy = close;
    else close();
  }
}
