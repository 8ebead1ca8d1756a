// `hoard verify`: re-hashes every stored object offline, quarantines those whose bytes no longer match, and reports.
import type { BlobStore } from '../storage/blob-store.ts';
import type { MetadataIndex } from '../storage/metadata-index.ts';

export interface DamagedObject {
  readonly digest: string;
  readonly size: number;
  /** Cache keys that pointed at it; their entries are dropped so the next request fetches again. */
  readonly keys: readonly string[];
}

export interface VerifyReport {
  readonly checkedBlobs: number;
  readonly checkedBytes: number;
  /** Blobs whose bytes no longer hash to their name (bit rot, tampering): moved to quarantine. */
  readonly damaged: readonly DamagedObject[];
  /** Entries whose blob is gone altogether: dropped. */
  readonly missing: readonly string[];
}

export interface VerifyOptions {
  /** Blobs hashed at once; the disk is the limit, not the CPU. Default 2. */
  readonly concurrency?: number;
  readonly onProgress?: (done: number, bytes: number) => void;
}

/**
 * Hashes every committed blob. A blob that fails is quarantined (or deleted when the store cannot
 * quarantine) and every entry naming it is dropped; entries whose blob is missing are dropped too.
 * Meant for a stopped hoard: a running one keeps its index in memory and would not see the drops.
 */
export async function verifyStore(blobs: BlobStore, index: MetadataIndex, options: VerifyOptions = {}): Promise<VerifyReport> {
  const all: { digest: string; size: number }[] = [];
  for await (const blob of blobs.list()) all.push(blob);
  const present = new Set(all.map((b) => b.digest));
  const damaged: DamagedObject[] = [];
  let done = 0;
  let bytes = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < all.length) {
      const blob = all[next] as { digest: string; size: number };
      next += 1;
      const intact = await blobs.verify(blob.digest);
      done += 1;
      bytes += blob.size;
      options.onProgress?.(done, bytes);
      if (intact) continue;
      const keys = index.byDigest(blob.digest).map((e) => e.key);
      for (const key of keys) index.delete(key);
      if (blobs.quarantine !== undefined) await blobs.quarantine(blob.digest);
      else await blobs.delete(blob.digest);
      damaged.push({ digest: blob.digest, size: blob.size, keys });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 2, all.length)) }, worker));

  const missing: string[] = [];
  for (const entry of index.all()) {
    if (present.has(entry.digest)) continue;
    missing.push(entry.key);
  }
  for (const key of missing) index.delete(key);
  damaged.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  return { checkedBlobs: done, checkedBytes: bytes, damaged, missing: missing.sort() };
}

/** The report as lines for a person; the exit status carries the verdict. */
export function formatVerifyReport(report: VerifyReport): string {
  const lines = [`checked ${report.checkedBlobs} objects (${report.checkedBytes} bytes)`];
  for (const d of report.damaged) {
    lines.push(
      `DAMAGED ${d.digest} (${d.size} bytes): quarantined; ${d.keys.length === 0 ? 'no cache entry named it' : `will be fetched again: ${d.keys.join(', ')}`}`,
    );
  }
  for (const key of report.missing) lines.push(`MISSING ${key}: its object is gone; will be fetched again`);
  lines.push(report.damaged.length + report.missing.length === 0 ? 'all objects intact' : `${report.damaged.length} damaged, ${report.missing.length} missing`);
  return `${lines.join('\n')}\n`;
}
