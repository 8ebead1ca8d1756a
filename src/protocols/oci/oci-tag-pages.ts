// Pages of a tag list (`?n=<count>&last=<tag>`): validated, sent upstream as such, the upstream's `Link` pointing back at hoard.
import { invalid, isValidTag } from './oci-reference.ts';

export interface TagPage {
  readonly n?: number | undefined;
  readonly last?: string | undefined;
}

/** Bound on `n`: a page larger than any registry serves in one answer. */
export const maxTagPageSize = 10_000;

/**
 * OCI distribution spec v1.1, "Listing Tags": `n` (an integer, the page size) and `last` (the tag the
 * previous page ended with). Undefined when neither is present (the whole list, which the cache keeps).
 * A bad `n` is distribution's `PAGINATION_NUMBER_INVALID`; a `last` that is not a tag `MANIFEST_INVALID`.
 */
export function parseTagPage(query: string): TagPage | undefined {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const n = params.get('n');
  const last = params.get('last');
  if (n === null && last === null) return undefined;
  if (n !== null && (!/^\d{1,6}$/.test(n) || Number(n) > maxTagPageSize)) {
    throw invalid(`n=${JSON.stringify(n.slice(0, 20))} is not a page size from 0 to ${maxTagPageSize}`, 'PAGINATION_NUMBER_INVALID');
  }
  if (last !== null && !isValidTag(last)) throw invalid(`last=${JSON.stringify(last.slice(0, 140))} is not a tag`, 'MANIFEST_INVALID');
  return { n: n === null ? undefined : Number(n), last: last ?? undefined };
}

/** The page's query as sent upstream (with its `?`), in the spec's order. */
export function tagPageQuery(page: TagPage): string {
  const params = new URLSearchParams();
  if (page.n !== undefined) params.set('n', String(page.n));
  if (page.last !== undefined) params.set('last', page.last);
  return `?${params.toString()}`;
}

/**
 * The upstream's `Link: <...?n=..&last=..>; rel="next"` (RFC 8288), rewritten to the path the client
 * asked hoard (`clientPath`, with `ns` kept for containerd): the next page comes through hoard too. Only
 * its `n` and `last` are taken, validated as a client's would be; anything else in it is dropped, and a
 * Link hoard cannot read is not passed on (the client then sees the last page).
 */
export function rewriteTagsLink(link: string | undefined, clientPath: string, ns: string | undefined): string | undefined {
  if (link === undefined) return undefined;
  const match = /^\s*<([^>]{1,2048})>\s*;(.*)$/.exec(link);
  if (match === null || !/(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(match[2] ?? '')) return undefined;
  const target = URL.parse(match[1] ?? '', 'http://upstream.invalid/');
  if (target === null) return undefined;
  let page: TagPage | undefined;
  try {
    page = parseTagPage(target.search);
  } catch {
    return undefined;
  }
  if (page === undefined) return undefined;
  const query = tagPageQuery(page) + (ns === undefined ? '' : `&${new URLSearchParams({ ns }).toString()}`);
  return `<${clientPath}${query}>; rel="next"`;
}
