// Which blobs to remove, and in what order: pure functions over entries, sizes, access times and the water marks.
import type { ObjectEntry } from '../storage/metadata-index.ts';

/** What the repository indices say of an entry; the signed-index knowledge (issue 3) implements it. */
export interface ReferenceOracle {
  /** True when a cached index still lists this file, false when none does any more, undefined when unknown. */
  isReferenced(entry: ObjectEntry): boolean | undefined;
}

/** Until the index knowledge is wired in, nothing is known, so eviction is plain LRU and gc removes only orphans. */
export const unknownReferences: ReferenceOracle = { isReferenced: () => undefined };

/** One stored blob, seen through every entry that points at it. */
export interface StoredBlob {
  readonly digest: string;
  readonly size: number;
  /** Latest access through any of its entries (epoch ms); 0 for an orphan. */
  readonly lastAccessAt: number;
  /** false only when every entry is known to be unreferenced (or there is no entry at all). */
  readonly referenced: boolean | undefined;
  /** Being read or written: never removed. */
  readonly busy: boolean;
  /** Cache keys pointing at it; empty for an orphan blob. */
  readonly keys: readonly string[];
}

export type EvictionReason = 'orphan' | 'unreferenced' | 'lru';

export interface Victim {
  readonly blob: StoredBlob;
  readonly reason: EvictionReason;
}

export interface WaterMarks {
  readonly maxBytes: number;
  /** Eviction starts above this... */
  readonly highBytes: number;
  /** ...and stops at or below this. */
  readonly lowBytes: number;
}

export function waterMarks(maxBytes: number, highPercent: number, lowPercent: number): WaterMarks {
  return { maxBytes, highBytes: Math.floor((maxBytes * highPercent) / 100), lowBytes: Math.floor((maxBytes * lowPercent) / 100) };
}

/** Folds index entries (several names may share one blob) and orphan blobs into one record per blob. */
export function storedBlobs(
  entries: Iterable<ObjectEntry>,
  orphans: Iterable<{ digest: string; size: number }>,
  oracle: ReferenceOracle,
  isBusy: (digest: string) => boolean,
): StoredBlob[] {
  const byDigest = new Map<string, { size: number; lastAccessAt: number; referenced: boolean | undefined; keys: string[] }>();
  for (const entry of entries) {
    const said = oracle.isReferenced(entry);
    const seen = byDigest.get(entry.digest);
    if (seen === undefined) {
      byDigest.set(entry.digest, { size: entry.size, lastAccessAt: entry.lastAccessAt, referenced: said, keys: [entry.key] });
      continue;
    }
    seen.lastAccessAt = Math.max(seen.lastAccessAt, entry.lastAccessAt);
    seen.keys.push(entry.key);
    // One name still listed keeps the blob; it is unreferenced only when all its names are.
    seen.referenced = seen.referenced === true || said === true ? true : seen.referenced === false && said === false ? false : undefined;
  }
  const blobs: StoredBlob[] = [...byDigest].map(([digest, b]) => ({
    digest,
    size: b.size,
    lastAccessAt: b.lastAccessAt,
    referenced: b.referenced,
    busy: isBusy(digest),
    keys: b.keys,
  }));
  for (const orphan of orphans) {
    if (byDigest.has(orphan.digest)) continue;
    blobs.push({ digest: orphan.digest, size: orphan.size, lastAccessAt: 0, referenced: false, busy: isBusy(orphan.digest), keys: [] });
  }
  return blobs;
}

export function usedBytes(blobs: readonly StoredBlob[]): number {
  return blobs.reduce((sum, b) => sum + b.size, 0);
}

const byAge = (a: StoredBlob, b: StoredBlob): number => a.lastAccessAt - b.lastAccessAt || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);

function reasonOf(blob: StoredBlob): EvictionReason {
  if (blob.keys.length === 0) return 'orphan';
  return blob.referenced === false ? 'unreferenced' : 'lru';
}

/**
 * Nothing while the store is at or below the high-water mark. Above it: blobs in removal order until
 * the store would be at or below the low-water mark: first orphans and blobs no cached index refers
 * to (oldest access first), then the least recently used of the rest. Busy blobs are skipped, so the
 * plan may stop short of the low mark.
 */
export function planEviction(blobs: readonly StoredBlob[], marks: WaterMarks): Victim[] {
  let used = usedBytes(blobs);
  if (used <= marks.highBytes) return [];
  const idle = blobs.filter((b) => !b.busy);
  const unreferenced = idle.filter((b) => b.referenced === false).sort(byAge);
  const rest = idle.filter((b) => b.referenced !== false).sort(byAge);
  const victims: Victim[] = [];
  for (const blob of [...unreferenced, ...rest]) {
    if (used <= marks.lowBytes) break;
    victims.push({ blob, reason: reasonOf(blob) });
    used -= blob.size;
  }
  return victims;
}

/** Garbage collection: every idle blob no cached index refers to, and every orphan, whatever the disk use. */
export function planGc(blobs: readonly StoredBlob[]): Victim[] {
  return blobs
    .filter((b) => !b.busy && b.referenced === false)
    .sort(byAge)
    .map((blob) => ({ blob, reason: reasonOf(blob) }));
}
