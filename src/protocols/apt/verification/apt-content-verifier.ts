// The ContentVerifier of apt repositories: Release signatures, the Release -> index -> package hash chain, generation switches.
import type { Logger } from 'pino';
import type { AdmitCandidate, AdmitDecision, ContentVerifier, Expectation, ObjectFetch } from '../../../cache/content-verifier.ts';
import { HoardError, isHoardError } from '../../../errors.ts';
import { publishVerification } from '../../../events.ts';
import { AptFormatError } from '../apt-format-error.ts';
import { canDecompress, compressionOf, defaultMaxIndexExpandedBytes, uncompressedName, type Compression } from '../index-compression.ts';
import { archiveRoot } from '../package-index.ts';
import { classifyAptPath, type AptPathClass } from '../path-class.ts';
import { byHashPath, parseRelease, type ReleaseFile } from '../release-file.ts';
import type { BlobStore } from '../../../storage/blob-store.ts';
import type { MetadataIndex, ObjectEntry, Verification } from '../../../storage/metadata-index.ts';
import { PackageHashTable, indexKindOf, readPackageIndex, type IndexKind, type KnowledgeLimits } from './package-hash-table.ts';
import { ReleaseGenerations, dirKey, sameTable, type Generation } from './release-generations.ts';
import type { SignatureOutcome } from './release-signature-checker.ts';
import type { SignatureChecker } from './signature-checker.ts';

export interface AptContentVerifierOptions {
  readonly blobs: Pick<BlobStore, 'stat' | 'createReadStream'>;
  readonly index: Pick<MetadataIndex, 'findByPath' | 'byDigest' | 'get'>;
  readonly signatures: SignatureChecker;
  readonly logger: Logger;
  /** Refuse (403) whatever a trusted signature does not cover. */
  readonly strict: boolean;
  /** Longest a package request waits for an index still being read before it is answered with what is known. Default 10 s. */
  readonly knowledgeWaitMs?: number;
  /** Ceiling on the plain size an index is read to where its Release lists none (`apt.maxIndexExpandedSize`). */
  readonly maxIndexExpandedSize?: number;
  /** Budgets of the package table; the defaults are explained in package-hash-table.ts. */
  readonly knowledgeLimits?: Partial<KnowledgeLimits>;
}

/** Release files are small (Debian's largest InRelease is a few hundred KB); more is not a Release. */
const maxReleaseBytes = 32 * 1024 * 1024;
/** Index files fetched at once while checking that a new generation can be served. */
const prefetchConcurrency = 4;
/**
 * Package indices read at once. Reading is decompression and parsing on the one JavaScript thread, so
 * more at once finish no sooner; each read stages up to its knowledge budget, so fewer bound memory.
 */
const indexReadConcurrency = 2;
/** Indices remembered as failing a bound, so that neither a new Release nor another name for the same bytes reads them again. */
const maxRememberedBoundFailures = 1024;

interface BuiltGeneration {
  readonly outcome: SignatureOutcome;
  /** Undefined when the signature is invalid or malformed: such a Release is never read. */
  readonly generation: Generation | undefined;
}

export class AptContentVerifier implements ContentVerifier {
  readonly #o: AptContentVerifierOptions;
  readonly #generations = new ReleaseGenerations();
  readonly #packages: PackageHashTable;
  /** Generations that `admit` accepted, made current by `learn` once the Release is stored. */
  readonly #admitted = new Map<string, Generation>();
  /** One admission at a time per release directory. */
  readonly #locks = new Map<string, Promise<void>>();
  /** Release directories whose new Release is being admitted (its Release.gpg is then fetched afresh). */
  readonly #admitting = new Set<string>();
  /** Index reads in progress, by upstream: package requests wait for them (bounded). */
  readonly #reads = new Map<string, Set<Promise<void>>>();
  /** Index reads running now, and those waiting for a turn (`indexReadConcurrency`). */
  #readsRunning = 0;
  readonly #readTurns: (() => void)[] = [];
  /** `digest:bound` of indices that failed a bound: deterministic for those bytes, so never read again. */
  readonly #boundFailures = new Set<string>();
  #startup: Promise<void> | undefined;
  #ready = false;

