// Start-up reconciliation of the metadata index with the blob store, after a crash or a hand-edited data directory.
import type { BlobInfo, BlobStore } from './blob-store.ts';
import type { MetadataIndex, ObjectEntry } from './metadata-index.ts';

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

/**
 * Makes every index entry point at a blob of its size, so a hit never promises bytes the store cannot
 * serve. Run it at start-up, before serving: a write committed while it runs could be taken for an orphan.
 */
export async function reconcileStore(blobs: BlobStore, index: MetadataIndex, observer: ReconcileObserver = {}): Promise<ReconcileReport> {
  const sizes = new Map<string, number>();
  for await (const blob of blobs.list()) sizes.set(blob.digest, blob.size);

  const dropped: [ObjectEntry, 'blob-missing' | 'size-differs'][] = [];
  for (const entry of index.all()) {
    const size = sizes.get(entry.digest);
    if (size === undefined) dropped.push([entry, 'blob-missing']);
    else if (size !== entry.size) dropped.push([entry, 'size-differs']);
  }
  // Collected first: the MetadataIndex contract does not promise that deleting while iterating all() is safe.
  for (const [entry, reason] of dropped) {
    index.delete(entry.key);
    observer.onDroppedEntry?.(entry, reason);
  }

  let orphanBlobs = 0;
  for (const [digest, size] of sizes) {
    if (index.byDigest(digest).length > 0) continue;
    orphanBlobs += 1;
    observer.onOrphanBlob?.({ digest, size });
  }
  return { droppedEntries: dropped.length, orphanBlobs };
}
