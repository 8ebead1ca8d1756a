// Blob digest format: the one check that stands between a caller's string and a path under the store root;
// and the size and digest check every blob writer makes against what was expected.
import { HoardError } from '../errors.ts';
import type { ExpectedContent } from './blob-store.ts';

/** Lower-case hex SHA-256; nothing else can name a blob, so no digest can climb out of its directory. */
const blobDigestPattern = /^[0-9a-f]{64}$/;

/** SHA-256 of zero bytes, the digest of an empty blob. */
export const emptyBlobDigest = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function isBlobDigest(value: string): boolean {
  return blobDigestPattern.test(value);
}

/**
 * Throws HOARD_ERR_INTERNAL for anything but 64 lower-case hex digits. Edges (HTTP, CLI) validate user
 * input themselves; reaching a store with a bad digest is a bug, and refusing it keeps the store's
 * paths inside its root whatever the bug.
 */
export function assertBlobDigest(value: string): void {
  if (!blobDigestPattern.test(value)) {
    throw new HoardError('HOARD_ERR_INTERNAL', `not a blob digest (64 lower-case hex digits): ${JSON.stringify(value.slice(0, 80))}`);
  }
}

/** Throws HOARD_ERR_SIZE_MISMATCH or HOARD_ERR_DIGEST_MISMATCH when `size` or `digest` is not what `expected` names. */
export function checkExpectedContent(expected: ExpectedContent, size: number, digest: string): void {
  if (expected.size !== undefined && expected.size !== size) {
    const message = `the body has ${size} bytes, expected ${expected.size}`;
    throw new HoardError('HOARD_ERR_SIZE_MISMATCH', message, { detail: message });
  }
  if (expected.sha256 !== undefined) {
    assertBlobDigest(expected.sha256);
    if (expected.sha256 !== digest) {
      const message = `the body has SHA-256 ${digest}, expected ${expected.sha256}`;
      throw new HoardError('HOARD_ERR_DIGEST_MISMATCH', message, { detail: message });
    }
  }
}
