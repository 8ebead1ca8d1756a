// The verifier's way to fetch an index: through the read-through cache, so it is checked and stored like any request.
import { createHash } from 'node:crypto';
import type { PathPolicy } from '../cache/cached-object.ts';
import type { GetOptions } from '../cache/read-through-cache.ts';
import type { CacheLookup } from '../cache/cached-object.ts';
import type { Upstream } from '../upstream/fetcher.ts';
import type { IndexFetch } from './apt-content-verifier.ts';

export interface CacheIndexFetchOptions {
  readonly cache: { get(upstream: Upstream, path: string, policy: PathPolicy, options?: GetOptions): Promise<CacheLookup> };
  /** The Upstream behind a cache key's upstream part (`http://host:port`, `backend:<name>`). */
  readonly upstreamFor: (key: string) => Upstream | undefined;
  readonly classify: (path: string) => PathPolicy | undefined;
}

/**
 * Resolves once the object is whole: its bytes are read to the end (a stored object from the blob
 * store, a download as it arrives), so a download that fails its check is a failed fetch here too.
 * For a download it also waits until the download has ended (a client gets the last byte before the
 * blob is committed and indexed): the verifier reads what it fetched from the store right after.
 */
export function cacheIndexFetch(options: CacheIndexFetchOptions): IndexFetch {
  return async (upstreamKey, path, fetchOptions) => {
    const upstream = options.upstreamFor(upstreamKey);
    const policy = options.classify(path);
    if (upstream === undefined) return { ok: false, reason: `no upstream ${upstreamKey}` };
    if (policy === undefined) return { ok: false, reason: `${path} is not an apt repository file` };
    try {
      const lookup = await options.cache.get(upstream, path, policy, { revalidate: fetchOptions?.revalidate === true });
      if (lookup.kind === 'status') return { ok: false, reason: lookup.reason };
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of lookup.object.stream(0, undefined)) {
        const bytes = chunk as Uint8Array;
        hash.update(bytes);
        size += bytes.byteLength;
      }
      await lookup.object.settled;
      return { ok: true, digest: hash.digest('hex'), size };
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
  };
}
