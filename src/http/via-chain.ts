// The client's Via as passed upstream with hoard's own request: the chain of caches so far, bounded.

/** Bound on the Via passed upstream: 80-odd hops fit. */
const maxViaLength = 2048;

/**
 * The client's Via to pass on. A longer one keeps its most recent whole entries (the caches nearest this
 * one, where a loop through it would show), never a cut entry.
 */
export function viaChain(via: string | undefined): string | undefined {
  if (via === undefined || via.length <= maxViaLength) return via;
  const tail = via.slice(-maxViaLength);
  const cut = tail.indexOf(',');
  return cut === -1 ? undefined : tail.slice(cut + 1).trimStart();
}
