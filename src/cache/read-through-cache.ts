// The read-through core: hit | miss -> one shared upstream fetch, stored only when whole | stale -> revalidate.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { HoardError, isHoardError } from '../errors.ts';
import { publishDownload, publishVerification } from '../events.ts';
import type { BlobInfo, BlobStore, BlobWriter } from '../storage/blob-store.ts';
import type { MetadataIndex, ObjectEntry } from '../storage/metadata-index.ts';
import type { Upstream, UpstreamResponse } from '../upstream/fetcher.ts';
import { upstreamErrorFrom } from '../upstream/upstream-errors.ts';
import type { CachedObject, CacheLookup, PathPolicy } from './cached-object.ts';
import type { AdmitDecision, ContentVerifier, Expectation, ObjectFetch, VerifyingProtocol } from './content-verifier.ts';
import { isFresh } from './freshness-policy.ts';
import { SharedDownload, etagFor, refuseDeclaredSize, refusingWriter, type DownloadCommit, type DownloadLimits } from './shared-download.ts';

export interface ReadThroughCacheOptions {
  blobs: BlobStore;
  index: MetadataIndex;
  clock: Clock;
  /** The protocol named by a path's policy: its verifier, and the policies of the other files it fetches. */
  protocol(name: string): VerifyingProtocol | undefined;
  logger: Logger;
  /** Seconds a mutable object is served before revalidation, where its policy names no max age of its own. */
  indexMaxAgeSeconds: number;
  notFoundTtlSeconds: number;
  /** Size and rate bounds on every download; none when absent. */
  downloadLimits?: DownloadLimits | undefined;
  /**
   * Entries other nodes of a fleet stored (storage/s3/fleet-metadata-index.ts): asked on a local miss of
   * an immutable object before the upstream is. `find` takes the entry into the local index (its blob
   * checked present) or answers undefined.
   */
  sharedEntries?: { find(key: string, now: number): Promise<ObjectEntry | undefined> } | undefined;
}

/** Download failures that say the mirror misbehaved (not the store or a client), so it goes to the back of the list. */
const upstreamFaults = new Set<string>([
  'HOARD_ERR_UPSTREAM_TRUNCATED',
  'HOARD_ERR_UPSTREAM_TIMEOUT',
  'HOARD_ERR_UPSTREAM_TOO_SLOW',
  'HOARD_ERR_UPSTREAM_UNREACHABLE',
  'HOARD_ERR_DIGEST_MISMATCH',
  'HOARD_ERR_SIZE_MISMATCH',
]);

/** Upper bound on remembered upstream 404s, so hostile clients cannot grow memory without limit. */
const maxNegativeEntries = 10_000;

/** Download failures that mean the upstream sent other bytes than the verified index (or its Content-Length) promised. */
const mismatchCodes = new Set<string>(['HOARD_ERR_DIGEST_MISMATCH', 'HOARD_ERR_SIZE_MISMATCH']);

/** How long responses for a key whose download failed its check carry no Last-Modified (see #tainted). */
const taintMs = 10 * 60 * 1000;

export interface GetOptions {
  /** Asks the upstream even when the stored copy is fresh (the verifier checking a Release's detached signature). */
  readonly revalidate?: boolean | undefined;
  /** The raw query sent upstream with the path (never part of the key); the protocol decided it may pass. */
  readonly query?: string | undefined;
  /** Request headers sent upstream, already picked by the policy's `forwardHeaders`. */
  readonly forward?: Readonly<Record<string, string>> | undefined;
  /** The client request's `Via` (a chain of caches), passed upstream so that a loop is seen where it closes. */
  readonly via?: string | undefined;
}

/** Where no protocol is known for a policy (it cannot happen through the server): nothing is vouched for. */
const unverified: ContentVerifier = {
  expect: () => undefined,
  admit: () => Promise.resolve({ admit: true, verification: 'unverified' }),
  learn: () => Promise.resolve(),
};

/** Index keys remembered per upstream (see #keyOf). */
const maxRememberedKeys = 4096;

