// A lease object in the bucket: at most one node deletes blobs at a time, as far as the object store lets anyone know.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import type { S3Bucket } from './s3-bucket.ts';

interface LeaseRecord {
  readonly holder: string;
  readonly token: string;
  /** Epoch ms (the holder's clock). */
  readonly expiresAt: number;
}

export interface BucketLeaseOptions {
  readonly bucket: S3Bucket;
  readonly nodeId: string;
  readonly clock: Clock;
  /** How long a taken lease lasts without renewal. */
  readonly ttlMs: number;
  /**
   * Wait between writing the lease and reading it back. Two nodes writing at once both read back the
   * last write (S3 and Swift keep the last writer), so only one finds its own token.
   */
  readonly settleMs: number;
}

/**
 * What the store guarantees, and what that makes of this lease: S3 (since 2020) and a single-region Swift
 * cluster read back a PUT at once, and concurrent PUTs of one name end with the last one (by the
 * proxy's timestamp). There is no compare-and-swap in Swift's S3 API (no `If-None-Match` on PUT: it
 * answers NotImplemented), so the lease is write, wait, read back: the node whose token survives holds
 * it. Two nodes can still both believe they hold it if a PUT lands after the other's read-back (a
 * settle shorter than the store's write skew) or if clocks disagree by more than the TTL. Deletion is
 * safe without the lease anyway (a blob is deleted only once it has been unreferenced for a whole grace
 * period, checked again just before); the lease keeps nodes from doing the same work twice.
 */
export class BucketLease {
  readonly #o: BucketLeaseOptions;
  #held: LeaseRecord | undefined;

  constructor(options: BucketLeaseOptions) {
    this.#o = options;
  }

  /** True when this node now holds the lease (taken or renewed) for another full TTL. */
  async acquire(): Promise<boolean> {
    const key = this.#o.bucket.leaseKey();
    const now = this.#o.clock.now();
    const current = await this.#o.bucket.getJson<LeaseRecord>(key);
    if (current !== undefined && current.holder !== this.#o.nodeId && current.expiresAt > now) return false;
    const mine: LeaseRecord = { holder: this.#o.nodeId, token: randomBytes(12).toString('hex'), expiresAt: now + this.#o.ttlMs };
    await this.#o.bucket.putJson(key, mine);
    await new Promise((resolve) => setTimeout(resolve, this.#o.settleMs));
    const after = await this.#o.bucket.getJson<LeaseRecord>(key);
    if (after?.token !== mine.token) return false;
    this.#held = mine;
    return true;
  }

  /** True while the lease taken last is ours and has at least `marginMs` left. */
  holds(marginMs: number): boolean {
    return this.#held !== undefined && this.#held.expiresAt - marginMs > this.#o.clock.now();
  }

  /** Gives the lease up early (only if still ours), so the next node need not wait for the TTL. */
  async release(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (held === undefined) return;
    const key = this.#o.bucket.leaseKey();
    const current = await this.#o.bucket.getJson<LeaseRecord>(key).catch(() => undefined);
    if (current?.token === held.token) await this.#o.bucket.delete(key).catch(() => undefined);
  }
}
