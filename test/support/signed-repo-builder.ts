// Builds a real signed Debian repository in a temp dir and publishes new generations of it, step by step if asked.
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runChecked } from './command-runner.ts';
import { buildDebPackage, checkDebPackageSpec, debFileName } from './deb-package-builder.ts';
import type { BuiltDeb, DebCompression, DebPackageSpec } from './deb-package-builder.ts';
import { GpgKeyring } from './gpg-keyring.ts';
import { digestsOf, renderPackages, renderRelease } from './repo-index-writer.ts';
import type { ReleaseFileEntry } from './repo-index-writer.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export type { DebPackageSpec } from './deb-package-builder.ts';

/** Which Packages files exist on disk. The uncompressed one is listed in Release either way, as apt verifies it after decompressing. */
export type IndexCompression = 'none' | 'gz' | 'xz';

export interface SignedRepoOptions {
  /** The directory name under dists/ and the Suite field. Default `stable`. */
  readonly suite?: string;
  /** Default: the suite. */
  readonly codename?: string;
  /** Default `main`. */
  readonly component?: string;
  /** Default `amd64`. */
  readonly arch?: string;
  readonly packages?: readonly DebPackageSpec[];
  /** Writes by-hash copies and `Acquire-By-Hash: yes`. Default true. */
  readonly withByHash?: boolean;
  /** Default all three. */
  readonly compressions?: readonly IndexCompression[];
  readonly origin?: string;
  readonly label?: string;
  /** Shares a key between repositories; by default the repository makes its own and disposes of it. */
  readonly keyring?: GpgKeyring;
  readonly debCompression?: DebCompression;
  /** Date of the first generation; by default now (whole seconds). */
  readonly date?: Date;
  readonly validUntil?: Date;
}

export interface RepoPackage extends BuiltDeb {
  /** URL path from the repository root, as in the Filename field: `pool/main/a/alpha/alpha_1.0_amd64.deb`. */
  readonly poolPath: string;
  /** The generation that built these bytes. */
  readonly generation: number;
}

export interface IndexFile {
  /** Path from the repository root: `dists/stable/main/binary-amd64/Packages.gz`. */
  readonly path: string;
  /** Path as listed in Release (relative to `dists/<suite>/`). */
  readonly releasePath: string;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
  /** Path from the root of its by-hash copy, when by-hash is on. */
  readonly byHashPath: string | undefined;
  /** False for the uncompressed Packages that is listed in Release but not written (compressions without `none`). */
  readonly onDisk: boolean;
}

export interface GenerationChange {
  /** Adds packages, or replaces those of the same name (same version means same file name, new bytes). */
  readonly add?: readonly DebPackageSpec[];
  /** Drops packages from the index; their pool files stay, as on a mirror that prunes later. */
  readonly remove?: readonly string[];
  /** Default: now, but always at least one second after the previous generation, so Date and Last-Modified move forward. */
  readonly date?: Date;
  /** A Date sets Valid-Until, null removes it, absent keeps the previous one. */
  readonly validUntil?: Date | null;
  /** Signs this generation with another key (e.g. one apt does not trust). */
  readonly signWith?: GpgKeyring;
}

interface RepoLayout {
  readonly root: string;
  readonly staging: string;
  readonly suite: string;
  readonly codename: string;
  readonly component: string;
  readonly arch: string;
  readonly withByHash: boolean;
  readonly compressions: readonly IndexCompression[];
  readonly origin: string;
  readonly label: string;
  readonly debCompression: DebCompression;
}

/**
 * One published (or about to be published) state of the repository. Its files are written by four
 * steps that a mirror performs in this order: pool, by-hash, indices, release. Calling the steps
 * one by one, or only some of them, stages a mirror caught mid-update.
 */
export class RepoGeneration {
  readonly number: number;
  readonly date: Date;
  readonly validUntil: Date | undefined;
  readonly packages: readonly RepoPackage[];
  /** The Packages files of this generation (every compression, plus the uncompressed one). */
  readonly indexFiles: readonly IndexFile[];
  readonly release: Buffer;
  readonly inRelease: Buffer;
  readonly releaseGpg: Buffer;
  readonly #layout: RepoLayout;
  /** Index file contents by root-relative path. */
  readonly #indexBytes: ReadonlyMap<string, Buffer>;
  /** Staged .deb path by pool path, for the packages this generation built. */
  readonly #stagedDebs: ReadonlyMap<string, string>;
  readonly #onComplete: (generation: RepoGeneration) => void;
  #poolWritten = false;
  #byHashWritten = false;
  #indicesWritten = false;
  #releaseWritten = false;

