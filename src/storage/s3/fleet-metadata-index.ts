// A MetadataIndex wrapper for nodes sharing a bucket: publishes what this node refers to, and finds what other nodes stored.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ForwardingMetadataIndex } from '../forwarding-metadata-index.ts';
import type { MetadataIndex, ObjectEntry } from '../metadata-index.ts';
import type { S3Bucket } from './s3-bucket.ts';

export interface FleetMetadataIndexOptions {
  readonly bucket: S3Bucket;
  readonly nodeId: string;
  readonly logger?: Logger | undefined;
}

/** Attempts per publication before it is given up (and logged): the SDK retries each attempt too. */
const publishAttempts = 3;

/**
 * The node's own index stays the authority for what it serves (a local embedded database: every hit is
 * answered without a network round trip). Two things go to the bucket beside it, written behind:
 *  - `refs/<digest>/<node id>` while at least one of this node's entries names the digest: what the
 *    bucket's collector must not delete. A reference is one empty object per (blob, node), so "does
 *    anyone refer to this blob" is one LIST of one prefix, whatever the number of nodes or blobs.
 *  - `entries/<sha256 of key>`: the last entry stored for a cache key by any node, so another node that
 *    misses locally finds the object by its key (`find`), then its bytes by digest, without asking the
 *    upstream. Last writer wins; an entry whose blob is gone is ignored by whoever reads it.
 * Why not one shared database: each node would then pay a round trip per hit, and the fleet would have
 * a single point of failure that the object store already is not. Publishing costs one or two PUTs per
 * stored object, which the upload of the object dwarfs.
 */
export class FleetMetadataIndex extends ForwardingMetadataIndex {
  readonly #o: FleetMetadataIndexOptions;
  /** Per object name, the last publication queued: writes to one name land in the order they were made. */
  readonly #queue = new Map<string, Promise<void>>();

  constructor(inner: MetadataIndex, options: FleetMetadataIndexOptions) {
    super(inner);
    this.#o = options;
  }

  override put(entry: ObjectEntry): void {
    this.#put(entry, true);
  }

  #put(entry: ObjectEntry, share: boolean): void {
    const previous = this.inner.get(entry.key);
    const firstForDigest = this.inner.byDigest(entry.digest).every((e) => e.key === entry.key);
    this.inner.put(entry);
    const bucket = this.#o.bucket;
    if (firstForDigest) this.#publish(this.#refKey(entry.digest), () => bucket.put(this.#refKey(entry.digest), ''));
    if (share) {
      const shared = entryKeyOf(bucket, entry.key);
      this.#publish(shared, () => bucket.putJson(shared, entry));
    }
    if (previous !== undefined && previous.digest !== entry.digest) this.#dropRefIfLast(previous.digest);
  }

  override delete(key: string): void {
    const entry = this.inner.get(key);
    this.inner.delete(key);
    if (entry !== undefined) this.#dropRefIfLast(entry.digest);
  }

  /** Resolves when every publication queued so far has landed or been given up. */
  async flush(): Promise<void> {
    // Bounded: each pass waits for what was queued before it; new work during shutdown is rare.
    for (let pass = 0; pass < 10 && this.#queue.size > 0; pass++) await Promise.all([...this.#queue.values()]);
  }

  /**
   * The entry another node stored for `key`, when its blob is still in the bucket; undefined otherwise.
   * Taken into this node's index (and so referred to by this node) before it is returned.
   */
  async find(key: string, now: number): Promise<ObjectEntry | undefined> {
    const bucket = this.#o.bucket;
    let found: ObjectEntry | undefined;
    try {
      found = await bucket.getJson<ObjectEntry>(entryKeyOf(bucket, key));
    } catch (err) {
      this.#o.logger?.warn({ err, key }, 'cannot read a shared index entry');
      return undefined;
    }
    // A hash collision or a hand-written object: only an entry for this very key counts.
    if (found?.key !== key || typeof found.digest !== 'string') return undefined;
    const adopted: ObjectEntry = { ...found, lastAccessAt: now };
    // The reference first, then the check that the blob is still there: a sweep that condemned it sees the reference.
    this.#put(adopted, false);
    await this.#queue.get(this.#refKey(adopted.digest));
    const blob = await bucket.head(bucket.blobKey(adopted.digest)).catch(() => undefined);
    if (blob?.size !== adopted.size) {
      this.delete(key);
      return undefined;
    }
    return adopted;
  }

  #refKey(digest: string): string {
    return `${this.#o.bucket.refPrefix(digest)}${this.#o.nodeId}`;
  }

  #dropRefIfLast(digest: string): void {
    if (this.inner.byDigest(digest).length > 0) return;
    const key = this.#refKey(digest);
    this.#publish(key, () => this.#o.bucket.delete(key));
  }

  #publish(name: string, write: () => Promise<void>): void {
    const before = this.#queue.get(name) ?? Promise.resolve();
    const next = before.then(async () => {
      for (let attempt = 1; attempt <= publishAttempts; attempt++) {
        try {
          await write();
          return;
        } catch (err) {
          if (attempt === publishAttempts) this.#o.logger?.warn({ err, object: name }, 'cannot publish to the bucket');
          else await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        }
      }
    });
    this.#queue.set(name, next);
    void next.finally(() => {
      if (this.#queue.get(name) === next) this.#queue.delete(name);
    });
  }
}

function entryKeyOf(bucket: S3Bucket, key: string): string {
  return bucket.entryKey(createHash('sha256').update(key).digest('hex'));
}
