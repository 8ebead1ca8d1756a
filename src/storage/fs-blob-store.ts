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
import type { BlobInfo, BlobReader, BlobStore, BlobWriter } from './blob-store.ts';
import { StagedBlobWriter } from './staged-blob-writer.ts';
import type { BlobStaging } from './staged-blob-writer.ts';
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

  async openReader(digest: string): Promise<BlobReader> {
    const path = this.#blobPath(digest);
    // The callback API: one thread-pool round trip per call, without FileHandle's promise and close bookkeeping.
    const fd = await new Promise<number>((resolve, reject) => {
      fs.open(path, 'r', (err, opened) => (err === null ? resolve(opened) : reject(toStoreError(err, `cannot open blob ${digest}`))));
    });
    return new FsBlobReader(fd, digest);
  }

  async createWriter(): Promise<BlobWriter> {
    return new StagedBlobWriter(await this.createStaging());
  }

  /** A temp file under this root that publishes into it: the local stage of a store layered on this one (S3). */
  async createStaging(): Promise<BlobStaging> {
    const tmpPath = `${this.#tmpDir}/${randomBytes(16).toString('hex')}`;
    let handle: FileHandle;
    try {
      handle = await open(tmpPath, 'wx+', 0o644);
    } catch (err) {
      throw toStoreError(err, 'cannot create a temporary blob file');
    }
    return new FsBlobStaging(handle, tmpPath, (digest) => this.#blobPath(digest), this.#shaDir);
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

/**
 * Bytes a writer may hold in memory, accepted but not yet in its file. Below this, write() resolves at
 * once and the bytes go to disk in the background, many chunks per writev; above it, write() waits.
 * This takes a thread-pool round trip per network chunk off the download's critical path.
 */
export const writeBehindBytes = 1024 * 1024;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * A write into `<root>/tmp/`, written behind: append() keeps the chunk (no copy) and returns while a
 * single background loop appends what has accumulated with positional writev. Accepted bytes are
 * readable at once (from memory until they reach the file). A disk failure is kept in `failure`, which
 * the writer reports through the write() or commit() after it; from then on the writer is broken, while
 * read still returns every accepted byte until discard() deletes the temp file.
 *
 * Lifecycle of the file handle: opened once by createWriter(); the write loop and read share it through
 * positional I/O, which never moves a shared file offset, so readers cannot disturb the writer. The seal
 * touches no disk (the writer hashed the bytes as they were accepted), so it answers at once while the
 * write-behind may still be landing; publish() comes after drain(), fdatasyncs, renames and fsyncs the
 * directory. A publish that fails keeps the temp file and the handle, so read still answers, until discard().
 * The handle is closed when a publish or a discard has completed AND no read is in flight: by them
 * itself when no read is running (before their promise settles), otherwise one event-loop turn after
 * the last read in flight ends. A writer never committed nor aborted keeps its handle open (and its
 * temp file until the next init()). After the handle is closed, read on a committed writer reads
 * the committed blob, opening it for each call: followers still far behind at that point do better
 * to switch to createReadStream.
 */
class FsBlobStaging implements BlobStaging {
  readonly #tmpPath: string;
  readonly #blobPath: (digest: string) => string;
  readonly #shaDir: string;
  #handle: FileHandle | undefined;
  // The first disk failure; the writer is broken from then on and reports it again.
  #failure: HoardError | undefined;
  // Bytes accepted: [0, #onDisk) are in the file, then #flushing, then #pending.
  #onDisk = 0;
  #flushing: Buffer[] = [];
  #flushingBytes = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  // The last chunk moved to the file, still readable by peekAt; dropped with the handle.
  #lastFlushed: { readonly buffer: Buffer; readonly start: number } | undefined;
  // The background loop moving #pending to the file; undefined when idle.
  #flushLoop: Promise<void> | undefined;
  // Appends waiting for the memory held to drop below writeBehindBytes.
  #waiters: Waiter[] = [];
  #readsInFlight = 0;
  #closeScheduled = false;
  // Publish or discard has completed: the handle is no longer needed once reads stop.
  #finished = false;
  #committed: BlobInfo | undefined;

  constructor(handle: FileHandle, tmpPath: string, blobPath: (digest: string) => string, shaDir: string) {
    this.#handle = handle;
    this.#tmpPath = tmpPath;
    this.#blobPath = blobPath;
    this.#shaDir = shaDir;
  }

  get failure(): HoardError | undefined {
    return this.#failure;
  }

  append(chunk: Uint8Array): Promise<void> | undefined {
    // Kept, not copied (the contract hands the chunk over): a copy per chunk doubled the garbage of a
    // cold download, and followers at the head read these very bytes through peekAt.
    this.#pending.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#pendingBytes += chunk.byteLength;
    this.#flushLoop ??= this.#runFlushLoop();
    if (this.#pendingBytes + this.#flushingBytes <= writeBehindBytes) return undefined;
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  peekAt(position: number, maxLength: number): Uint8Array | undefined {
    if (this.#handle === undefined) return undefined;
    if (position < this.#onDisk) {
      const last = this.#lastFlushed;
      if (last === undefined || position < last.start) return undefined;
      return last.buffer.subarray(position - last.start, Math.min(last.buffer.length, position - last.start + maxLength));
    }
    let offset = this.#onDisk;
    for (const list of [this.#flushing, this.#pending]) {
      for (const buffer of list) {
        const bufferEnd = offset + buffer.length;
        if (position < bufferEnd) return buffer.subarray(position - offset, Math.min(buffer.length, position - offset + maxLength));
        offset = bufferEnd;
      }
    }
    return undefined;
  }

  async read(position: number, n: number): Promise<Uint8Array> {
    const handle = this.#handle;
    if (handle === undefined) return this.#readCommitted(position, n);
    const out = Buffer.allocUnsafe(n);
    // The part still in memory is copied now, synchronously: the loop may move it to disk and drop it
    // at any await. The part before #onDisk is in the file for good.
    const onDisk = this.#onDisk;
    if (position + n > onDisk) this.#copyFromMemory(out, position, n, onDisk);
    const fromDisk = Math.min(n, onDisk - position);
    if (fromDisk <= 0) return out;
    this.#readsInFlight += 1;
    try {
      const got = await readInto(handle, out, fromDisk, position);
      if (got < fromDisk) throw new Error(`the temporary file ends at ${position + got}, before ${onDisk}`);
      return out;
    } catch (err) {
      throw toStoreError(err, 'cannot read a blob being written');
    } finally {
      this.#readsInFlight -= 1;
      if (this.#finished && this.#readsInFlight === 0) this.#closeAfterThisTurn();
    }
  }

  async drain(): Promise<void> {
    await this.#flushLoop;
  }

  async publish({ digest, size }: BlobInfo): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) throw new HoardError('HOARD_ERR_INTERNAL', 'blob writer file is closed');
    const finalPath = this.#blobPath(digest);
    if ((await sizeOf(finalPath)) === size) {
      // Same digest, same bytes: the stored copy serves, and this one is not needed.
      await unlink(this.#tmpPath).catch(noop);
    } else {
      // Missing, or present with another size (damaged by hand or by the disk): this copy takes its place.
      // fdatasync also flushes the file size; the timestamps it skips are not part of a blob.
      // (Should this fail after the rename, the blob is whole and verified, only not known durable:
      // an orphan that the reconciler reports and eviction removes.)
      await handle.datasync();
      await this.#renameIntoPlace(finalPath);
      await fsyncDir(finalPath.slice(0, finalPath.lastIndexOf('/')));
    }
    this.#committed = { digest, size };
    this.#finished = true;
    await this.#closeWhenIdle();
  }

  /** Appends still waiting for room resolve (their bytes are dropped); a temp file it cannot delete is removed by the next init(). */
  discard(): Promise<void> {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#wakeWaiters();
    return (async () => {
      await this.#flushLoop;
      await unlink(this.#tmpPath).catch(noop);
      this.#finished = true;
      await this.#closeWhenIdle();
    })();
  }

  async #runFlushLoop(): Promise<void> {
    // Never rejects: a failure is kept in #failure for write() and commit() to report.
    // Starting a microtask later lets append() store this promise before the loop can end, and gathers
    // the chunks written in this same turn into the first writev.
    await Promise.resolve();
    const handle = this.#handle;
    try {
      while (this.#pending.length > 0 && this.#failure === undefined && handle !== undefined) {
        this.#flushing = this.#pending;
        this.#flushingBytes = this.#pendingBytes;
        this.#pending = [];
        this.#pendingBytes = 0;
        try {
          await writeAll(handle, this.#flushing, this.#onDisk);
        } catch (err) {
          this.#failure = toStoreError(err, 'cannot write a temporary blob file');
          // The batch goes back in front of the rest, so read still finds every accepted byte.
          this.#pending = [...this.#flushing, ...this.#pending];
          this.#pendingBytes += this.#flushingBytes;
          break;
        }
        // Only now may read look for these bytes in the file.
        this.#onDisk += this.#flushingBytes;
        // The newest chunk on disk stays at hand for peekAt: a follower held one byte short of the
        // head (the last byte waits for the seal) resumes inside it when the next chunk comes.
        const newest = this.#flushing.at(-1);
        if (newest !== undefined) this.#lastFlushed = { buffer: newest, start: this.#onDisk - newest.length };
        this.#flushing = [];
        this.#flushingBytes = 0;
        this.#wakeWaiters();
      }
    } finally {
      this.#flushing = [];
      this.#flushingBytes = 0;
      this.#flushLoop = undefined;
      this.#wakeWaiters();
    }
  }

  #wakeWaiters(): void {
    if (this.#waiters.length === 0) return;
    const failure = this.#failure;
    if (failure === undefined && this.#pendingBytes + this.#flushingBytes > writeBehindBytes) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (failure === undefined) waiter.resolve();
      else waiter.reject(failure);
    }
  }

  #copyFromMemory(out: Buffer, position: number, n: number, onDisk: number): void {
    const end = position + n;
    let offset = onDisk;
    for (const buffer of [...this.#flushing, ...this.#pending]) {
      const bufferEnd = offset + buffer.length;
      if (bufferEnd > position && offset < end) {
        const from = Math.max(position, offset);
        const to = Math.min(end, bufferEnd);
        buffer.copy(out, from - position, from - offset, to - offset);
      }
      if (bufferEnd >= end) break;
      offset = bufferEnd;
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

  // A follower reading in a loop issues its next read within the same turn; waiting one turn keeps
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
    this.#lastFlushed = undefined;
    // The data is fsynced or deleted by now, so a failing close loses nothing.
    await handle.close().catch(noop);
  }

  async #readCommitted(position: number, length: number): Promise<Uint8Array> {
    const info = this.#committed;
    if (info === undefined) throw new HoardError('HOARD_ERR_INTERNAL', 'blob writer file is closed before commit');
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.#blobPath(info.digest), 'r');
      const out = Buffer.allocUnsafe(length);
      const got = await readInto(handle, out, length, position);
      return got === length ? out : out.subarray(0, got);
    } catch (err) {
      throw toStoreError(err, `cannot read blob ${info.digest}`);
    } finally {
      await handle?.close().catch(noop);
    }
  }
}

/** Appends `buffers` at `position` with writev, resuming after short writes. */
async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, position);
    if (bytesWritten === 0) throw new Error('write made no progress');
    position += bytesWritten;
    let skip = bytesWritten;
    let i = 0;
    while (i < rest.length && skip >= (rest[i]?.length ?? 0)) {
      skip -= rest[i]?.length ?? 0;
      i += 1;
    }
    rest = rest.slice(i);
    const first = rest[0];
    if (skip > 0 && first !== undefined) rest[0] = first.subarray(skip);
  }
}

/** Reads `length` bytes at `position` into the start of `out`; fewer only at the end of the file. */
async function readInto(handle: FileHandle, out: Buffer, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(out, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** An open blob file read by position; the caller owns the buffers. */
class FsBlobReader implements BlobReader {
  #fd: number;
  readonly #digest: string;

  constructor(fd: number, digest: string) {
    this.#fd = fd;
    this.#digest = digest;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const fd = this.#fd;
    if (fd < 0) return Promise.reject(new HoardError('HOARD_ERR_INTERNAL', `blob ${this.#digest} read after close`));
    return new Promise((resolve, reject) => {
      fs.read(fd, buffer, offset, length, position, (err, bytesRead) => {
        if (err === null) resolve(bytesRead);
        else reject(toStoreError(err, `cannot read blob ${this.#digest}`));
      });
    });
  }

  close(): Promise<void> {
    const fd = this.#fd;
    if (fd < 0) return Promise.resolve();
    this.#fd = -1;
    // A failing close loses nothing: the file was only read.
    return new Promise((resolve) => fs.close(fd, () => resolve()));
  }
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
