// What the verified Packages and Sources indices say each pool file must be: request path -> SHA-256, size, trust.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AptFormatError } from '../protocols/apt/apt-format-error.ts';
import { parseDeb822Stream } from '../protocols/apt/deb822.ts';
import { type Compression, createDecompressor } from '../protocols/apt/index-compression.ts';
import { archivePath, packageFilesFromPackages, packageFilesFromSources, type PackageFile } from '../protocols/apt/package-index.ts';
import type { GenerationTrust } from './release-generations.ts';

export interface PackageExpectation {
  readonly sha256: string | undefined;
  readonly size: number;
  readonly trust: GenerationTrust;
}

export type IndexKind = 'packages' | 'sources';

/**
 * One map for every upstream and archive root, keyed by `upstream + request path` (the archive root
 * joined with Filename, or with Directory and a Sources file name).
 *
 * Learning a newer index overwrites the entries it lists (a rebuilt package gets its new hash: same
 * name, new bytes) and leaves the others: a package dropped from the index keeps the hash it was
 * last published with, which still describes the bytes a mirror serves under that name. Two suites
 * sharing a pool that disagree about one file (never the case on a dak archive) end with the hash of
 * the index read last.
 */
export class PackageHashTable {
  readonly #entries = new Map<string, PackageExpectation>();

  get size(): number {
    return this.#entries.size;
  }

  lookup(upstream: string, path: string): PackageExpectation | undefined {
    return this.#entries.get(upstream + path);
  }

  learn(upstream: string, archiveRoot: string, files: Iterable<PackageFile>, trust: GenerationTrust): number {
    let count = 0;
    for (const file of files) {
      this.#entries.set(upstream + archivePath(archiveRoot, file.path), { sha256: file.sha256, size: file.size, trust });
      count += 1;
    }
    return count;
  }
}

export interface ParsedIndex {
  readonly files: PackageFile[];
  /** Paragraphs that could not be read (no Filename, a bad digest...): skipped, the rest still counts. */
  readonly skipped: number;
}

/**
 * Reads a Packages or Sources index (in its compression) into the pool files it describes. The
 * bytes were checked against the Release before they were stored, so a paragraph apt would reject
 * is skipped rather than failing the whole index, as apt does.
 */
export async function readPackageIndex(bytes: Readable, compression: Compression, kind: IndexKind): Promise<ParsedIndex> {
  const decoder = createDecompressor(compression);
  if (decoder === undefined) throw new Error(`cannot decode ${compression}-compressed indices`);
  const files: PackageFile[] = [];
  let skipped = 0;
  await pipeline(bytes, decoder, async (decoded: AsyncIterable<Uint8Array>) => {
    for await (const paragraph of parseDeb822Stream(decoded)) {
      try {
        if (kind === 'packages') files.push(packageFilesFromPackages(paragraph));
        else files.push(...packageFilesFromSources(paragraph));
      } catch (err) {
        if (!(err instanceof AptFormatError)) throw err;
        skipped += 1;
      }
    }
  });
  return { files, skipped };
}

/** Which kind of package index a Release-relative name is (`main/binary-amd64/Packages.xz` -> packages), if any. */
export function indexKindOf(uncompressedRelative: string): IndexKind | undefined {
  const name = uncompressedRelative.slice(uncompressedRelative.lastIndexOf('/') + 1);
  // Debian RepositoryFormat: Packages indices sit in binary-<arch>/ (and debian-installer/), Sources in source/.
  if (name === 'Packages') return 'packages';
  if (name === 'Sources') return 'sources';
  return undefined;
}