export class ReadThroughCache {
  readonly #o: ReadThroughCacheOptions;
  readonly #downloads = new Map<string, SharedDownload>();
  /** Upstream exchanges waiting for response headers, shared by every client asking the same key. */
  readonly #pending = new Map<string, Promise<CacheLookup>>();
  readonly #notFound = new Map<string, { status: number; until: number }>();
  /**
   * Keys whose last download failed its size or hash check, until when. A client cut off such a
   * download keeps the rejected bytes as a partial file, and apt resumes it with `Range` plus
   * `If-Range: <the Last-Modified it was sent>`. Answering that with 206 would append good bytes to
   * bad ones, so for a while these keys are served without Last-Modified: a date If-Range then no
   * longer matches and the client gets the whole object (RFC 9110 13.1.5).
   */
  readonly #tainted = new Map<string, number>();
  /** Finished downloads whose followers still read the blob through the writer; eviction must wait for them. */
  readonly #draining = new Set<SharedDownload>();
  /** The verifiers' fetch for each upstream and protocol (see #fetchFor); weak, as origins come and go. */
  readonly #fetches = new WeakMap<Upstream, Map<string, ObjectFetch>>();
  /** See #stored. */
  readonly #storedObjects = new WeakMap<ObjectEntry, CachedObject>();
  /** See #keyOf. */
  readonly #keys = new WeakMap<Upstream, Map<string, string>>();

  constructor(options: ReadThroughCacheOptions) {
    this.#o = options;
  }

