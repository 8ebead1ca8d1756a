// Checks the OpenPGP signatures of InRelease (clear-signed) and Release + Release.gpg (detached) against trusted keys.
import { createMessage, readCleartextMessage, readSignature, verify, type Key, type VerifyMessageResult } from 'openpgp';

type VerificationResult = VerifyMessageResult['signatures'][number];

/**
 * What a Release signature proves.
 * - valid: a trusted key made a good signature (and no trusted key made a bad one); `signedText` is
 *   the text that signature covers, the only text a caller should parse.
 * - unknown-key: no signature was made by a trusted key; the hash chain still holds, but nothing
 *   proves who published the Release.
 * - untrusted: a trusted key signed, but the signature cannot count (expired or revoked key, a hash
 *   algorithm refused as weak): not authenticated, and no proof of tampering either.
 * - invalid: a trusted key's signature does not match the text: the file was altered after signing
 *   (or corrupted). apt refuses the whole file in this case (a BADSIG from any signer), and so must hoard.
 * - unsigned: no signature at all (an InRelease that is not clear-signed, a Release without Release.gpg).
 * - malformed: the signature or the clear-signed framing cannot be read.
 */
export type SignatureOutcome =
  | { readonly status: 'valid'; readonly signer: string; readonly signedText: string }
  | { readonly status: 'unknown-key'; readonly keyIds: readonly string[] }
  | { readonly status: 'untrusted'; readonly signer: string; readonly reason: string }
  | { readonly status: 'invalid'; readonly signer: string; readonly reason: string }
  | { readonly status: 'unsigned' }
  | { readonly status: 'malformed'; readonly reason: string };

const clearsignedHeader = '-----BEGIN PGP SIGNED MESSAGE-----';
const armoredSignatureHeader = '-----BEGIN PGP SIGNATURE-----';

// Failures that say the signature cannot be trusted rather than that the text was changed.
const policyFailure = /expired|revoked|not yet valid|created in the future|insecure|weak|rejected|not supported|unsupported/i;

export class ReleaseSignatureChecker {
  readonly #keys: readonly Key[];
  /** Key id (hex) of every primary key and subkey -> the key it belongs to. */
  readonly #byKeyId = new Map<string, Key>();

  constructor(keys: readonly Key[]) {
    this.#keys = keys;
    for (const key of keys) {
      for (const part of key.getKeys()) this.#byKeyId.set(part.getKeyID().toHex(), key);
    }
  }

  get keyCount(): number {
    return this.#keys.length;
  }

  /** An InRelease file. Debian RepositoryFormat, "Release" files: InRelease is the Release clear-signed inline (RFC 4880 section 7). */
  async checkClearsigned(text: string): Promise<SignatureOutcome> {
    if (!text.trimStart().startsWith(clearsignedHeader)) return { status: 'unsigned' };
    let message;
    try {
      message = await readCleartextMessage({ cleartextMessage: text });
    } catch (err) {
      return { status: 'malformed', reason: errorText(err) };
    }
    const result = await verify({ message, verificationKeys: [...this.#keys], expectSigned: false });
    return this.#judge(result.signatures, result.data);
  }

  /** A Release file and its Release.gpg (armored or binary), as apt checks them with gpgv. */
  async checkDetached(release: Uint8Array, signatureBytes: Uint8Array): Promise<SignatureOutcome> {
    let signature;
    try {
      const head = Buffer.from(signatureBytes.subarray(0, 1024)).toString('latin1');
      signature = head.includes(armoredSignatureHeader)
        ? await readSignature({ armoredSignature: Buffer.from(signatureBytes).toString('utf8') })
        : await readSignature({ binarySignature: signatureBytes });
    } catch (err) {
      return { status: 'malformed', reason: errorText(err) };
    }
    const message = await createMessage({ binary: release });
    const result = await verify({ message, signature, verificationKeys: [...this.#keys], format: 'binary', expectSigned: false });
    return this.#judge(result.signatures, Buffer.from(release).toString('utf8'));
  }

  async #judge(signatures: readonly VerificationResult[], signedText: string): Promise<SignatureOutcome> {
    if (signatures.length === 0) return { status: 'unsigned' };
    const unknown: string[] = [];
    let good: string | undefined;
    let untrusted: { signer: string; reason: string } | undefined;
    for (const result of signatures) {
      const keyId = result.keyID.toHex();
      const key = this.#byKeyId.get(keyId);
      // Settle every promise: an unknown signer's `verified` rejects too, and must not go unhandled.
      const outcome = await result.verified.then(
        () => undefined,
        (err: unknown) => errorText(err),
      );
      if (key === undefined) {
        unknown.push(keyId);
        continue;
      }
      const signer = key.getFingerprint().toUpperCase();
      if (outcome === undefined) good ??= signer;
      else if (policyFailure.test(outcome)) untrusted ??= { signer, reason: outcome };
      // apt (gpgv method): one bad signature by any signer fails the file, whatever else signed it.
      else return { status: 'invalid', signer, reason: outcome };
    }
    if (good !== undefined) return { status: 'valid', signer: good, signedText };
    if (untrusted !== undefined) return { status: 'untrusted', ...untrusted };
    return { status: 'unknown-key', keyIds: unknown };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