  constructor(init: {
    number: number;
    date: Date;
    validUntil: Date | undefined;
    packages: readonly RepoPackage[];
    indexFiles: readonly IndexFile[];
    indexBytes: ReadonlyMap<string, Buffer>;
    stagedDebs: ReadonlyMap<string, string>;
    release: Buffer;
    inRelease: Buffer;
    releaseGpg: Buffer;
    layout: RepoLayout;
    onComplete: (generation: RepoGeneration) => void;
  }) {
    this.number = init.number;
    this.date = init.date;
    this.validUntil = init.validUntil;
    this.packages = init.packages;
    this.indexFiles = init.indexFiles;
    this.#indexBytes = init.indexBytes;
    this.#stagedDebs = init.stagedDebs;
    this.release = init.release;
    this.inRelease = init.inRelease;
    this.releaseGpg = init.releaseGpg;
    this.#layout = init.layout;
    this.#onComplete = init.onComplete;
  }

  package(name: string): RepoPackage {
    const found = this.packages.find((p) => p.name === name);
    if (found === undefined) throw new Error(`no package ${name} in generation ${this.number}`);
    return found;
  }

  /** The bytes of an index file of this generation, by root-relative path. */
  indexBytes(path: string): Buffer {
    const bytes = this.#indexBytes.get(path);
    if (bytes === undefined) throw new Error(`no index file ${path} in generation ${this.number}`);
    return bytes;
  }

