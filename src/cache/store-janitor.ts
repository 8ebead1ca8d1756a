// Runs the eviction policy against the live store: disk cap (high/low water), garbage collection, admin evictions.
import type { Logger } from 'pino';
import { publishEviction } from '../events.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { BlobCursor, MetadataIndex } from '../storage/metadata-index.ts';
import {
  planEvictionFrom,
  planGcFrom,
  storedBlobOf,
  type BlobSource,
  type ReferenceOracle,
  type StoredBlob,
  type Victim,
  type WaterMarks,
} from './eviction-policy.ts';

export interface StoreJanitorOptions {
  index: MetadataIndex;
  blobs: BlobStore;
  oracle: ReferenceOracle;
  /** True while a blob is being read (open streams, followers of a finished download): never removed then. */
  inUse(digest: string): boolean;
  /** Absent: no disk cap, eviction never runs (gc and admin evictions still do). */
  marks: WaterMarks | undefined;
  logger: Logger;
  /**
   * Pause between dropping a blob's index entries and deleting its bytes: a request that looked the
   * entry up just before has this long to open its stream (an open file outlives its deletion).
   */
  graceMs?: number;
}

export interface RemovedObject {
  readonly digest: string;
  readonly size: number;
  readonly reason: Victim['reason'] | 'admin';
  readonly keys: readonly string[];
}

export interface RemovalReport {
  readonly dryRun: boolean;
  readonly removed: readonly RemovedObject[];
  readonly freedBytes: number;
  /** Chosen but kept, because a client started reading it or a new entry points at it again. */
  readonly kept: number;
  /**
   * On a bucket shared by a fleet (docs/fleet.md): what the sweep after a gc did. `removed` above is what
   * this node let go of; the bucket deletes a blob only once no node has referred to it for the grace period.
   */
  readonly bucket?: { readonly ran: boolean; readonly deleted: number; readonly rescued: number; readonly waiting: number } | undefined;
}

export interface StoreUsage {
  readonly bytes: number;
  /** Distinct blobs (several names may share one). */
  readonly objects: number;
  readonly entries: number;
  readonly maxBytes: number | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Blobs read from the index per page; the janitor yields to the event loop between pages. */
const blobPage = 256;

/** Orphans remembered at most; more are found again by the next start-up's reconciliation. */
const maxOrphans = 100_000;

/**
 * Reads the index page by page (`MetadataIndex.blobsByAccess`), never the whole of it: usage comes from
 * the index's totals, and a pass holds only its victims, so memory does not grow with the store.
 */
export class StoreJanitor {
  readonly #o: StoreJanitorOptions;
  /** Blobs no entry points at (found at start-up, or left when a removal was cut short). */
  readonly #orphans = new Map<string, number>();
  #orphanBytes = 0;
  #pass: Promise<RemovalReport> | undefined;
  #again = false;

  constructor(options: StoreJanitorOptions) {
    this.#o = options;
  }

  noteOrphan(digest: string, size: number): void {
    if (this.#orphans.has(digest) || this.#orphans.size >= maxOrphans) return;
    this.#orphans.set(digest, size);
    this.#orphanBytes += size;
  }

  #forgetOrphan(digest: string): void {
    const size = this.#orphans.get(digest);
    if (size === undefined) return;
    this.#orphans.delete(digest);
    this.#orphanBytes -= size;
  }

  /** What a plan reads: orphans still without an entry, and the indexed blobs in LRU order, lazily. */
  #source(): BlobSource {
    for (const digest of [...this.#orphans.keys()]) if (this.#o.index.byDigest(digest).length > 0) this.#forgetOrphan(digest);
    const orphans: StoredBlob[] = [...this.#orphans].map(([digest, size]) => ({
      digest,
      size,
      lastAccessAt: 0,
      referenced: false,
      busy: this.#o.inUse(digest),
      keys: [],
    }));
    return { usedBytes: this.#o.index.totals().bytes + this.#orphanBytes, orphans, byAge: () => this.#byAge() };
  }

  async *#byAge(): AsyncIterable<StoredBlob> {
    const { index, oracle } = this.#o;
    const inUse = (digest: string) => this.#o.inUse(digest);
    let after: BlobCursor | undefined;
    for (;;) {
      const page = index.blobsByAccess(after, blobPage);
      for (const blob of page) {
        const entries = index.byDigest(blob.digest);
        // Removed since the page was read.
        if (entries.length === 0) continue;
        yield storedBlobOf(blob, entries, oracle, inUse);
      }
      if (page.length < blobPage) return;
      after = page[page.length - 1];
      await nextTurn();
    }
  }

  /** From the index's totals and the orphans noted: no scan. */
  usage(): StoreUsage {
    const totals = this.#o.index.totals();
    return {
      bytes: totals.bytes + this.#orphanBytes,
      objects: totals.blobs + this.#orphans.size,
      entries: totals.entries,
      maxBytes: this.#o.marks?.maxBytes,
    };
  }

