// A BlobStore on an S3 bucket with local disk as a bounded read-through first level: staged locally, verified, uploaded, then visible.
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { HoardError } from '../../errors.ts';
import { assertBlobDigest } from '../blob-digest.ts';
import type { BlobInfo, BlobReader, BlobStore, BlobWriter } from '../blob-store.ts';
import type { FsBlobStore } from '../fs-blob-store.ts';
import { StagedBlobWriter, type BlobStaging } from '../staged-blob-writer.ts';
import { BucketBlobReader } from './bucket-blob-reader.ts';
import type { BucketCollector } from './bucket-collector.ts';
import { LocalCopies } from './local-copies.ts';
import { bucketError, type S3Bucket } from './s3-bucket.ts';

export interface S3BlobStoreOptions {
  readonly bucket: S3Bucket;
  /** The first level: every blob passes through it (staged there, read through it). */
  readonly local: FsBlobStore;
  /** Bytes the first level may keep; the least recently used copies go beyond it. Absent: no bound. */
  readonly localMaxBytes?: number | undefined;
  /** Deletes from the bucket on behalf of `delete` (condemn, then sweep). */
  readonly collector: BucketCollector;
  /** Blobs larger than this are uploaded in parts of this size (S3's minimum is 5 MiB). */
  readonly partSize: number;
  /** Sweep at once after a delete (a grace period of 0: tests, single-node set-ups). */
  readonly sweepOnDelete?: boolean | undefined;
  readonly logger?: Logger | undefined;
}

/** Parts of one multipart upload sent at once. */
const uploadQueueSize = 4;
/** Read size when feeding an upload from the local stage. */
const uploadReadBytes = 1024 * 1024;

/**
 * The bucket is the store; the local disk is a cache of it. A write is a local stage (the fs store's own
 * temp file, so followers of a download read it as they do on a plain disk store); its commit checks size
 * and digest (the shared writer), uploads the verified bytes (multipart above `partSize`), and only then
 * renames the local copy into place: nothing is visible, here or to another node, before the bucket has
 * it. Reads go to the local copy; a missing one is fetched from the bucket into the local level (checked
 * against its digest on the way), and positional readers (what the server sends with) read the bucket
 * meanwhile. `list` names the local copies only: the bucket is never listed at start-up.
 */
export class S3BlobStore implements BlobStore {
  readonly #o: S3BlobStoreOptions;
  readonly #copies: LocalCopies;
  /** Fetches from the bucket into the local level in progress, one per digest. */
  readonly #filling = new Map<string, Promise<void>>();

  constructor(options: S3BlobStoreOptions) {
    this.#o = options;
    this.#copies = new LocalCopies(options.localMaxBytes);
  }