  /** Moves the .debs this generation built into pool/, replacing same-named files. */
  async writePool(): Promise<void> {
    // The staged files are moved, not copied: a second call has nothing left to move.
    if (this.#poolWritten) return;
    for (const [poolPath, staged] of this.#stagedDebs) {
      const target = join(this.#layout.root, poolPath);
      await mkdir(dirname(target), { recursive: true });
      await utimes(staged, this.date, this.date);
      await rename(staged, target);
    }
    this.#poolWritten = true;
  }

  /** Adds this generation's by-hash objects; older ones are kept, as on a real mirror. */
  async writeByHash(): Promise<void> {
    for (const file of this.indexFiles) {
      if (file.byHashPath === undefined || !file.onDisk) continue;
      const target = join(this.#layout.root, file.byHashPath);
      if (await exists(target)) continue;
      await writeAtomically(target, this.indexBytes(file.path), this.date);
    }
    this.#byHashWritten = true;
  }

  /** Writes the Packages files at their canonical paths; files whose bytes did not change keep their mtime. */
  async writeIndices(): Promise<void> {
    for (const file of this.indexFiles) {
      if (!file.onDisk) continue;
      const target = join(this.#layout.root, file.path);
      const bytes = this.indexBytes(file.path);
      const current = await readFile(target).catch(() => undefined);
      if (current?.equals(bytes) === true) continue;
      await writeAtomically(target, bytes, this.date);
    }
    this.#indicesWritten = true;
  }

  /** Writes Release, InRelease and Release.gpg. */
  async writeRelease(): Promise<void> {
    const dists = join(this.#layout.root, 'dists', this.#layout.suite);
    await writeAtomically(join(dists, 'Release'), this.release, this.date);
    await writeAtomically(join(dists, 'Release.gpg'), this.releaseGpg, this.date);
    await writeAtomically(join(dists, 'InRelease'), this.inRelease, this.date);
    this.#releaseWritten = true;
  }

  /** Runs the steps not yet run, in mirror order, then makes this the repository's current generation. */
  async complete(): Promise<void> {
    if (!this.#poolWritten) await this.writePool();
    if (!this.#byHashWritten && this.#layout.withByHash) await this.writeByHash();
    if (!this.#indicesWritten) await this.writeIndices();
    if (!this.#releaseWritten) await this.writeRelease();
    await rm(join(this.#layout.staging, `gen-${this.number}`), { recursive: true, force: true });
    this.#onComplete(this);
  }
}

export class SignedRepo {
  /** The directory to serve: holds dists/ and pool/ only. */
  readonly root: string;
  /** Binary public keyring for `signed-by=`. */
  readonly keyringPath: string;
  readonly keyring: GpgKeyring;
  readonly suite: string;
  readonly codename: string;
  readonly component: string;
  readonly arch: string;
  readonly #base: string;
  readonly #layout: RepoLayout;
  readonly #ownsKeyring: boolean;
  #current: RepoGeneration | undefined;
  /** The newest staged generation, which the next change starts from. */
  #latest: RepoGeneration | undefined;

  private constructor(base: string, layout: RepoLayout, keyring: GpgKeyring, ownsKeyring: boolean) {
    this.#base = base;
    this.#layout = layout;
    this.root = layout.root;
    this.suite = layout.suite;
    this.codename = layout.codename;
    this.component = layout.component;
    this.arch = layout.arch;
    this.keyring = keyring;
    this.keyringPath = keyring.publicKeyringPath;
    this.#ownsKeyring = ownsKeyring;
  }

  /** Builds the repository and publishes generation 1. */
  static async create(options: SignedRepoOptions = {}): Promise<SignedRepo> {
    const base = await makeTempDir('repo');
    const keyring =
      options.keyring ??
      (await GpgKeyring.generate().catch(async (error: unknown) => {
        await removeDir(base);
        throw error;
      }));
    const suite = options.suite ?? 'stable';
    const layout: RepoLayout = {
      root: join(base, 'repo'),
      staging: join(base, 'staging'),
      suite,
      codename: options.codename ?? suite,
      component: options.component ?? 'main',
      arch: options.arch ?? 'amd64',
      withByHash: options.withByHash ?? true,
      compressions: options.compressions ?? ['none', 'gz', 'xz'],
      origin: options.origin ?? 'Hoard Test',
      label: options.label ?? 'Hoard Test',
      debCompression: options.debCompression ?? 'auto',
    };
    const repo = new SignedRepo(base, layout, keyring, options.keyring === undefined);
    try {
      await mkdir(layout.root, { recursive: true });
      await repo.publish({
        add: options.packages ?? [],
        ...(options.date === undefined ? {} : { date: options.date }),
        ...(options.validUntil === undefined ? {} : { validUntil: options.validUntil }),
      });
    } catch (error) {
      await repo.cleanup();
      throw error;
    }
    return repo;
  }

  /** The current (last completed) generation. */
  get generation(): RepoGeneration {
    if (this.#current === undefined) throw new Error('the repository has no completed generation yet');
    return this.#current;
  }

  get packages(): readonly RepoPackage[] {
    return this.generation.packages;
  }

  package(name: string): RepoPackage {
    return this.generation.package(name);
  }

  get indexFiles(): readonly IndexFile[] {
    return this.generation.indexFiles;
  }

  /** `dists/<suite>/<rest>`, the root-relative path of a file of this suite. */
  distPath(rest: string): string {
    return `dists/${this.suite}/${rest}`;
  }

  /** Local file for a root-relative path. */
  localPath(relativePath: string): string {
    return join(this.root, relativePath);
  }

  /** Builds and publishes a new generation in one go. */
  async publish(change: GenerationChange = {}): Promise<RepoGeneration> {
    const generation = await this.stage(change);
    await generation.complete();
    return generation;
  }

  /**
   * Builds a new generation (packages, indices, signatures) without touching the served tree;
   * call its write steps or `complete()` to publish it.
   */
  async stage(change: GenerationChange = {}): Promise<RepoGeneration> {
    const layout = this.#layout;
    const previous = this.#latest;
    const number = (previous?.number ?? 0) + 1;
    const date = nextDate(change.date, previous?.date);
    const validUntil = change.validUntil === null ? undefined : (change.validUntil ?? previous?.validUntil);

    const added = change.add ?? [];
    for (const spec of added) checkDebPackageSpec(spec);
    const addedNames = new Set(added.map((p) => p.name));
    if (addedNames.size !== added.length) throw new Error('a generation change adds the same package name twice');
    const removed = new Set(change.remove ?? []);
    const kept = (previous?.packages ?? []).filter((p) => !addedNames.has(p.name) && !removed.has(p.name));

    const stagingDir = join(layout.staging, `gen-${number}`);
    const stagedDebs = new Map<string, string>();
    const built = await mapBounded(added, 2, async (spec) => {
      const arch = spec.arch ?? layout.arch;
      const poolPath = `pool/${layout.component}/${poolLetter(spec.name)}/${spec.name}/${debFileName(spec.name, spec.version, arch)}`;
      const stagedPath = join(stagingDir, poolPath);
      const deb = await buildDebPackage(spec, arch, stagedPath, layout.debCompression);
      stagedDebs.set(poolPath, stagedPath);
      const pkg: RepoPackage = { ...deb, filePath: join(layout.root, poolPath), poolPath, generation: number };
      return pkg;
    });
    const packages = [...kept, ...built].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    const packagesText = Buffer.from(renderPackages(packages.filter((p) => p.arch === layout.arch || p.arch === 'all')), 'utf8');
    const indexDir = `${layout.component}/binary-${layout.arch}`;
    const variants: { suffix: string; compression: IndexCompression; bytes: Buffer }[] = [
      { suffix: '', compression: 'none', bytes: packagesText },
      ...(layout.compressions.includes('gz') ? [{ suffix: '.gz', compression: 'gz' as const, bytes: gzipSync(packagesText, { level: 9 }) }] : []),
      ...(layout.compressions.includes('xz') ? [{ suffix: '.xz', compression: 'xz' as const, bytes: await xz(packagesText) }] : []),
    ];
    const indexBytes = new Map<string, Buffer>();
    const indexFiles: IndexFile[] = variants.map((v) => {
      const releasePath = `${indexDir}/Packages${v.suffix}`;
      const path = `dists/${layout.suite}/${releasePath}`;
      const digests = digestsOf(v.bytes);
      indexBytes.set(path, v.bytes);
      return {
        path,
        releasePath,
        size: v.bytes.length,
        ...digests,
        byHashPath: layout.withByHash ? `dists/${layout.suite}/${indexDir}/by-hash/SHA256/${digests.sha256}` : undefined,
        onDisk: v.compression !== 'none' || layout.compressions.includes('none'),
      };
    });

    const releaseEntries: ReleaseFileEntry[] = indexFiles.map((f) => ({ path: f.releasePath, size: f.size, md5: f.md5, sha256: f.sha256 }));
    const release = Buffer.from(
      renderRelease({
        origin: layout.origin,
        label: layout.label,
        suite: layout.suite,
        codename: layout.codename,
        date,
        validUntil,
        architectures: [layout.arch],
        components: [layout.component],
        description: `hoard test repository, generation ${number}`,
        acquireByHash: layout.withByHash,
        files: releaseEntries,
      }),
      'utf8',
    );
    const signer = change.signWith ?? this.keyring;
    const [inRelease, releaseGpg] = await Promise.all([signer.clearsign(release), signer.detachSign(release)]);

    const generation = new RepoGeneration({
      number,
      date,
      validUntil,
      packages,
      indexFiles,
      indexBytes,
      stagedDebs,
      release,
      inRelease,
      releaseGpg,
      layout,
      onComplete: (completed) => {
        if (this.#current === undefined || completed.number > this.#current.number) this.#current = completed;
      },
    });
    this.#latest = generation;
    return generation;
  }

  /** Deletes everything, and the signing key if the repository made it. */
  async cleanup(): Promise<void> {
    await removeDir(this.#base);
    if (this.#ownsKeyring) await this.keyring.dispose();
  }
}

/** Debian's pool sharding: `libfoo` goes under `libf/`, everything else under its first letter. */
export function poolLetter(name: string): string {
  return name.startsWith('lib') && name.length > 3 ? name.slice(0, 4) : name.slice(0, 1);
}

function nextDate(requested: Date | undefined, previous: Date | undefined): Date {
  if (requested !== undefined) return requested;
  const now = Math.floor(Date.now() / 1000) * 1000;
  // Last-Modified has one-second resolution: two generations in the same second would look
  // identical to If-Modified-Since. apt tolerates a Date up to 10 s ahead (Acquire::Max-FutureTime).
  return new Date(previous === undefined ? now : Math.max(now, previous.getTime() + 1000));
}

async function xz(bytes: Buffer): Promise<Buffer> {
  return (await runChecked('xz', ['--compress', '--stdout', '-6', '-T1'], { input: bytes, timeoutMs: 60_000 })).stdoutBytes;
}

/** Write to a temp name then rename, so a server never serves a half-written file. */
async function writeAtomically(path: string, bytes: Uint8Array, mtime: Date): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, bytes);
  await utimes(temp, mtime, mtime);
  await rename(temp, path);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
