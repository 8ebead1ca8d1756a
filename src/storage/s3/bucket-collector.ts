// Deleting blobs from a bucket several nodes share: condemned first, deleted after a grace period if still nobody's, one node at a time.
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import type { BucketLease } from './bucket-lease.ts';
import type { S3Bucket } from './s3-bucket.ts';

export interface BucketCollectorOptions {
  readonly bucket: S3Bucket;
  readonly lease: BucketLease;
  readonly clock: Clock;
  /** A condemned blob is deleted only when it has been condemned this long and still nobody refers to it. */
  readonly graceMs: number;
  /**
   * References of a node whose announcement (`nodes/<id>`, `lastSeen`) is older than this do not keep a
   * blob; 0 or absent: every reference counts, however old its node's announcement.
   */
  readonly forgetNodesAfterMs?: number | undefined;
  /** Condemned blobs looked at per sweep (one LIST per 1,000, one LIST of refs and up to two DELETEs each). */
  readonly maxPerSweep?: number | undefined;
  readonly logger?: Logger | undefined;
}

export interface SweepReport {
  /** False when another node held the lease: nothing was looked at. */
  readonly ran: boolean;
  readonly deleted: readonly string[];
  /** Condemned, but a node referred to it again: the condemnation was lifted. */
  readonly rescued: readonly string[];
  /** Condemned less than the grace period ago: looked at again by a later sweep. */
  readonly waiting: number;
}

/** References listed per condemned blob when some may belong to nodes gone for good; more count as live. */
const maxRefsJudged = 100;

/** Lease time a sweep keeps in reserve: it stops deleting when less than this is left. */
const leaseMarginMs = 10_000;

/**
 * Why two steps. A node drops a blob when its own index no longer names it; another node may still
 * refer to it, or be about to (it found the entry in the bucket a moment ago, or it is uploading the same
 * bytes and will publish its reference right after). So a drop only writes `condemned/<digest>`; a sweep
 * deletes the blob once the mark is older than the grace period AND a fresh LIST of `refs/<digest>/`
 * is empty. Any reference written during the grace period rescues the blob. The only window left is
 * between that LIST and the DELETE (milliseconds), against a node adopting a blob condemned for the whole
 * grace period: it then finds the blob gone and fetches it upstream again (no client gets wrong bytes).
 */
export class BucketCollector {
  readonly #o: BucketCollectorOptions;
  #sweeping: Promise<SweepReport> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: BucketCollectorOptions) {
    this.#o = options;
  }

  /** Marks a blob this node no longer refers to. An existing mark is kept (its age is what counts). */
  async condemn(digest: string): Promise<void> {
    const key = this.#o.bucket.condemnedKey(digest);
    if ((await this.#o.bucket.head(key)) !== undefined) return;
    await this.#o.bucket.put(key, '');
  }

  /** One sweep; concurrent calls share it. */
  sweep(): Promise<SweepReport> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Sweeps every `intervalMs` (each node does; the lease lets one at a time work). */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      void this.sweep().catch((err: unknown) => this.#o.logger?.warn({ err }, 'bucket sweep failed'));
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping?.catch(() => undefined);
  }

  #forgetting(): boolean {
    return (this.#o.forgetNodesAfterMs ?? 0) > 0;
  }

  /** The references whose node is not gone for good; a node without an announcement counts as alive. */
  async #live(refs: ReadonlyArray<{ key: string }>, digest: string, seen: Map<string, boolean>): Promise<Array<{ key: string }>> {
    if (refs.length >= maxRefsJudged) return [...refs];
    const { bucket, clock } = this.#o;
    const live = [];
    for (const ref of refs) {
      const nodeId = ref.key.slice(bucket.refPrefix(digest).length);
      let gone = seen.get(nodeId);
      if (gone === undefined) {
        const announced = await bucket.getJson<{ lastSeen?: unknown }>(bucket.nodeKey(nodeId)).catch(() => undefined);
        const lastSeen = typeof announced?.lastSeen === 'string' ? Date.parse(announced.lastSeen) : Number.NaN;
        gone = Number.isFinite(lastSeen) && clock.now() - lastSeen > (this.#o.forgetNodesAfterMs ?? 0);
        seen.set(nodeId, gone);
      }
      if (!gone) live.push(ref);
    }
    return live;
  }

  async #sweep(): Promise<SweepReport> {
    const { bucket, lease, clock, graceMs } = this.#o;
    if (!(await lease.acquire())) return { ran: false, deleted: [], rescued: [], waiting: 0 };
    const deleted: string[] = [];
    const rescued: string[] = [];
    let waiting = 0;
    /** Node id -> gone for good, read once per sweep. */
    const seen = new Map<string, boolean>();
    try {
      const marks = await bucket.list(bucket.condemnedPrefix(), this.#o.maxPerSweep ?? 1000);
      for (const mark of marks) {
        if (!lease.holds(Math.min(leaseMarginMs, graceMs))) break;
        const digest = mark.key.slice(bucket.condemnedPrefix().length);
        // The store's clock stamped the mark; compared with ours (clocks within the grace period of each other).
        if (graceMs > 0 && clock.now() - mark.lastModified < graceMs) {
          waiting += 1;
          continue;
        }
        const refs = await bucket.list(bucket.refPrefix(digest), this.#forgetting() ? maxRefsJudged : 1);
        const live = this.#forgetting() ? await this.#live(refs, digest, seen) : refs;
        if (live.length > 0) {
          await bucket.delete(mark.key);
          rescued.push(digest);
          continue;
        }
        // Only references of nodes gone for good are left: they go with the blob.
        for (const ref of refs) await bucket.delete(ref.key);
        await bucket.delete(bucket.blobKey(digest));
        await bucket.delete(mark.key);
        deleted.push(digest);
      }
    } finally {
      await lease.release();
    }
    if (deleted.length > 0 || rescued.length > 0) this.#o.logger?.info({ deleted: deleted.length, rescued: rescued.length, waiting }, 'bucket swept');
    return { ran: true, deleted, rescued, waiting };
  }
}