  /** Asks for an eviction pass; passes never overlap, and requests made during one cause one more. */
  requestEviction(): void {
    if (this.#pass !== undefined) {
      this.#again = true;
      return;
    }
    this.#pass = this.evictIfNeeded()
      .catch((err: unknown) => {
        this.#o.logger.error({ err }, 'eviction pass failed');
        return { dryRun: false, removed: [], freedBytes: 0, kept: 0 };
      })
      .finally(() => {
        this.#pass = undefined;
        if (this.#again) {
          this.#again = false;
          this.requestEviction();
        }
      });
  }

  /** Resolves when no eviction pass is running (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.#pass !== undefined) await this.#pass;
  }

  /** Above the high-water mark: removes unreferenced, then least recently used objects down to the low-water mark. */
  async evictIfNeeded(): Promise<RemovalReport> {
    const marks = this.#o.marks;
    // The common case, after every download: one read of the totals.
    if (marks === undefined || this.usage().bytes <= marks.highBytes) return { dryRun: false, removed: [], freedBytes: 0, kept: 0 };
    const victims = await planEvictionFrom(this.#source(), marks);
    if (victims.length === 0) return { dryRun: false, removed: [], freedBytes: 0, kept: 0 };
    const report = await this.#remove(victims);
    this.#o.logger.info(
      { freed: report.freedBytes, evicted: report.removed.length, kept: report.kept, usage: this.usage() },
      'store over its high-water mark: evicted',
    );
    return report;
  }

  /** The disk filled up below the cap: frees `share` of what the store holds, by the same order as eviction. */
  async relieve(share = 0.1): Promise<RemovalReport> {
    const source = this.#source();
    const used = source.usedBytes;
    const victims = await planEvictionFrom(source, { maxBytes: used, highBytes: 0, lowBytes: Math.floor(used * (1 - share)) });
    return this.#remove(victims);
  }

  /** Objects no cached index refers to any more, and blobs no entry refers to. */
  async collectGarbage(options: { dryRun: boolean }): Promise<RemovalReport> {
    const victims = await planGcFrom(this.#source());
    if (options.dryRun) {
      const removed = victims.map(({ blob, reason }) => ({ digest: blob.digest, size: blob.size, reason, keys: blob.keys }));
      return { dryRun: true, removed, freedBytes: removed.reduce((n, r) => n + r.size, 0), kept: 0 };
    }
    return this.#remove(victims);
  }

  /** Removes one object, named by cache key or blob digest, whatever else points at it. */
  async evict(keyOrDigest: string): Promise<RemovalReport> {
    const digest = this.#o.index.get(keyOrDigest)?.digest ?? keyOrDigest;
    const entries = this.#o.index.byDigest(digest);
    const orphanSize = this.#orphans.get(digest);
    let blob: StoredBlob | undefined;
    if (entries.length > 0) {
      const lastAccessAt = Math.max(...entries.map((e) => e.lastAccessAt));
      const size = (entries[0] as (typeof entries)[number]).size;
      blob = storedBlobOf({ digest, size, lastAccessAt }, entries, this.#o.oracle, (d) => this.#o.inUse(d));
    } else if (orphanSize !== undefined) {
      blob = { digest, size: orphanSize, lastAccessAt: 0, referenced: false, busy: this.#o.inUse(digest), keys: [] };
    }
    if (blob === undefined) return { dryRun: false, removed: [], freedBytes: 0, kept: 0 };
    const report = await this.#remove([{ blob, reason: 'lru' }]);
    return { ...report, removed: report.removed.map((r) => ({ ...r, reason: 'admin' as const })) };
  }

  async #remove(victims: readonly Victim[]): Promise<RemovalReport> {
    // Entries first, so no new request finds these objects; bytes after the grace period.
    for (const { blob } of victims) for (const key of blob.keys) this.#o.index.delete(key);
    if (victims.length > 0 && (this.#o.graceMs ?? 2000) > 0) await sleep(this.#o.graceMs ?? 2000);
    const removed: RemovedObject[] = [];
    let kept = 0;
    for (const { blob, reason } of victims) {
      // A client that opened it in the meantime, or a download that stored the same bytes again, wins.
      if (this.#o.inUse(blob.digest) || this.#o.index.byDigest(blob.digest).length > 0) {
        if (this.#o.index.byDigest(blob.digest).length === 0) this.noteOrphan(blob.digest, blob.size);
        kept += 1;
        continue;
      }
      await this.#o.blobs.delete(blob.digest);
      this.#forgetOrphan(blob.digest);
      // Stored again between the check and the deletion: that entry now points at nothing, so it goes too.
      for (const entry of this.#o.index.byDigest(blob.digest)) this.#o.index.delete(entry.key);
      removed.push({ digest: blob.digest, size: blob.size, reason, keys: blob.keys });
      publishEviction({ reason, digest: blob.digest, bytes: blob.size, keys: [...blob.keys] });
    }
    return { dryRun: false, removed, freedBytes: removed.reduce((n, r) => n + r.size, 0), kept };
  }
}
