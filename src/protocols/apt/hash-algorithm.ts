// The checksum algorithms of apt repositories: their Release field names, by-hash directory names and hex lengths.

// Debian RepositoryFormat, "Release" files: the checksum fields are MD5Sum, SHA1, SHA256 and SHA512, and
// "indices acquisition via hashsums (by-hash)": the by-hash directory of each algorithm carries the same name.
export type HashAlgorithm = 'MD5Sum' | 'SHA1' | 'SHA256' | 'SHA512';

/** Strongest first: the order in which a verifier should prefer them (MD5 and SHA1 are only for old archives). */
export const hashAlgorithms: readonly HashAlgorithm[] = ['SHA512', 'SHA256', 'SHA1', 'MD5Sum'];

export const hexLength: Readonly<Record<HashAlgorithm, number>> = {
  MD5Sum: 32,
  SHA1: 40,
  SHA256: 64,
  SHA512: 128,
};

export function isHashAlgorithm(name: string): name is HashAlgorithm {
  return name === 'MD5Sum' || name === 'SHA1' || name === 'SHA256' || name === 'SHA512';
}

/** Lower-case hex of exactly the algorithm's length: the only spelling archives publish and apt requests. */
export function isHexDigest(algorithm: HashAlgorithm, hex: string): boolean {
  return hex.length === hexLength[algorithm] && /^[0-9a-f]+$/.test(hex);
}
