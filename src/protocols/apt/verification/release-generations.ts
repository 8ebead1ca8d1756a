// Per release directory: the current generation (a verified Release's table), the ones it replaced, and any being admitted.
import type { HashAlgorithm } from '../hash-algorithm.ts';
import { type ReleaseEntry, type ReleaseFile, resolveByHash } from '../release-file.ts';

/** How a generation's Release was vouched for; files it lists inherit this. */
export type GenerationTrust = 'authenticated' | 'hash-verified';

/** One Release as published at one time: the table of index files it lists, and what proves it. */
export interface Generation {
  /** Increases with every generation built by this process; orders generations of the same directory. */
  readonly seq: number;
  readonly upstream: string;
  /** Directory of the Release file, with a trailing slash (`/debian/dists/bookworm/`). */
  readonly releaseDir: string;
  /** The request path the Release came from (InRelease or Release). */
  readonly releasePath: string;
  readonly releaseDigest: string;
  /** SHA-256 of the Release.gpg checked with a detached Release; undefined for InRelease. */
  readonly signatureDigest: string | undefined;
  readonly release: ReleaseFile;
  readonly trust: GenerationTrust;
  /** Fingerprint of the trusted key that signed, when authenticated. */
  readonly signer: string | undefined;
  /** Uncompressed names of the Packages/Sources indices already read into the package table. */
  readonly parsedIndices: Set<string>;
}

/** A file of a generation found by one of its hashes. */
export interface GenerationFile {
  readonly generation: Generation;
  /** Path relative to the release directory, e.g. `main/binary-amd64/Packages.xz`. */
  readonly path: string;
  readonly entry: ReleaseEntry;
}

/**
 * Generations kept after being replaced. apt fetches a Release and then, seconds later, the indices
 * it lists, possibly by their by-hash names: a client that got the Release just before a switch
 * still asks for the old ones. Debian RepositoryFormat, by-hash: archives keep superseded index
 * files under by-hash for a while for exactly this reason; hoard keeps vouching for them as long.
 */
export const keptPreviousGenerations = 3;

interface DirectoryState {
  current: Generation | undefined;
  /** Newest first. */
  previous: Generation[];
  /** Generations whose admission is under way: they vouch for by-hash names only. */
  candidates: Generation[];
}

export class ReleaseGenerations {
  readonly #dirs = new Map<string, DirectoryState>();
  #seq = 0;
  /** retainedDigests() as last computed; dropped whenever a generation is installed or a candidate comes or goes. */
  #retained: Set<string> | undefined;

  nextSeq(): number {
    this.#seq += 1;
    return this.#seq;
  }

  current(upstream: string, releaseDir: string): Generation | undefined {
    return this.#dirs.get(dirKey(upstream, releaseDir))?.current;
  }

  previous(upstream: string, releaseDir: string): readonly Generation[] {
    return this.#dirs.get(dirKey(upstream, releaseDir))?.previous ?? [];
  }

  /** Every current generation, for rebuilding and for reports. */
  *currents(): Iterable<Generation> {
    for (const state of this.#dirs.values()) if (state.current !== undefined) yield state.current;
  }

  /**
   * Makes `generation` current for its directory; the one it replaces joins the previous ones
   * (unless it is the same Release table, re-signed or re-fetched, which simply gives way). Returns
   * the generations dropped from the kept list.
   */
  install(generation: Generation): Generation[] {
    const state = this.#state(generation.upstream, generation.releaseDir);
    this.#retained = undefined;
    const replaced = state.current;
    state.current = generation;
    state.candidates = state.candidates.filter((c) => c !== generation);
    if (replaced === undefined || replaced === generation) return [];
    if (sameTable(replaced.release, generation.release)) {
      // Same files: what was parsed from them still holds.
      for (const name of replaced.parsedIndices) generation.parsedIndices.add(name);
      return [];
    }
    state.previous.unshift(replaced);
    return state.previous.splice(keptPreviousGenerations);
  }

  addCandidate(generation: Generation): void {
    this.#retained = undefined;
    this.#state(generation.upstream, generation.releaseDir).candidates.push(generation);
  }

  removeCandidate(generation: Generation): void {
    const state = this.#dirs.get(dirKey(generation.upstream, generation.releaseDir));
    this.#retained = undefined;
    if (state !== undefined) state.candidates = state.candidates.filter((c) => c !== generation);
  }

  /**
   * The file a by-hash name stands for (`main/binary-amd64/by-hash/SHA256/<hex>`, relative to the
   * release directory), from the current generation, then those being admitted, then the previous
   * ones: a by-hash name is its content, so any generation that lists it may vouch for it.
   */
  findByHash(upstream: string, releaseDir: string, byHashRelative: string): GenerationFile | undefined {
    const state = this.#dirs.get(dirKey(upstream, releaseDir));
    if (state === undefined) return undefined;
    const ordered = [...(state.current === undefined ? [] : [state.current]), ...state.candidates, ...state.previous];
    for (const generation of ordered) {
      const [target] = resolveByHash(generation.release, byHashRelative);
      if (target !== undefined) return { generation, path: target.path, entry: target.entry };
    }
    return undefined;
  }

  /** Files of the current generation with this digest (several names can share content). */
  currentFilesWithDigest(upstream: string, releaseDir: string, algorithm: HashAlgorithm, hex: string): GenerationFile[] {
    const generation = this.current(upstream, releaseDir);
    if (generation === undefined) return [];
    const key = algorithm === 'SHA256' ? 'sha256' : algorithm === 'SHA512' ? 'sha512' : algorithm === 'SHA1' ? 'sha1' : 'md5';
    const found: GenerationFile[] = [];
    for (const [path, entry] of generation.release.files) if (entry[key] === hex) found.push({ generation, path, entry });
    return found;
  }

  /** SHA-256 digests of every index file listed by a kept generation: what eviction must not take. */
  retainedDigests(): ReadonlySet<string> {
    if (this.#retained !== undefined) return this.#retained;
    const digests = new Set<string>();
    for (const state of this.#dirs.values()) {
      for (const generation of [...(state.current === undefined ? [] : [state.current]), ...state.previous, ...state.candidates]) {
        if (generation.signatureDigest !== undefined) digests.add(generation.signatureDigest);
        digests.add(generation.releaseDigest);
        for (const entry of generation.release.files.values()) if (entry.sha256 !== undefined) digests.add(entry.sha256);
      }
    }
    this.#retained = digests;
    return digests;
  }

  #state(upstream: string, releaseDir: string): DirectoryState {
    const key = dirKey(upstream, releaseDir);
    let state = this.#dirs.get(key);
    if (state === undefined) {
      state = { current: undefined, previous: [], candidates: [] };
      this.#dirs.set(key, state);
    }
    return state;
  }
}

export function dirKey(upstream: string, releaseDir: string): string {
  return upstream + releaseDir;
}

/** True when both Releases list the same files with the same sizes and SHA-256 (or, lacking it, MD5) digests. */
export function sameTable(a: ReleaseFile, b: ReleaseFile): boolean {
  if (a.files.size !== b.files.size) return false;
  for (const [path, entry] of a.files) {
    const other = b.files.get(path);
    if (other === undefined || other.size !== entry.size || other.sha256 !== entry.sha256 || other.md5 !== entry.md5) return false;
  }
  return true;
}
