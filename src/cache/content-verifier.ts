// The seam through which repository knowledge (signed Release files, Packages indices) vouches for bytes.
import type { HoardError } from '../errors.ts';
import type { Verification } from '../storage/metadata-index.ts';
import type { PathPolicy } from './cached-object.ts';

export interface Expectation {
  readonly sha256?: string | undefined;
  readonly size?: number | undefined;
  /** What a match proves. */
  readonly verification: Verification;
  /**
   * Paths to ask the upstream for, in order, instead of the requested one; the next is tried only
   * when one answers 404 or 410. The object is still stored under the requested path. Used to fetch
   * an index by its by-hash name when a client asks by name (the by-hash copy of the generation the
   * client holds survives a mirror update; the named file may already be newer).
   */
  readonly upstreamPaths?: readonly string[] | undefined;
  /**
   * Clients get the bytes only once `admit` has decided (Release files: a refused generation must not
   * reach clients, who would then ask for indices that cannot be served). The download is not
   * streamed as it arrives; a refusal serves what the decision says.
   */
  readonly awaitAdmission?: boolean | undefined;
  /**
   * `learn` takes knowledge from these bytes that later requests are checked with (a Packages or
   * Sources index lists the packages' hashes). The cache then lets clients have the last byte only
   * once the object is stored and learnt from, as for `awaitAdmission`; other objects get their last
   * byte as soon as size and digest are verified, before the durable commit.
   */
  readonly teaches?: boolean | undefined;
  /**
   * Which stored copies of `sha256` may answer this path without asking its upstream: only those some
   * index entry of an accepted upstream key names. Absent: any stored copy (the bytes are the bytes).
   * OCI uses it so that a layer fetched with credentials is not served under a public registry's name.
   */
  readonly reuseFrom?: ((upstreamKey: string) => boolean) | undefined;
}

export interface AdmitCandidate {
  readonly upstream: string;
  readonly path: string;
  readonly digest: string;
  readonly size: number;
  /** The previous entry's digest under the same name, if any. */
  readonly previousDigest: string | undefined;
}

export type AdmitDecision =
  | { readonly admit: true; readonly verification: Verification }
  /**
   * Not stored. What the clients of this download get:
   * - 'upstream' (default): the bytes as the upstream sent them (e.g. a Release whose signature is
   *   invalid for a known key: apt must see it to report it);
   * - 'previous': the previously stored copy under the same name, marked validated (e.g. a Release
   *   whose indices the upstream cannot serve yet). Needs `awaitAdmission`.
   */
  | { readonly admit: false; readonly reason: string; readonly serve?: 'upstream' | 'previous' | undefined }
  /** Not stored, and clients get `error` instead of the bytes (strict mode). Needs `awaitAdmission`. */
  | { readonly admit: false; readonly reason: string; readonly serve: 'refuse'; readonly error: HoardError };

/** What fetching one more file through the cache gave: its digest and size once whole, or why not. */
export type FetchOutcome = { readonly ok: true; readonly digest: string; readonly size: number } | { readonly ok: false; readonly reason: string };

/**
 * Fetches another file of the candidate's upstream through the cache (so it is checked against
 * `expect` and stored like any request) and resolves once it is whole and stored. The cache hands
 * one to `admit`: a verifier does no HTTP of its own, and needs no reference to the cache.
 */
export type ObjectFetch = (path: string, options?: { readonly revalidate?: boolean }) => Promise<FetchOutcome>;

export interface ContentVerifier {
  /**
   * The size and hash an upstream file must have, as far as the indices seen so far say. May answer
   * later (a promise) while the knowledge for that file is still being built, and may throw a
   * HoardError to refuse the request outright (strict mode). `fetch` (absent outside the cache) reaches
   * other files of the same upstream through the cache, as in `admit`: the file that lists this one's
   * hash (an image item's SHA256SUMS), revalidated when stale, so a moving name is checked against the
   * current list. A verifier whose knowledge is all learnt ahead ignores it.
   */
  expect(upstream: string, path: string, fetch?: ObjectFetch): Expectation | undefined | Promise<Expectation | undefined>;
  /**
   * Decides, once the bytes are whole and match `expect`, whether they may replace what is stored;
   * `fetch` reaches other files of the same upstream (the indices a new Release lists).
   */
  admit(candidate: AdmitCandidate, fetch: ObjectFetch): Promise<AdmitDecision>;
  /** Learns from a newly stored object (a Release teaches index hashes, an index teaches package hashes). */
  learn(upstream: string, path: string, digest: string): Promise<void>;
}

/** What the cache needs of the protocol that claimed a path: its verifier, and the policy of other paths it fetches for it. */
export interface VerifyingProtocol {
  readonly verifier: ContentVerifier;
  /** `upstream` (its key) for protocols whose policy differs per upstream (an image upstream's max age). */
  classify(path: string, upstream?: string): PathPolicy | undefined;
}

/** Everything whole is admitted unverified: for tests of the core, and for protocols without signed indices. */
export const noVerifier: ContentVerifier = {
  expect: () => undefined,
  admit: () => Promise.resolve({ admit: true, verification: 'unverified' }),
  learn: () => Promise.resolve(),
};