  constructor(options: AptContentVerifierOptions) {
    this.#o = options;
    this.#packages = new PackageHashTable(options.knowledgeLimits);
  }

  /**
   * Rebuilds the knowledge from what the store holds: each stored Release (signature checked again)
   * becomes its directory's current generation, and the Packages/Sources it lists are read in the
   * background. Releases are done when this resolves; requests meanwhile wait for it.
   */
  start(): Promise<void> {
    this.#startup ??= this.#rebuild()
      .catch((err: unknown) => this.#o.logger.error({ err }, 'could not rebuild repository knowledge from the store'))
      .finally(() => {
        this.#ready = true;
      });
    return this.#startup;
  }

  /** Resolves when no index is being read (tests, and `hoard verify`). */
  async whenIdle(): Promise<void> {
    await this.#startup;
    for (;;) {
      const all = [...this.#reads.values()].flatMap((set) => [...set]);
      if (all.length === 0) return;
      await Promise.all(all);
    }
  }

  /**
   * For eviction and gc (the janitor's ReferenceOracle): true when a kept generation or a current
   * package index lists these bytes under this name, false when the knowledge says they are gone
   * (an index no kept generation lists, a package rebuilt since), undefined when nothing is known.
   */
  isReferenced(entry: ObjectEntry): boolean | undefined {
    const place = classifyAptPath(entry.path);
    if (place === undefined || place.releaseDir === undefined) {
      if (place?.kind !== 'package') return undefined;
      const known = this.#packages.lookup(entry.upstream, entry.path);
      return known?.sha256 === undefined ? undefined : known.sha256 === entry.digest;
    }
    const current = this.#generations.current(entry.upstream, place.releaseDir);
    if (current === undefined) return undefined;
    if (this.#generations.retainedDigests().has(entry.digest)) return true;
    // Release files are replaced under their own name: the stored one is whichever was last admitted.
    if (place.kind === 'release') return undefined;
    return false;
  }

  /** Counts for logs and the dashboard. */
  stats(): { generations: number; packages: number } {
    return { generations: [...this.#generations.currents()].length, packages: this.#packages.size };
  }

  expect(upstream: string, path: string): Expectation | undefined | Promise<Expectation | undefined> {
    if (!this.#ready && this.#startup !== undefined) return this.#startup.then(() => this.expect(upstream, path));
    const place = classifyAptPath(path);
    if (place?.kind === 'release') return this.#expectRelease(upstream, path, place);
    if (place?.kind === 'package') {
      const reading = this.#readsOf(upstream);
      if (reading !== undefined) return within(reading, this.#o.knowledgeWaitMs ?? 10_000).then(() => this.#strict(path, this.#expectPackage(upstream, path)));
      return this.#strict(path, this.#expectPackage(upstream, path));
    }
    return this.#strict(path, place === undefined ? undefined : this.#expectIndexFile(upstream, path, place));
  }

  async admit(candidate: AdmitCandidate, fetch: ObjectFetch): Promise<AdmitDecision> {
    await this.#startup;
    const place = classifyAptPath(candidate.path);
    if (place?.kind === 'release' && place.releaseDir !== undefined && !candidate.path.endsWith('/Release.gpg')) {
      const dir = place.releaseDir;
      return this.#locked(dirKey(candidate.upstream, dir), () => this.#admitRelease(candidate, dir, fetch));
    }
    // A signature file proves nothing alone and harms nothing: the Release it signs is what is judged.
    if (candidate.path.endsWith('/Release.gpg')) return { admit: true, verification: 'unverified' };
    const expectation =
      place === undefined
        ? undefined
        : place.kind === 'package'
          ? this.#expectPackage(candidate.upstream, candidate.path)
          : this.#expectIndexFile(candidate.upstream, candidate.path, place);
    // What vouches for these exact bytes now (the generation may have switched since the request began).
    const verification: Verification = expectation?.sha256 !== undefined && expectation.sha256 === candidate.digest ? expectation.verification : 'unverified';
    if (this.#o.strict && verification !== 'authenticated') return { admit: false, reason: 'strict mode: no trusted signature covers these bytes' };
    return { admit: true, verification };
  }

  async learn(upstream: string, path: string, digest: string): Promise<void> {
    const place = classifyAptPath(path);
    if (place === undefined || place.releaseDir === undefined || place.releaseRelative === undefined) return;
    if (place.kind === 'release') {
      const key = upstream + path + '\n' + digest;
      const generation = this.#admitted.get(key);
      this.#admitted.delete(key);
      if (generation !== undefined) this.#install(generation);
      return;
    }
    const generation = this.#generations.current(upstream, place.releaseDir);
    if (generation === undefined) return;
    if (place.kind === 'by-hash' && place.byHash !== undefined) {
      for (const file of this.#generations.currentFilesWithDigest(upstream, place.releaseDir, place.byHash.algorithm, place.byHash.hex)) {
        if (file.entry.sha256 === digest) this.#scheduleRead(generation, file.path, digest);
      }
    } else if (place.kind === 'index' && generation.release.files.get(place.releaseRelative)?.sha256 === digest) {
      this.#scheduleRead(generation, place.releaseRelative, digest);
    }
    await Promise.resolve();
  }

  // --- expectations -------------------------------------------------------------------------------

  #expectRelease(upstream: string, path: string, place: AptPathClass): Expectation | undefined {
    const dir = place.releaseDir ?? '';
    const generation = this.#generations.current(upstream, dir);
    if (path.endsWith('/Release.gpg')) {
      // Bound to the Release it signs: the copy matching the current generation is the one to serve,
      // so a refused newer Release never pairs with its newer signature. While a Release is being
      // admitted its signature is fetched afresh, so nothing is expected then.
      if (generation?.signatureDigest === undefined || this.#admitting.has(dirKey(upstream, dir))) return undefined;
      return { sha256: generation.signatureDigest, verification: generation.trust };
    }
    return { verification: generation?.trust ?? 'unverified', awaitAdmission: true };
  }

  #expectIndexFile(upstream: string, path: string, place: AptPathClass): Expectation | undefined {
    const dir = place.releaseDir;
    const relative = place.releaseRelative;
    if (dir === undefined || relative === undefined) return undefined;
    if (place.kind === 'by-hash') {
      const byHash = place.byHash;
      const found = this.#generations.findByHash(upstream, dir, relative);
      // A SHA256 by-hash name is its content's digest: checkable even when no Release lists it.
      if (found === undefined) return byHash?.algorithm === 'SHA256' ? { sha256: byHash.hex, verification: 'unverified' } : undefined;
      const named = dir + found.path;
      return {
        sha256: found.entry.sha256 ?? (byHash?.algorithm === 'SHA256' ? byHash.hex : undefined),
        size: found.entry.size,
        verification: found.generation.trust,
        teaches: teaches(found.path),
        // Debian RepositoryFormat, by-hash: without Acquire-By-Hash the archive has no by-hash copies,
        // so hoard's by-hash entries (made while checking a new generation) are fetched by name.
        upstreamPaths: found.generation.release.acquireByHash ? [path, named] : [named],
      };
    }
    const generation = this.#generations.current(upstream, dir);
    const entry = generation?.release.files.get(relative);
    if (generation === undefined || entry === undefined) return undefined;
    return {
      sha256: entry.sha256,
      size: entry.size,
      verification: generation.trust,
      teaches: teaches(relative),
      // Asked by name, fetched by hash first: the by-hash copy is exactly the generation the client
      // holds, even when the named file upstream already belongs to the next one (mirror mid-update).
      upstreamPaths: generation.release.acquireByHash && entry.sha256 !== undefined ? [dir + byHashPath(relative, 'SHA256', entry.sha256), path] : undefined,
    };
  }

  #expectPackage(upstream: string, path: string): Expectation | undefined {
    const known = this.#packages.lookup(upstream, path);
    if (known === undefined) return undefined;
    return { sha256: known.sha256, size: known.size, verification: known.trust };
  }

  #strict(path: string, expectation: Expectation | undefined): Expectation | undefined {
    if (!this.#o.strict || expectation?.verification === 'authenticated') return expectation;
    const why = expectation === undefined ? 'no verified index lists this file' : 'the Release listing it is not signed by a trusted key';
    throw new HoardError('HOARD_ERR_NOT_AUTHENTICATED', `strict mode: ${path} is refused, ${why}`);
  }

  // --- admitting a Release ------------------------------------------------------------------------

  async #admitRelease(candidate: AdmitCandidate, dir: string, fetch: ObjectFetch): Promise<AdmitDecision> {
    const { upstream, path, digest } = candidate;
    const key = dirKey(upstream, dir);
    this.#admitting.add(key);
    try {
      let built: BuiltGeneration;
      try {
        built = await this.#buildGeneration(upstream, dir, path, digest, fetch);
      } catch (err) {
        const reason = `not a readable Release file: ${err instanceof Error ? err.message : String(err)}`;
        this.#o.logger.warn({ upstream, path, reason }, 'Release not admitted');
        publishVerification({ upstream, path, failure: 'release-format', detail: reason });
        return { admit: false, reason };
      }
      const { outcome, generation } = built;
      if (generation === undefined) {
        // An invalid signature by a trusted key: tampered or corrupt. Never stored, never trusted;
        // the client still gets the upstream's bytes so that apt reports the bad signature itself.
        const reason =
          outcome.status === 'invalid'
            ? `signature by trusted key ${outcome.signer} is invalid (${outcome.reason})`
            : `signature is unreadable (${outcome.status === 'malformed' ? outcome.reason : outcome.status})`;
        this.#o.logger.error({ upstream, path, reason }, 'Release signature check failed; keeping the previous Release');
        publishVerification({ upstream, path, failure: 'signature', detail: reason });
        return { admit: false, reason };
      }
      if (generation.trust !== 'authenticated') {
        const why = describeUntrusted(outcome);
        if (this.#o.strict) {
          return {
            admit: false,
            reason: why,
            serve: 'refuse',
            error: new HoardError('HOARD_ERR_NOT_AUTHENTICATED', `strict mode: ${path} is refused, ${why}`),
          };
        }
        this.#o.logger.warn({ upstream, path, reason: why }, 'Release not signed by a trusted key: its files are checked by hash only');
      }
      const current = this.#generations.current(upstream, dir);
      if (current !== undefined && !sameTable(current.release, generation.release)) {
        const missing = await this.#obtainUsedIndices(current, generation, fetch);
        if (missing.length > 0) {
          const reason = `the upstream's new Release lists indices it does not serve yet: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`;
          this.#o.logger.warn({ upstream, path, missing }, 'new Release not admitted (mirror mid-update?); still serving the previous one');
          publishVerification({ upstream, path, failure: 'incomplete-generation', detail: reason });
          return { admit: false, reason, serve: 'previous' };
        }
      }
      if (this.#admitted.size > 256) this.#admitted.delete(this.#admitted.keys().next().value as string);
      this.#admitted.set(upstream + path + '\n' + digest, generation);
      return { admit: true, verification: generation.trust };
    } finally {
      this.#admitting.delete(key);
    }
  }

  /**
   * Makes sure every index file of `current` that hoard holds (what clients use) can be served in
   * `next` with next's hashes: already stored, or fetched now (by-hash first) and verified. Returns
   * the files that could not be obtained; an empty list means the switch may happen.
   */
  async #obtainUsedIndices(current: Generation, next: Generation, fetch: ObjectFetch): Promise<string[]> {
    const needed: { path: string; sha256: string; size: number }[] = [];
    for (const [path, old] of current.release.files) {
      if (old.sha256 === undefined || !this.#o.index.byDigest(old.sha256).some((e) => e.upstream === current.upstream)) continue;
      const fresh = next.release.files.get(path);
      // Dropped from the new generation (or unchanged): nothing to fetch for it.
      if (fresh?.sha256 === undefined || fresh.sha256 === old.sha256) continue;
      needed.push({ path, sha256: fresh.sha256, size: fresh.size });
    }
    if (needed.length === 0) return [];
    // While admitted, the candidate vouches for its by-hash names, which is what is fetched here.
    this.#generations.addCandidate(next);
    try {
      const missing: string[] = [];
      await forEachBounded(needed, prefetchConcurrency, async (file) => {
        if (this.#o.index.byDigest(file.sha256).some((e) => e.size === file.size)) return;
        const outcome = await fetch(next.releaseDir + byHashPath(file.path, 'SHA256', file.sha256));
        if (!outcome.ok) missing.push(`${file.path} (${outcome.reason})`);
        else if (outcome.digest !== file.sha256) missing.push(`${file.path} (other bytes)`);
      });
      return missing.sort();
    } finally {
      this.#generations.removeCandidate(next);
    }
  }

  async #buildGeneration(upstream: string, dir: string, path: string, digest: string, signatureSource: ObjectFetch | 'stored'): Promise<BuiltGeneration> {
    const bytes = await this.#readBlob(digest);
    const text = bytes.toString('utf8');
    let outcome: SignatureOutcome;
    let signatureDigest: string | undefined;
    if (path.endsWith('/InRelease')) {
      outcome = await this.#o.signatures.checkClearsigned(text);
    } else {
      const signature = await this.#releaseSignature(upstream, dir, signatureSource);
      signatureDigest = signature?.digest;
      outcome = signature === undefined ? { status: 'unsigned' } : await this.#o.signatures.checkDetached(bytes, signature.bytes);
    }
    if (outcome.status === 'invalid' || outcome.status === 'malformed') return { outcome, generation: undefined };
    // Only the text a trusted signature covers is read, never what surrounds it.
    const release: ReleaseFile = parseRelease(outcome.status === 'valid' ? outcome.signedText : text);
    const generation: Generation = {
      seq: this.#generations.nextSeq(),
      upstream,
      releaseDir: dir,
      releasePath: path,
      releaseDigest: digest,
      signatureDigest,
      release,
      trust: outcome.status === 'valid' ? 'authenticated' : 'hash-verified',
      signer: outcome.status === 'valid' ? outcome.signer : undefined,
      parsedIndices: new Set(),
    };
    return { outcome, generation };
  }

  /** The Release.gpg beside a Release: fetched afresh when admitting, or the stored one when rebuilding. */
  async #releaseSignature(upstream: string, dir: string, source: ObjectFetch | 'stored'): Promise<{ digest: string; bytes: Buffer } | undefined> {
    const path = `${dir}Release.gpg`;
    try {
      if (source === 'stored') {
        const entry = this.#o.index.get(upstream + path);
        return entry === undefined ? undefined : { digest: entry.digest, bytes: await this.#readBlob(entry.digest) };
      }
      const fetched = await source(path, { revalidate: true });
      return fetched.ok ? { digest: fetched.digest, bytes: await this.#readBlob(fetched.digest) } : undefined;
    } catch (err) {
      this.#o.logger.warn({ upstream, path, err }, 'could not read Release.gpg');
      return undefined;
    }
  }

  // --- knowledge ----------------------------------------------------------------------------------

  #install(generation: Generation): void {
    this.#generations.install(generation);
    this.#o.logger.info(
      {
        upstream: generation.upstream,
        releaseDir: generation.releaseDir,
        trust: generation.trust,
        signer: generation.signer,
        files: generation.release.files.size,
      },
      'release generation is current',
    );
    this.#track(generation.upstream, this.#readStoredIndices(generation));
  }

  /** Schedules reading the Packages/Sources of `generation` that the store already holds (one compression each). */
  async #readStoredIndices(generation: Generation): Promise<void> {
    // Cheapest to decode first; every variant has the same content.
    const order: Compression[] = ['none', 'gz', 'zst', 'xz'];
    const byBase = new Map<string, { path: string; sha256: string; rank: number }>();
    for (const [path, entry] of generation.release.files) {
      const base = uncompressedName(path);
      const compression = compressionOf(path);
      if (entry.sha256 === undefined || indexKindOf(base) === undefined || !canDecompress(compression)) continue;
      const info = await this.#o.blobs.stat(entry.sha256);
      if (info?.size !== entry.size) continue;
      const rank = order.indexOf(compression);
      const best = byBase.get(base);
      if (best === undefined || rank < best.rank) byBase.set(base, { path, sha256: entry.sha256, rank });
    }
    for (const { path, sha256 } of byBase.values()) this.#scheduleRead(generation, path, sha256);
  }

  #scheduleRead(generation: Generation, path: string, digest: string): void {
    const base = uncompressedName(path);
    const kind = indexKindOf(base);
    const compression = compressionOf(path);
    if (kind === undefined || !canDecompress(compression) || generation.parsedIndices.has(base)) return;
    generation.parsedIndices.add(base);
    this.#track(generation.upstream, this.#readIndex(generation, path, digest, kind, compression));
  }

  async #readIndex(generation: Generation, path: string, digest: string, kind: IndexKind, compression: Compression): Promise<void> {
    const index = generation.releaseDir + path;
    const ceiling = this.#o.maxIndexExpandedSize ?? defaultMaxIndexExpandedBytes;
    // Debian RepositoryFormat, "Release" files: the checksum fields list each index under its
    // uncompressed name too, with the size it expands to, even when only compressed variants exist.
    const listed = generation.release.files.get(uncompressedName(path))?.size;
    const maxExpandedBytes = listed === undefined ? ceiling : Math.min(listed, ceiling);
    const failureKey = `${digest}:${maxExpandedBytes}`;
    if (this.#boundFailures.has(failureKey)) return;
    await this.#readTurn();
    const started = performance.now();
    try {
      if (this.#boundFailures.has(failureKey)) return;
      const root = archiveRoot(generation.releaseDir);
      const parsed = await readPackageIndex(this.#o.blobs.createReadStream(digest), compression, kind, {
        maxExpandedBytes,
        maxKnowledgeBytes: this.#o.knowledgeLimits?.perIndex,
        archiveRoot: root,
        trust: generation.trust,
      });
      // Read off the request path: by now a newer generation may list another index under this name.
      const now = this.#generations.current(generation.upstream, generation.releaseDir);
      if (now?.release.files.get(path)?.sha256 !== digest) return;
      const dropped = this.#packages.dropped;
      const count = this.#packages.learn(generation.upstream, root, parsed, now.trust);
      this.#o.logger.debug(
        { upstream: generation.upstream, index, files: count, skipped: parsed.skipped, ms: Math.round(performance.now() - started) },
        'package index read',
      );
      if (this.#packages.dropped > dropped) {
        this.#o.logger.warn(
          { upstream: generation.upstream, index, dropped: this.#packages.dropped - dropped, entries: this.#packages.size },
          'package table full: the hashes learned longest ago were dropped',
        );
      }
    } catch (err) {
      if (isHoardError(err, 'HOARD_ERR_INDEX_TOO_LARGE')) {
        // The same bytes fail the same way: the index stays marked as read and is remembered, so
        // neither start-up nor the next Release reads it again in a loop.
        if (this.#boundFailures.size >= maxRememberedBoundFailures) this.#boundFailures.delete(this.#boundFailures.values().next().value as string);
        this.#boundFailures.add(failureKey);
        this.#o.logger.error(
          { upstream: generation.upstream, index, code: err.code, err: err.message },
          'package index passes a bound and is not read; its packages are not verified by hoard',
        );
        publishVerification({ upstream: generation.upstream, path: index, failure: 'index-bound', detail: err.message });
        return;
      }
      generation.parsedIndices.delete(uncompressedName(path));
      this.#o.logger.warn({ upstream: generation.upstream, index, err }, 'could not read a package index; its packages are not verified');
    } finally {
      this.#releaseReadTurn();
    }
  }

  async #readTurn(): Promise<void> {
    if (this.#readsRunning < indexReadConcurrency) {
      this.#readsRunning += 1;
      return;
    }
    // The slot is handed over by #releaseReadTurn, so the count stays as it is.
    await new Promise<void>((resolve) => this.#readTurns.push(resolve));
  }

  #releaseReadTurn(): void {
    const next = this.#readTurns.shift();
    if (next !== undefined) next();
    else this.#readsRunning -= 1;
  }

  #track(upstream: string, work: Promise<void>): void {
    let set = this.#reads.get(upstream);
    if (set === undefined) {
      set = new Set();
      this.#reads.set(upstream, set);
    }
    const tracked: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    set.add(tracked);
    void tracked.then(() => {
      set.delete(tracked);
      if (set.size === 0 && this.#reads.get(upstream) === set) this.#reads.delete(upstream);
    });
  }

  #readsOf(upstream: string): Promise<void> | undefined {
    const set = this.#reads.get(upstream);
    if (set === undefined || set.size === 0) return undefined;
    return Promise.all([...set]).then(() => undefined);
  }

