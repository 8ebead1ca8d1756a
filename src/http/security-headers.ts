// Headers that every response of hoard carries, whatever produced it: objects, errors, pages and raw refusals.

/**
 * Browsers must take the declared Content-Type, never guess one from the bytes: a cached file or an
 * error line that happens to look like HTML must not run as a page of the cache's origin.
 */
export const nosniffHeaders = { 'x-content-type-options': 'nosniff' } as const;

/** The same, as a header line for responses written straight to a socket. */
export const nosniffLine = 'X-Content-Type-Options: nosniff\r\n';