  /** Downloads in progress, for the dashboard. */
  activeDownloads(): Array<{ key: string; written: number; expected: number | undefined; relaying: boolean }> {
    return [...this.#downloads.values()].map((d) => ({ key: d.key, written: d.written, expected: d.meta.expectedSize, relaying: d.relaying }));
  }

  /**
   * Resolves once every download running now has ended: stored and indexed, relayed, or failed. For a
   * clean shutdown, since a client's response ends before its object's fsync and index entry.
   */
  async idle(): Promise<void> {
    // Bounded: a download deletes itself from the map a turn after it settles.
    for (let round = 0; round < 10 && this.#downloads.size > 0; round++) {
      await Promise.all([...this.#downloads.values()].map((d) => d.settled));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Blobs that clients of a just-finished download are still reading, and blobs verified but not indexed
   * yet (committing, or a Release being admitted): eviction and gc leave them alone, though no entry names them.
   */
  digestsInUse(): Set<string> {
    const digests = new Set<string>();
    for (const download of this.#downloads.values()) if (download.digest !== undefined) digests.add(download.digest);
    for (const download of this.#draining) {
      if (download.readers === 0) this.#draining.delete(download);
      else if (download.digest !== undefined) digests.add(download.digest);
    }
    return digests;
  }

  /**
   * The index key of a path, the same string each time it is asked again: the HTTP edge remembers routes,
   * so a hit comes with the same upstream and path objects, and a string V8 has hashed once is found in
   * the index's maps without hashing and compared by reference. A new concatenation per hit was hashed in
   * the index lookup, the access-time update and the newest-entry check, about 1 % of a small hit.
   */
  #keyOf(upstream: Upstream, path: string): string {
    let byPath = this.#keys.get(upstream);
    if (byPath === undefined) {
      byPath = new Map();
      this.#keys.set(upstream, byPath);
    }
    let key = byPath.get(path);
    if (key === undefined) {
      key = upstream.key + path;
      // Bounded like the routes: a scan of unique paths starts the memory over.
      if (byPath.size >= maxRememberedKeys) byPath.clear();
      byPath.set(path, key);
    }
    return key;
  }

  #verifier(policy: PathPolicy): ContentVerifier {
    return this.#o.protocol(policy.protocol)?.verifier ?? unverified;
  }

  async get(upstream: Upstream, path: string, policy: PathPolicy, options: GetOptions = {}): Promise<CacheLookup> {
    const key = this.#keyOf(upstream, path);
    // May wait while the verifier is still reading the index that covers this path, or refuse (strict).
    const expectation = await this.#verifier(policy).expect(upstream.key, path, this.#fetchFor(upstream, policy.protocol));
    const now = this.#o.clock.now();
    let entry = this.#o.index.get(key);
    // A verified index naming other bytes for this file means what is stored is not current (same name, new bytes).
    if (entry && expectation?.sha256 !== undefined && entry.digest !== expectation.sha256) entry = undefined;
    if (entry) {
      const vouched = expectation?.sha256 === entry.digest;
      const maxAgeSeconds = policy.maxAgeSeconds ?? this.#o.indexMaxAgeSeconds;
      const fresh = options.revalidate !== true && isFresh({ mutable: policy.mutable, validatedAt: entry.validatedAt, now, maxAgeSeconds });
      if (vouched || fresh) {
        this.#o.index.touch(key, now);
        return { kind: 'object', object: this.#stored(entry), source: 'hit' };
      }
    }

    // A download whose bytes wait for admission is joined through #pending, never streamed early.
    // One whose bytes are all in and verified (its durable commit still running) is a hit: this
    // request causes no upstream traffic, and the index entry follows once the commit is done.
    const running = this.#downloads.get(key);
    if (running?.joinable && expectation?.awaitAdmission !== true) return { kind: 'object', object: running, source: running.complete ? 'hit' : 'coalesced' };

    // Content-addressed reuse: the same bytes reached through another spelling of the upstream are stored once.
    if (!entry && expectation?.sha256 !== undefined) {
      const reused = await this.#reuseBlob(upstream.key, path, expectation, policy, now);
      if (reused) return { kind: 'object', object: this.#stored(reused), source: 'hit' };
      // The store lookup above yielded: another client's exchange for this key may have ended meanwhile (its
      // download running, its pending promise gone); without this look, this client would start a second one.
      const startedMeanwhile = this.#downloads.get(key);
      if (startedMeanwhile?.joinable && expectation.awaitAdmission !== true) {
        return { kind: 'object', object: startedMeanwhile, source: startedMeanwhile.complete ? 'hit' : 'coalesced' };
      }
    }

    const negative = this.#notFound.get(key);
    if (negative && negative.until > now)
      return { kind: 'status', status: negative.status, source: 'negative', reason: `upstream answered ${negative.status} (remembered)` };

    const pending = this.#pending.get(key);
    if (pending) {
      const shared = await pending;
      return shared.kind === 'object' && shared.source === 'miss' ? { ...shared, source: 'coalesced' } : shared;
    }
    const started = this.#exchange(upstream, path, policy, entry, expectation, options).finally(() => this.#pending.delete(key));
    this.#pending.set(key, started);
    return started;
  }

  async #reuseBlob(upstreamKey: string, path: string, expectation: Expectation, policy: PathPolicy, now: number): Promise<ObjectEntry | undefined> {
    const digest = expectation.sha256;
    if (digest === undefined) return undefined;
    const siblings = this.#o.index.byDigest(digest);
    const accepted = expectation.reuseFrom;
    if (accepted !== undefined && !siblings.some((e) => accepted(e.upstream))) return undefined;
    const info = await this.#o.blobs.stat(digest);
    if (!info || (expectation.size !== undefined && info.size !== expectation.size)) return undefined;
    const sibling = siblings[0];
    const entry: ObjectEntry = {
      key: upstreamKey + path,
      protocol: policy.protocol,
      upstream: upstreamKey,
      path,
      digest,
      size: info.size,
      lastModified: sibling?.lastModified,
      upstreamEtag: undefined,
      contentType: sibling?.contentType ?? policy.contentType,
      storedAt: now,
      validatedAt: now,
      lastAccessAt: now,
      verification: expectation.verification,
    };
    this.#o.index.put(entry);
    return entry;
  }

  async #exchange(
    upstream: Upstream,
    path: string,
    policy: PathPolicy,
    entry: ObjectEntry | undefined,
    expectation: Expectation | undefined,
    options: GetOptions,
  ): Promise<CacheLookup> {
    const key = upstream.key + path;
    // Another node of the fleet may have stored it: its bytes are then in the shared bucket (immutable objects only:
    // a mutable one is the upstream's to vouch for, and each node's verifier must see it itself).
    if (entry === undefined && !policy.mutable && this.#o.sharedEntries !== undefined) {
      const now = this.#o.clock.now();
      const found = await this.#o.sharedEntries.find(key, now);
      if (found !== undefined && (expectation?.sha256 === undefined || expectation.sha256 === found.digest)) {
        return { kind: 'object', object: this.#stored(found), source: 'hit' };
      }
      if (found !== undefined) this.#o.index.delete(key);
    }
    const headers: Record<string, string> = { ...options.forward };
    if (entry?.upstreamEtag !== undefined) headers['if-none-match'] = entry.upstreamEtag;
    if (entry?.lastModified !== undefined) headers['if-modified-since'] = entry.lastModified;

    let response: UpstreamResponse | undefined;
    const paths = expectation?.upstreamPaths !== undefined && expectation.upstreamPaths.length > 0 ? expectation.upstreamPaths : [path];
    for (const [i, upstreamPath] of paths.entries()) {
      try {
        response = await upstream.fetch(encodePath(upstreamPath) + (options.query ?? ''), { method: 'GET', headers, via: options.via });
      } catch (err) {
        if (entry) return this.#serveStale(entry, isHoardError(err) ? err.message : String(err));
        throw err;
      }
      // Only "not there" moves on to the next spelling; any other answer is this upstream's word.
      if ((response.status !== 404 && response.status !== 410) || i === paths.length - 1) break;
      response.body.destroy();
    }
    if (response === undefined) throw new HoardError('HOARD_ERR_INTERNAL', `no upstream path to fetch for ${key}`);

    const now = this.#o.clock.now();
    if (response.status === 304 && entry) {
      response.body.destroy();
      this.#o.index.markValidated(key, now);
      this.#o.index.touch(key, now);
      return { kind: 'object', object: this.#stored(entry), source: 'revalidated' };
    }
    if (response.status === 200) {
      return this.#startDownload(upstream, path, policy, response, entry, expectation);
    }
    response.body.destroy();
    if (response.status >= 500 && entry) return this.#serveStale(entry, `upstream answered ${response.status}`);
    if (response.status === 404 || response.status === 410) {
      if (this.#notFound.size >= maxNegativeEntries) this.#notFound.delete(this.#notFound.keys().next().value as string);
      this.#notFound.set(key, { status: response.status, until: now + this.#o.notFoundTtlSeconds * 1000 });
      // The upstream no longer has this mutable file: serving the old copy would lie about the repository.
      if (entry && policy.mutable) this.#o.index.delete(key);
    }
    return { kind: 'status', status: response.status, source: 'miss', reason: `upstream answered ${response.status}` };
  }

  #serveStale(entry: ObjectEntry, why: string): CacheLookup {
    this.#o.logger.warn({ key: entry.key, reason: why }, 'upstream unavailable; serving the cached copy');
    return { kind: 'object', object: this.#stored(entry), source: 'stale', warning: `111 hoard "Revalidation Failed: ${why.replaceAll('"', "'")}"` };
  }

  async #startDownload(
    upstream: Upstream,
    path: string,
    policy: PathPolicy,
    response: UpstreamResponse,
    previous: ObjectEntry | undefined,
    expectation: Expectation | undefined,
  ): Promise<CacheLookup> {
    const key = upstream.key + path;
    const lengthHeader = response.headers['content-length'];
    const expectedSize = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    if (expectation?.size !== undefined && expectedSize !== undefined && expectation.size !== expectedSize) {
      // The index says another size: this upstream is mid-sync or lying. Nothing to store, nothing to relay as whole.
      response.body.destroy();
      this.#o.logger.warn({ key, upstream: response.url.href, expected: expectation.size, got: expectedSize }, 'upstream size differs from the index');
      publishVerification({ upstream: response.url.href, path, failure: 'size', detail: `Content-Length ${expectedSize}, the index says ${expectation.size}` });
      throw new HoardError('HOARD_ERR_SIZE_MISMATCH', `upstream ${response.url.href} offers ${expectedSize} bytes, the index says ${expectation.size}`, {
        detail: 'upstream file does not match the repository index',
      });
    }
    const oversized = refuseDeclaredSize(expectedSize, this.#o.downloadLimits, response.url.href);
    if (oversized) {
      response.body.destroy();
      this.#o.logger.warn(
        { key, upstream: response.url.href, code: oversized.code, err: oversized.message },
        'upstream object larger than cache.maxObjectSize; not fetched',
      );
      throw oversized;
    }
    let writer: BlobWriter;
    try {
      writer = await this.#o.blobs.createWriter();
    } catch (err) {
      // A full disk still lets the bytes through: the download relays them without storing.
      if (isHoardError(err, 'HOARD_ERR_STORE_FULL')) writer = refusingWriter(err);
      else {
        response.body.destroy();
        throw err;
      }
    }
    // RFC 9110 8.3: the upstream's Content-Type is kept only where the protocol says the type carries meaning.
    const contentType = (policy.contentTypeFromUpstream === true ? response.headers['content-type'] : undefined) ?? policy.contentType;
    const upstreamLastModified = response.headers['last-modified'];
    // Without the upstream's date, the time these bytes are first stored stands in (see servedLastModified);
    // chosen now, since this download's clients get it in their headers before the bytes are whole.
    // The stored entry counts even when a newer index no longer vouches for it: clients may hold its date.
    const firstStoredAt = upstreamLastModified === undefined ? storedAtAfter(previous ?? this.#o.index.get(key), this.#o.clock.now()) : undefined;
    const download = new SharedDownload(
      key,
      writer,
      {
        expectedSize,
        lastModified: this.#isTainted(key) ? undefined : (upstreamLastModified ?? httpDate(firstStoredAt ?? this.#o.clock.now())),
        upstreamEtag: response.headers.etag,
        contentType,
      },
      { limits: this.#o.downloadLimits, clock: this.#o.clock },
    );
    this.#downloads.set(key, download);
    publishDownload({ key, phase: 'start', bytes: 0, expectedBytes: expectedSize });
    const url = response.url.href;

    const verifier = this.#verifier(policy);
    let refusal: Exclude<AdmitDecision, { admit: true }> | undefined;
    // Runs once the bytes are whole and verified: durable commit, admission, index entry, learning.
    const store = async (w: BlobWriter): Promise<BlobInfo> => {
      const info = await w.commit();
      const candidate = { upstream: upstream.key, path, digest: info.digest, size: info.size, previousDigest: previous?.digest };
      const decision = await verifier.admit(candidate, this.#fetchFor(upstream, policy.protocol));
      if (!decision.admit) {
        // Never stored; by default relayed as the upstream sent it (apt reports the problem itself).
        this.#o.logger.warn({ key, upstream: url, reason: decision.reason }, 'not admitted to the cache');
        refusal = decision;
        return info;
      }
      const now = this.#o.clock.now();
      // Revalidated to the same bytes (an upstream without validators answers 200 every time): they keep the
      // time they were first stored, so a client's If-Modified-Since still matches and gets its 304.
      const sameBytes = previous !== undefined && previous.digest === info.digest;
      this.#o.index.put({
        key,
        protocol: policy.protocol,
        upstream: upstream.key,
        path,
        digest: info.digest,
        size: info.size,
        // The upstream's own date, even when a taint hides it from this download's clients.
        lastModified: upstreamLastModified ?? (sameBytes ? previous.lastModified : undefined),
        upstreamEtag: download.meta.upstreamEtag,
        contentType,
        storedAt: sameBytes ? previous.storedAt : (firstStoredAt ?? now),
        validatedAt: now,
        lastAccessAt: now,
        verification: decision.verification,
      });
      await verifier.learn(upstream.key, path, info.digest).catch((err: unknown) => {
        this.#o.logger.warn({ key, err }, 'could not learn from a stored index');
      });
      return info;
    };
    const commit: DownloadCommit = {
      expected: { sha256: expectation?.sha256, size: expectation?.size ?? expectedSize },
      // Clients get the last byte once size and digest are verified, while `store` runs; a Release must
      // first be admitted, and an index learnt from, before clients may act on it.
      holdUntilStored: expectation?.awaitAdmission === true || expectation?.teaches === true,
      store,
    };

    void download
      .run(response.body, commit, (err) => {
        if (isHoardError(err)) return err;
        return upstreamErrorFrom(err, url, true);
      })
      .then(() => {
        if (this.#downloads.get(key) === download) this.#downloads.delete(key);
        if (download.readers > 0 && download.digest !== undefined && download.storeError === undefined) this.#draining.add(download);
        const failed = download.failed;
        const storeError = download.storeError;
        if (storeError !== undefined) {
          const code = isHoardError(storeError) ? storeError.code : 'HOARD_ERR_INTERNAL';
          this.#o.logger.warn({ key, upstream: url, code, err: storeError.message }, 'download verified and sent, but not stored');
        }
        if (failed) {
          const code = isHoardError(failed) ? failed.code : 'HOARD_ERR_INTERNAL';
          this.#o.logger.warn({ key, upstream: url, code, err: failed.message }, 'download failed; nothing stored');
          if (mismatchCodes.has(code) && (expectation?.sha256 !== undefined || expectation?.size !== undefined)) {
            this.#taint(key);
            publishVerification({ upstream: url, path, failure: code === 'HOARD_ERR_DIGEST_MISMATCH' ? 'digest' : 'size', detail: failed.message });
          }
          if (upstreamFaults.has(code)) upstream.reportFailure?.(response.url, failed.message);
          publishDownload({ key, phase: 'fail', bytes: download.written, expectedBytes: expectedSize, error: failed.message, errorCode: code });
        } else {
          publishDownload({ key, phase: 'end', bytes: download.written, expectedBytes: expectedSize });
        }
      });
    const lookup: CacheLookup = { kind: 'object', object: download, source: 'miss' };
    if (expectation?.awaitAdmission !== true) return lookup;
    const state = await download.settled;
    if (state.phase === 'failed') {
      if (previous) return this.#serveStale(previous, state.error.message);
      throw state.error;
    }
    if (refusal === undefined) {
      // Bytes held until stored can be answered as the stored object: the same bytes as before then keep the
      // Last-Modified the client already has, and its If-Modified-Since gets a 304 rather than the whole body.
      const stored = this.#o.index.get(key);
      if (previous !== undefined && stored !== undefined && stored.digest === download.digest && stored.digest === previous.digest) {
        return { kind: 'object', object: this.#stored(stored), source: 'revalidated' };
      }
      return lookup;
    }
    if (refusal.serve === undefined || refusal.serve === 'upstream') return lookup;
    if (refusal.serve === 'refuse') throw refusal.error;
    if (!previous) {
      throw new HoardError('HOARD_ERR_GENERATION_INCOMPLETE', `${key}: ${refusal.reason}`, { detail: 'the upstream is updating; no earlier copy to serve' });
    }
    // The upstream's newer copy is not usable yet; the stored one stays current until the next revalidation.
    const now = this.#o.clock.now();
    this.#o.index.markValidated(previous.key, now);
    this.#o.index.touch(previous.key, now);
    return { kind: 'object', object: this.#stored(previous), source: 'stale', warning: `110 hoard "${refusal.reason.replaceAll('"', "'")}"` };
  }

  /**
   * The verifier's way to fetch more files of `upstream`: through this cache, so each is checked and
   * stored like a client's request. Resolves once the object is whole and, for a download, ended
   * (stored and indexed or not): the verifier reads what it fetched from the store right after.
   */
  #fetchFor(upstream: Upstream, protocolName: string): ObjectFetch {
    // One closure per (upstream, protocol), made once: `get` hands it to every `expect`, hits included.
    let byProtocol = this.#fetches.get(upstream);
    if (byProtocol === undefined) this.#fetches.set(upstream, (byProtocol = new Map<string, ObjectFetch>()));
    const known = byProtocol.get(protocolName);
    if (known !== undefined) return known;
    const fetch: ObjectFetch = async (path, fetchOptions) => {
      const policy = this.#o.protocol(protocolName)?.classify(path, upstream.key);
      if (policy === undefined) return { ok: false, reason: `${path} is not a file the ${protocolName} protocol fetches` };
      try {
        const lookup = await this.get(upstream, path, policy, { revalidate: fetchOptions?.revalidate === true });
        if (lookup.kind === 'status') return { ok: false, reason: lookup.reason };
        const { digest, size } = await digestOf(lookup.object.stream(0, undefined));
        await lookup.object.settled;
        return { ok: true, digest, size };
      } catch (err) {
        return { ok: false, reason: err instanceof Error ? err.message : String(err) };
      }
    };
    byProtocol.set(protocolName, fetch);
    return fetch;
  }

  #taint(key: string): void {
    if (this.#tainted.size >= maxNegativeEntries) this.#tainted.delete(this.#tainted.keys().next().value as string);
    this.#tainted.set(key, this.#o.clock.now() + taintMs);
  }

  #isTainted(key: string): boolean {
    const until = this.#tainted.get(key);
    if (until === undefined) return false;
    if (until > this.#o.clock.now()) return true;
    this.#tainted.delete(key);
    return false;
  }

  /**
   * The object served for an index entry, built once per entry rather than per hit (its closures, the
   * ETag and, without an upstream date, a formatted Last-Modified). Indexes replace an entry rather than
   * change it, so one built for an entry stays right for it; a tainted key's is never kept.
   */
  #stored(entry: ObjectEntry): CachedObject {
    if (this.#isTainted(entry.key)) return this.#storedObject(entry, undefined);
    let object = this.#storedObjects.get(entry);
    if (object === undefined) {
      object = this.#storedObject(entry, servedLastModified(entry));
      this.#storedObjects.set(entry, object);
    }
    return object;
  }

  #storedObject(entry: ObjectEntry, lastModified: string | undefined): CachedObject {
    const blobs = this.#o.blobs;
    return {
      size: entry.size,
      lastModified,
      etag: etagFor(entry.digest),
      digest: entry.digest,
      contentType: entry.contentType,
      complete: true,
      stream: (start, endInclusive) => blobs.createReadStream(entry.digest, start, endInclusive),
      open:
        blobs.openReader === undefined
          ? undefined
          : () => blobs.openReader?.(entry.digest) ?? Promise.reject(new HoardError('HOARD_ERR_INTERNAL', 'the blob store lost openReader')),
    };
  }
}

/**
 * What clients get as Last-Modified (RFC 9110 8.8.2): the upstream's date, or else the time hoard first
 * stored these bytes, so that every object carries a validator apt's If-Modified-Since can match.
 */
export function servedLastModified(entry: ObjectEntry): string {
  return entry.lastModified ?? httpDate(entry.storedAt);
}

function httpDate(epochMs: number): string {
  return new Date(epochMs).toUTCString();
}

/**
 * When new bytes for a key are stored at `now`: at least one second (an HTTP-date's resolution) after the
 * date its previous bytes were served with, so a client holding that date never gets a 304 for other bytes.
 */
function storedAtAfter(previous: ObjectEntry | undefined, now: number): number {
  if (previous === undefined) return now;
  const servedBefore = Date.parse(servedLastModified(previous));
  return Number.isFinite(servedBefore) ? Math.max(now, servedBefore + 1000) : now;
}

/** Reads a stream to its end: a download that fails its check rejects here too. */
async function digestOf(stream: AsyncIterable<unknown>): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const bytes = chunk as Uint8Array;
    hash.update(bytes);
    size += bytes.byteLength;
  }
  return { digest: hash.digest('hex'), size };
}

/** Re-encodes a decoded path for the wire: each segment percent-encoded, `/` kept. */
export function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%3A/gi, ':').replace(/%40/g, '@'))
    .join('/');
}