  async #rebuild(): Promise<void> {
    const started = performance.now();
    const byDir = new Map<string, { upstream: string; dir: string; entries: ObjectEntry[] }>();
    // Only the Releases are read: a search in the index, not a walk over every entry in memory.
    for (const entry of this.#o.index.findByPath({ pathEndsWith: ['/InRelease', '/Release'] })) {
      const place = classifyAptPath(entry.path);
      if (place?.kind !== 'release' || place.releaseDir === undefined || entry.path.endsWith('/Release.gpg')) continue;
      const key = dirKey(entry.upstream, place.releaseDir);
      const group = byDir.get(key) ?? { upstream: entry.upstream, dir: place.releaseDir, entries: [] };
      group.entries.push(entry);
      byDir.set(key, group);
    }
    for (const { upstream, dir, entries } of byDir.values()) {
      // apt prefers InRelease, which carries its own signature.
      entries.sort((a, b) => Number(b.path.endsWith('/InRelease')) - Number(a.path.endsWith('/InRelease')));
      for (const entry of entries) {
        const built = await this.#buildGeneration(upstream, dir, entry.path, entry.digest, 'stored').catch((err: unknown) => {
          this.#o.logger.warn({ key: entry.key, err }, 'stored Release is unreadable; skipped');
          return undefined;
        });
        if (built?.generation === undefined) continue;
        this.#install(built.generation);
        break;
      }
    }
    this.#o.logger.info({ generations: byDir.size, ms: Math.round(performance.now() - started) }, 'repository knowledge rebuilt from the store');
  }

  async #readBlob(digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.#o.blobs.createReadStream(digest)) {
      const bytes = chunk as Buffer;
      size += bytes.length;
      if (size > maxReleaseBytes) throw new AptFormatError(`larger than ${maxReleaseBytes} bytes`);
      chunks.push(bytes);
    }
    return Buffer.concat(chunks);
  }

  async #locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(key) ?? Promise.resolve();
    const run = before.then(work);
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(key, done);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === done) this.#locks.delete(key);
    }
  }
}

/** A Packages or Sources index (any compression hoard reads): `learn` reads the package hashes from it. */
function teaches(releaseRelative: string): boolean {
  return indexKindOf(uncompressedName(releaseRelative)) !== undefined && canDecompress(compressionOf(releaseRelative));
}

function describeUntrusted(outcome: SignatureOutcome): string {
  switch (outcome.status) {
    case 'unknown-key':
      return `signed by a key hoard does not trust (${outcome.keyIds.join(', ') || 'no key id'})`;
    case 'untrusted':
      return `the signature by ${outcome.signer} does not count (${outcome.reason})`;
    case 'unsigned':
      return 'not signed';
    default:
      return outcome.status;
  }
}

/** `work` settled, or `ms` passed: a wait that never holds a request forever. */
async function within(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
