// Start-up reconciliation of the metadata index with the blob store, after a crash or a hand-edited data directory.
import type { BlobInfo, BlobStore } from './blob-store.ts';
import type { BlobCursor, MetadataIndex, ObjectEntry } from './metadata-index.ts';

export interface ReconcileReport {
  /** Index entries removed because their blob is missing or has another size. */
  readonly droppedEntries: number;
  /** Blobs no entry refers to; reported, not deleted (gc decides what to do with them). */
  readonly orphanBlobs: number;
}

export interface ReconcileObserver {
  onDroppedEntry?(entry: ObjectEntry, reason: 'blob-missing' | 'size-differs'): void;
  onOrphanBlob?(blob: BlobInfo): void;
}

/** Blobs checked between two turns of the event loop, and index blobs read per page. */
const batch = 256;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Makes every index entry point at a blob of its size, so a hit never promises bytes the store cannot
 * serve. Streams both sides (the store's listing, then the index's blobs page by page) and yields between
 * batches, so it runs in the background while hoard serves, in memory that does not grow with the store.
 * Two passes: every stored blob against the entries naming it (another size: those entries go; none left:
 * an orphan), then every indexed blob against the store (missing: its entries go). An orphan reported may
 * be a blob whose entry is being written right now; whoever removes orphans checks again (the janitor does).
 */
export async function reconcileStore(
  blobs: BlobStore,
  index: MetadataIndex,
  observer: ReconcileObserver = {},
  /** Aborted: stops between two batches (at shutdown), reporting what was done. */
  signal?: AbortSignal,
): Promise<ReconcileReport> {
  let droppedEntries = 0;
  let orphanBlobs = 0;
  const drop = (entry: ObjectEntry, reason: 'blob-missing' | 'size-differs') => {
    index.delete(entry.key);
    droppedEntries += 1;
    observer.onDroppedEntry?.(entry, reason);
  };

  let listed = 0;
  for await (const blob of blobs.list()) {
    if (signal?.aborted === true) return { droppedEntries, orphanBlobs };
    const entries = index.byDigest(blob.digest);
    let kept = 0;
    for (const entry of entries) {
      if (entry.size === blob.size) kept += 1;
      else drop(entry, 'size-differs');
    }
    if (kept === 0) {
      orphanBlobs += 1;
      observer.onOrphanBlob?.(blob);
    }
    listed += 1;
    if (listed % batch === 0) await nextTurn();
  }

  let after: BlobCursor | undefined;
  for (;;) {
    if (signal?.aborted === true) break;
    const page = index.blobsByAccess(after, batch);
    const found = await Promise.all(page.map((blob) => blobs.stat(blob.digest)));
    for (const [i, blob] of page.entries()) {
      if (found[i] !== undefined) continue;
      for (const entry of index.byDigest(blob.digest)) drop(entry, 'blob-missing');
    }
    if (page.length < batch) break;
    after = page[page.length - 1];
  }
  return { droppedEntries, orphanBlobs };
}
