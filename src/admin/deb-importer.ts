// `hoard import`: takes .deb files from a directory and stores those a cached Packages index lists, by SHA-256.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Clock } from '../clock.ts';
import type { ImportProgress } from './admin-routes.ts';
import { parseDeb822Stream } from '../protocols/apt/deb822.ts';
import { createDecompressor, defaultMaxIndexExpandedBytes, type Compression } from '../protocols/apt/index-compression.ts';
import { archiveRoot, archivePath, packageFilesFromPackages } from '../protocols/apt/package-index.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { MetadataIndex } from '../storage/metadata-index.ts';

/** One place a cached index says a file lives. */
export interface KnownLocation {
  readonly upstream: string;
  readonly path: string;
  readonly size: number;
}

/** Index files bigger than this are not read (no real Packages file comes near it). */
const maxIndexBytes = 512 * 1024 * 1024;
/** Directory depth searched (an apt-cacher-ng cache nests host/archive/pool/main/x/name/). */
const maxDepth = 12;
const packageFile = /\.(u|d)?deb$/;
// Index entries that can hold a Packages file: its canonical names and by-hash copies under dists/.
const indexPath = /\/dists\/.*(\/Packages(\.(xz|gz|zst))?|\/by-hash\/SHA256\/[0-9a-f]{64})$/;

/** Compression of stored bytes, told by their first bytes (by-hash names say nothing of it). */
function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58) return 'xz';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gz';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zst';
  return 'none';
}

async function firstBytes(blobs: BlobStore, digest: string, size: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of blobs.createReadStream(digest, 0, Math.min(size, 6) - 1)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** SHA-256 -> where the cached Packages indices say that file lives (several suites may list one file). */
export async function buildPackageCatalog(index: MetadataIndex, blobs: BlobStore): Promise<Map<string, KnownLocation[]>> {
  const catalog = new Map<string, KnownLocation[]>();
  const seenDigests = new Set<string>();
  // Read lazily: the index on disk is paged, never held whole.
  for (const entry of index.all()) {
    if (!indexPath.test(entry.path) || entry.size === 0 || entry.size > maxIndexBytes || seenDigests.has(entry.digest)) continue;
    seenDigests.add(entry.digest);
    const root = archiveRoot(entry.path.slice(0, entry.path.lastIndexOf('/') + 1));
    try {
      // The same ceiling as the verifier's reads (docs/security.md, "Hostile indices"); the parser bounds fields and paragraphs.
      const decompressor = createDecompressor(sniffCompression(await firstBytes(blobs, entry.digest, entry.size)), {
        maxOutputBytes: defaultMaxIndexExpandedBytes,
      });
      if (decompressor === undefined) continue;
      const plain: Readable = blobs.createReadStream(entry.digest, 0, entry.size - 1).pipe(decompressor);
      for await (const paragraph of parseDeb822Stream(plain)) {
        if (paragraph.get('Filename') === undefined) break; // not a Packages file (Translation, Contents...)
        const file = packageFilesFromPackages(paragraph);
        if (file.sha256 === undefined) continue;
        const location = { upstream: entry.upstream, path: archivePath(root, file.path), size: file.size };
        const list = catalog.get(file.sha256) ?? [];
        if (!list.some((l) => l.upstream === location.upstream && l.path === location.path)) list.push(location);
        catalog.set(file.sha256, list);
      }
    } catch {
      // Not a parseable Packages file (another by-hash index, a damaged copy): it teaches nothing.
      continue;
    }
  }
  return catalog;
}

async function findPackageFiles(dir: string, depth = 0, out: string[] = []): Promise<string[]> {
  if (depth > maxDepth) return out;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await findPackageFiles(path, depth + 1, out);
    else if (entry.isFile() && packageFile.test(entry.name)) out.push(path);
  }
  return out.sort();
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface ImportReport {
  [key: string]: unknown;
  files: number;
  stored: number;
  already: number;
  unknown: number;
  failed: number;
  bytesStored: number;
}

/**
 * Stores each file whose size and SHA-256 a cached index lists, under every name the indices give it.
 * Files no index knows are left alone: hoard stores only what it could have fetched.
 */
export async function importDebs(
  deps: { index: MetadataIndex; blobs: BlobStore; clock: Clock; contentType: (path: string) => string | undefined },
  dir: string,
  progress: (p: ImportProgress) => void,
): Promise<ImportReport> {
  const catalog = await buildPackageCatalog(deps.index, deps.blobs);
  const knownSizes = new Set([...catalog.values()].flatMap((list) => list.map((l) => l.size)));
  const files = await findPackageFiles(dir);
  const report: ImportReport = { files: files.length, stored: 0, already: 0, unknown: 0, failed: 0, bytesStored: 0 };
  for (const [i, file] of files.entries()) {
    let outcome: string;
    try {
      outcome = await importOne(deps, catalog, knownSizes, file);
    } catch (err) {
      outcome = `failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (outcome === 'stored') {
      report.stored += 1;
      report.bytesStored += (await stat(file)).size;
    } else if (outcome === 'already') report.already += 1;
    else if (outcome === 'unknown') report.unknown += 1;
    else report.failed += 1;
    progress({ done: i + 1, total: files.length, file, outcome });
  }
  return report;
}

async function importOne(
  deps: { index: MetadataIndex; blobs: BlobStore; clock: Clock; contentType: (path: string) => string | undefined },
  catalog: Map<string, KnownLocation[]>,
  knownSizes: Set<number>,
  file: string,
): Promise<string> {
  const { size } = await stat(file);
  // Sizes first: hashing a file no index could list is wasted reading.
  if (!knownSizes.has(size)) return 'unknown';
  const digest = await sha256File(file);
  const locations = (catalog.get(digest) ?? []).filter((l) => l.size === size);
  if (locations.length === 0) return 'unknown';
  const missing = locations.filter((l) => deps.index.get(l.upstream + l.path)?.digest !== digest);
  if (missing.length === 0) return 'already';
  if ((await deps.blobs.stat(digest))?.size !== size) {
    const writer = await deps.blobs.createWriter();
    try {
      for await (const chunk of createReadStream(file)) await writer.write(chunk as Buffer);
      // The commit re-checks size and hash: a file changed while it was read is not stored.
      await writer.commit({ sha256: digest, size });
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }
  const now = deps.clock.now();
  for (const l of missing) {
    deps.index.put({
      key: l.upstream + l.path,
      protocol: 'apt',
      upstream: l.upstream,
      path: l.path,
      digest,
      size,
      contentType: deps.contentType(l.path),
      storedAt: now,
      validatedAt: now,
      lastAccessAt: now,
      verification: 'hash-verified',
    });
  }
  return 'stored';
}
