// The repository every peer serves: a real signed apt repository of random (incompressible) packages in four size classes.
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DebPackageSpec, RepoPackage, SignedRepo } from '../../test/support/signed-repo-builder.ts';
import { SignedRepo as Repo } from '../../test/support/signed-repo-builder.ts';
import { writeRandomFile } from './random-file.ts';

export interface RepositoryShape {
  /** Packages of 2-20 KB (sizes spread evenly by a fixed formula, so every run builds the same shape). */
  readonly small: number;
  readonly medium: number;
  readonly mediumBytes: number;
  readonly large: number;
  readonly largeBytes: number;
  readonly hugeBytes: number;
  /** The `images` scenario's one image item (a cloud image under a SHA256SUMS tree). */
  readonly imageBytes: number;
}

export const defaultShape: RepositoryShape = {
  small: 300,
  medium: 10,
  mediumBytes: 1_000_000,
  large: 3,
  largeBytes: 50_000_000,
  hugeBytes: 200_000_000,
  imageBytes: 500_000_000,
};

/** The names the scenarios ask for. */
export const names = {
  /** The one ~4 KB package of scenario (b). */
  tiny: 'tiny4k',
  small: (i: number) => `small-${String(i).padStart(3, '0')}`,
  medium: (i: number) => `medium-${String(i).padStart(2, '0')}`,
  large: (i: number) => `large-${i}`,
  huge: 'huge',
};

/** A file in the pool that no index lists: asked for only by the cold scenario, so no other run has fetched it. */
export interface UnlistedFile {
  readonly poolPath: string;
  readonly size: number;
  readonly sha256: string;
}

export interface BenchRepository {
  readonly repo: SignedRepo;
  /** URL path prefix the upstream serves the repository root under. */
  readonly urlPrefix: string;
  readonly tiny: RepoPackage;
  readonly small: readonly RepoPackage[];
  readonly large: readonly RepoPackage[];
  readonly huge: RepoPackage;
  /** The (c) file: the size of a large package, random bytes, in no index. */
  readonly cold: UnlistedFile;
  /** The (f) file: the size of the huge package, random bytes, in no index; absent when not asked for. */
  readonly coldLarge: UnlistedFile | undefined;
  /** The `images` scenario's item, `images/<imageItemPath>` under the root (a SHA256SUMS beside it lists it); absent when not asked for. */
  readonly image: UnlistedFile | undefined;
  readonly totalBytes: number;
}

export const repoUrlPrefix = '/repo';

/** The image tree served under the repository prefix, as an image upstream's root: `/repo/images/`. */
export const imageStreamDir = 'images';
export const imageItemPath = '/cloud/current/disk.img';

export async function buildBenchRepository(
  shape: RepositoryShape,
  options: { readonly image?: boolean; readonly coldLarge?: boolean } = {},
): Promise<BenchRepository> {
  const specs: DebPackageSpec[] = [];
  // A .deb with a gzip'd random payload is about 1 KB larger than the payload.
  specs.push({ name: names.tiny, version: '1.0', size: 3_000 });
  for (let i = 0; i < shape.small; i++) {
    // 1 KB .. 19 KB of payload: .debs of 2-20 KB, evenly spread.
    const size = 1_000 + Math.round(((i * 7919) % shape.small) * (18_000 / Math.max(1, shape.small - 1)));
    specs.push({ name: names.small(i), version: '1.0', size });
  }
  for (let i = 0; i < shape.medium; i++) specs.push({ name: names.medium(i), version: '1.0', size: shape.mediumBytes });
  for (let i = 0; i < shape.large; i++) specs.push({ name: names.large(i), version: '1.0', size: shape.largeBytes });
  specs.push({ name: names.huge, version: '1.0', size: shape.hugeBytes });

  // Uncompressed .debs above 1 MiB: building is then a copy, and random bytes would not shrink anyway.
  const repo = await Repo.create({ suite: 'bench', packages: specs, debCompression: 'auto' });
  const pkg = (name: string) => repo.package(name);
  const cold = await writeUnlistedFile(repo.root, 'pool/main/c/cold/cold_1.0_amd64.deb', shape.largeBytes);
  // Its own file rather than the huge package: the apt runs fetch that one, and (f) must be a first fetch for every peer.
  const coldLarge =
    options.coldLarge === true ? await writeUnlistedFile(repo.root, 'pool/main/c/cold-large/cold-large_1.0_amd64.deb', shape.hugeBytes) : undefined;
  const image = options.image === true ? await writeUnlistedFile(repo.root, `${imageStreamDir}${imageItemPath}`, shape.imageBytes) : undefined;
  if (image !== undefined) {
    // sha256sum's format: the item is verified against it before hoard stores it, as a real cloud image is.
    await writeFile(join(repo.root, imageStreamDir, dirname(imageItemPath), 'SHA256SUMS'), `${image.sha256} *${basename(imageItemPath)}\n`);
  }
  return {
    repo,
    urlPrefix: repoUrlPrefix,
    tiny: pkg(names.tiny),
    small: [pkg(names.tiny), ...Array.from({ length: shape.small }, (_, i) => pkg(names.small(i)))],
    large: Array.from({ length: shape.large }, (_, i) => pkg(names.large(i))),
    huge: pkg(names.huge),
    cold,
    coldLarge,
    image,
    totalBytes: repo.packages.reduce((sum, p) => sum + p.size, 0),
  };
}

async function writeUnlistedFile(root: string, poolPath: string, size: number): Promise<UnlistedFile> {
  return { poolPath, size, sha256: await writeRandomFile(join(root, poolPath), size) };
}
