// The seam through which repository knowledge (signed Release files, Packages indices) vouches for bytes.
import type { Verification } from '../storage/metadata-index.ts';

export interface Expectation {
  readonly sha256?: string | undefined;
  readonly size?: number | undefined;
  /** What a match proves. */
  readonly verification: Verification;
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
  /** Not stored (e.g. a Release whose signature is invalid for a known key); the bytes are still relayed. */
  | { readonly admit: false; readonly reason: string };

export interface ContentVerifier {
  /** The size and hash an upstream file must have, as far as the indices seen so far say. */
  expect(upstream: string, path: string): Expectation | undefined;
  /** Decides, once the bytes are whole and match `expect`, whether they may replace what is stored. */
  admit(candidate: AdmitCandidate): Promise<AdmitDecision>;
  /** Learns from a newly stored object (a Release teaches index hashes, an index teaches package hashes). */
  learn(upstream: string, path: string, digest: string): Promise<void>;
}

/** Used until the verifier of the signed-index issue is wired in: everything whole is admitted unverified. */
export const noVerifier: ContentVerifier = {
  expect: () => undefined,
  admit: () => Promise.resolve({ admit: true, verification: 'unverified' }),
  learn: () => Promise.resolve(),
};
