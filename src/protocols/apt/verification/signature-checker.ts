// The seam verifiers check Release and stream signatures through, and a checker that loads OpenPGP at its first check.
import type { Key } from 'openpgp';
import type { SignatureOutcome } from './release-signature-checker.ts';

/** What `ReleaseSignatureChecker` does, as the verifiers use it. */
export interface SignatureChecker {
  /** An InRelease (or any clear-signed) text. */
  checkClearsigned(text: string): Promise<SignatureOutcome>;
  /** A Release and its detached signature (armored or binary). */
  checkDetached(release: Uint8Array, signatureBytes: Uint8Array): Promise<SignatureOutcome>;
}

/**
 * Imports OpenPGP and reads the keys when the first signature is checked, not at start-up: the library
 * and its keys take about 10 MB of a serving process (docs/performance.md, "Memory (this session)"),
 * which a cache that never fetches a signed index does not need. The keys are read once.
 */
export class DeferredSignatureChecker implements SignatureChecker {
  readonly #keys: () => Promise<readonly Key[]>;
  #checker: Promise<SignatureChecker> | undefined;

  constructor(keys: () => Promise<readonly Key[]>) {
    this.#keys = keys;
  }

  #ready(): Promise<SignatureChecker> {
    this.#checker ??= Promise.all([import('./release-signature-checker.ts'), this.#keys()]).then(
      ([{ ReleaseSignatureChecker }, keys]) => new ReleaseSignatureChecker(keys),
    );
    return this.#checker;
  }

  async checkClearsigned(text: string): Promise<SignatureOutcome> {
    return (await this.#ready()).checkClearsigned(text);
  }

  async checkDetached(release: Uint8Array, signatureBytes: Uint8Array): Promise<SignatureOutcome> {
    return (await this.#ready()).checkDetached(release, signatureBytes);
  }
}
