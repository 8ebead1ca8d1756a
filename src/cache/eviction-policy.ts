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

/**
 * One blob from the entries that point at it (all of them, as `MetadataIndex.byDigest` gives them): a
 * name still listed keeps the blob; it is unreferenced only when all its names are.
 */
export function storedBlobOf(
  blob: { readonly digest: string; readonly size: number; readonly lastAccessAt: number },
  entries: readonly ObjectEntry[],
  oracle: ReferenceOracle,
  isBusy: (digest: string) => boolean,
): StoredBlob {
  let referenced: boolean | undefined;
  for (const [i, entry] of entries.entries()) {
    const said = oracle.isReferenced(entry);
    referenced = i === 0 ? said : referenced === true || said === true ? true : referenced === false && said === false ? false : undefined;
  }
  return { digest: blob.digest, size: blob.size, lastAccessAt: blob.lastAccessAt, referenced, busy: isBusy(blob.digest), keys: entries.map((e) => e.key) };
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

/**
 * What the streaming plans read, for a store too large to hold in memory: the bytes in use (from the
 * index's totals), the orphan blobs, and the indexed blobs least recently used first, read lazily (each
 * pass reads them anew, so a plan holds only its victims).
 */
export interface BlobSource {
  readonly usedBytes: number;
  readonly orphans: readonly StoredBlob[];
  byAge(): AsyncIterable<StoredBlob>;
}

/**
 * `planEviction` over a BlobSource, in the same order: orphans (never accessed), then the blobs no cached
 * index refers to, oldest access first, then the least recently used of the rest, until the low mark. It
 * stops reading as soon as the low mark is reached.
 */
export async function planEvictionFrom(source: BlobSource, marks: WaterMarks): Promise<Victim[]> {
  let used = source.usedBytes;
  if (used <= marks.highBytes) return [];
  const victims: Victim[] = [];
  const chosen = new Set<string>();
  const take = (blob: StoredBlob) => {
    victims.push({ blob, reason: reasonOf(blob) });
    chosen.add(blob.digest);
    used -= blob.size;
  };
  for (const orphan of [...source.orphans].sort(byAge)) {
    if (used <= marks.lowBytes) return victims;
    if (!orphan.busy) take(orphan);
  }
  for await (const blob of source.byAge()) {
    if (used <= marks.lowBytes) return victims;
    if (!blob.busy && blob.referenced === false) take(blob);
  }
  for await (const blob of source.byAge()) {
    if (used <= marks.lowBytes) break;
    if (!blob.busy && !chosen.has(blob.digest)) take(blob);
  }
  return victims;
}

/** `planGc` over a BlobSource: every idle orphan, then every idle blob no cached index refers to, oldest first. */
export async function planGcFrom(source: BlobSource): Promise<Victim[]> {
  const victims = [...source.orphans]
    .filter((b) => !b.busy)
    .sort(byAge)
    .map((blob) => ({ blob, reason: reasonOf(blob) }));
  for await (const blob of source.byAge()) if (!blob.busy && blob.referenced === false) victims.push({ blob, reason: reasonOf(blob) });
  return victims;
}