  async init(): Promise<void> {
    await this.#o.local.init();
    for await (const blob of this.#o.local.list()) this.#copies.add(blob.digest, blob.size);
    await this.#evictLocal();
    // One small LIST: the bucket answers and the credentials work, before the first client waits on it.
    await this.#o.bucket.list(this.#o.bucket.condemnedPrefix(), 1);
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    assertBlobDigest(digest);
    const local = await this.#o.local.stat(digest);
    if (local !== undefined) return local;
    const remote = await this.#o.bucket.head(this.#o.bucket.blobKey(digest));
    return remote === undefined ? undefined : { digest, size: remote.size };
  }

  createReadStream(digest: string, start = 0, endInclusive?: number): Readable {
    assertBlobDigest(digest);
    if (this.#copies.has(digest)) {
      this.#copies.touch(digest);
      return this.#o.local.createReadStream(digest, start, endInclusive);
    }
    const out = new PassThrough();
    this.#ensureLocal(digest).then(
      () => {
        pipeline(this.#o.local.createReadStream(digest, start, endInclusive), out).catch((err: unknown) => out.destroy(err as Error));
      },
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  /**
   * The local copy when there is one. Otherwise the bucket's bytes, straight away (the first byte does not
   * wait for the whole blob), while the local copy is filled in the background for the next reader.
   */
  async openReader(digest: string): Promise<BlobReader> {
    assertBlobDigest(digest);
    if (this.#copies.has(digest)) {
      this.#copies.touch(digest);
      return this.#o.local.openReader(digest);
    }
    const key = this.#o.bucket.blobKey(digest);
    const remote = await this.#o.bucket.head(key);
    if (remote === undefined) throw new HoardError('HOARD_ERR_STORE_IO', `blob ${digest} is not in the store`);
    this.#ensureLocal(digest).catch((err: unknown) => this.#o.logger?.warn({ err, digest }, 'cannot copy a blob from the bucket to the local disk'));
    return new BucketBlobReader(this.#o.bucket, key, remote.size);
  }

  async createWriter(): Promise<BlobWriter> {
    return new StagedBlobWriter(new S3BlobStaging(await this.#o.local.createStaging(), this.#o.bucket, this.#o.partSize, (info) => this.#landed(info)));
  }

  /** Drops the local copy and condemns the bucket's: the collector deletes it once no node has referred to it for the grace period. */
  async delete(digest: string): Promise<void> {
    assertBlobDigest(digest);
    await this.#o.local.delete(digest);
    this.#copies.remove(digest);
    await this.#o.collector.condemn(digest);
    if (this.#o.sweepOnDelete === true) await this.#o.collector.sweep();
  }

  /** The local copies (the bucket is not listed: other nodes' blobs are not this node's to judge). */
  list(): AsyncIterable<BlobInfo> {
    return this.#o.local.list();
  }

  /** The local copy when there is one (that is what this node serves), else the bucket's bytes. */
  async verify(digest: string): Promise<boolean> {
    assertBlobDigest(digest);
    if ((await this.#o.local.stat(digest)) !== undefined) return this.#o.local.verify(digest);
    const body = await this.#o.bucket.get(this.#o.bucket.blobKey(digest));
    if (body === undefined) return false;
    const hash = createHash('sha256');
    try {
      for await (const chunk of body) hash.update(chunk as Buffer);
    } catch (err) {
      throw bucketError(err, `cannot read blob ${digest}`);
    }
    return hash.digest('hex') === digest;
  }

  /**
   * The disk under the local level filled up before its bound: drops `share` of the local copies, least
   * recently used first. They stay in the bucket; nothing is condemned (that is what the janitor's relief
   * would do on a disk store, and here it would delete the fleet's objects for one node's full disk).
   */
  async dropLocalCopies(share: number): Promise<number> {
    let freed = 0;
    for (const digest of this.#copies.oldest(share)) {
      const info = await this.#o.local.stat(digest).catch(() => undefined);
      await this.#o.local.delete(digest).catch((err: unknown) => this.#o.logger?.warn({ err, digest }, 'cannot drop a local copy'));
      freed += info?.size ?? 0;
    }
    return freed;
  }

  /** For tests and the dashboard: bytes the local level holds. */
  get localBytes(): number {
    return this.#copies.bytes;
  }

  async #landed(info: BlobInfo): Promise<void> {
    this.#copies.add(info.digest, info.size);
    await this.#evictLocal();
  }

  async #evictLocal(): Promise<void> {
    for (const digest of this.#copies.over()) {
      await this.#o.local.delete(digest).catch((err: unknown) => this.#o.logger?.warn({ err, digest }, 'cannot drop a local copy'));
    }
  }

  /** Brings a blob from the bucket into the local level, checked against its digest; one fetch per digest at a time. */
  #ensureLocal(digest: string): Promise<void> {
    if (this.#copies.has(digest)) {
      this.#copies.touch(digest);
      return Promise.resolve();
    }
    let filling = this.#filling.get(digest);
    if (filling === undefined) {
      filling = this.#fill(digest).finally(() => this.#filling.delete(digest));
      this.#filling.set(digest, filling);
    }
    return filling;
  }

  async #fill(digest: string): Promise<void> {
    // Another path may have stored it locally meanwhile (a download of the same bytes).
    const already = await this.#o.local.stat(digest);
    if (already !== undefined) {
      this.#copies.add(digest, already.size);
      return;
    }
    const body = await this.#o.bucket.get(this.#o.bucket.blobKey(digest));
    if (body === undefined) throw new HoardError('HOARD_ERR_STORE_IO', `blob ${digest} is not in the store`);
    const writer = await this.#o.local.createWriter();
    try {
      for await (const chunk of body) await writer.write(chunk as Uint8Array);
      const info = await writer.commit({ sha256: digest });
      await this.#landed(info);
    } catch (err) {
      await writer.abort();
      throw err instanceof HoardError ? err : bucketError(err, `cannot fetch blob ${digest} from the bucket`);
    }
  }
}

/**
 * The local stage of one write, publishing to the bucket before the local copy: every call but
 * `publish` is the fs staging's own.
 */
class S3BlobStaging implements BlobStaging {
  readonly peekAt?: (position: number, maxLength: number) => Uint8Array | undefined;
  readonly #inner: BlobStaging;
  readonly #bucket: S3Bucket;
  readonly #partSize: number;
  readonly #landed: (info: BlobInfo) => Promise<void>;

  constructor(inner: BlobStaging, bucket: S3Bucket, partSize: number, landed: (info: BlobInfo) => Promise<void>) {
    this.#inner = inner;
    this.#bucket = bucket;
    this.#partSize = partSize;
    this.#landed = landed;
    if (inner.peekAt !== undefined) this.peekAt = (position, maxLength) => inner.peekAt?.(position, maxLength);
  }

  get failure(): HoardError | undefined {
    return this.#inner.failure;
  }

  get landed(): number | undefined {
    return this.#inner.landed;
  }

  append(chunk: Uint8Array): Promise<void> | undefined {
    return this.#inner.append(chunk);
  }

  read(position: number, length: number): Promise<Uint8Array> {
    return this.#inner.read(position, length);
  }

  whenLanded(): Promise<void> {
    return this.#inner.whenLanded?.() ?? Promise.resolve();
  }

  drain(): Promise<void> {
    return this.#inner.drain();
  }

  async publish(info: BlobInfo): Promise<void> {
    const key = this.#bucket.blobKey(info.digest);
    // Content-addressed: the same name holds the same bytes, so an upload of bytes already there is skipped.
    const there = await this.#bucket.head(key);
    if (there?.size !== info.size) {
      const upload = new Upload({
        client: this.#bucket.client,
        params: { Bucket: this.#bucket.name, Key: key, Body: this.#body(info.size), ContentLength: info.size, ContentType: 'application/octet-stream' },
        partSize: this.#partSize,
        queueSize: uploadQueueSize,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (err) {
        throw bucketError(err, `cannot upload blob ${info.digest}`);
      }
    }
    await this.#inner.publish(info);
    await this.#landed(info);
  }

  discard(): Promise<void> {
    return this.#inner.discard();
  }

  /** The staged bytes as a stream, read from the local stage (bounded memory whatever the size). */
  #body(size: number): Readable | Uint8Array {
    if (size === 0) return new Uint8Array(0);
    const inner = this.#inner;
    let position = 0;
    return new Readable({
      read() {
        if (position >= size) {
          this.push(null);
          return;
        }
        const n = Math.min(uploadReadBytes, size - position);
        inner.read(position, n).then(
          (bytes) => {
            position += bytes.byteLength;
            this.push(bytes);
          },
          (err: unknown) => this.destroy(err as Error),
        );
      },
    });
  }
}
