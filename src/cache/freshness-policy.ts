// Pure freshness rules: when a stored object may be served as it is, and when it must be revalidated.

export interface FreshnessInput {
  mutable: boolean;
  /** Epoch ms of the last upstream confirmation. */
  validatedAt: number;
  now: number;
  /** Seconds a mutable object stays fresh after validation. */
  maxAgeSeconds: number;
}

/**
 * Immutable objects (pool files, by-hash objects) never change under their name, so they are always fresh.
 * Mutable ones (dists/ indices) are fresh for maxAge after the last upstream confirmation.
 * Client `Cache-Control: max-age=0` (apt sends it for every index) is deliberately not honoured:
 * it would make every `apt update` of every client hit the upstream, the very traffic a cache exists to save.
 */
export function isFresh(input: FreshnessInput): boolean {
  if (!input.mutable) return true;
  const age = input.now - input.validatedAt;
  // A clock that went backwards makes age negative: treat as stale so the upstream is asked.
  return age >= 0 && age < input.maxAgeSeconds * 1000;
}
