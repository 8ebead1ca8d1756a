// The path table of an image upstream: which files are metadata (revalidated) and which are items (immutable, verified).
import type { PathPolicy } from '../../cache/cached-object.ts';

/**
 * - `stream-index`: `streams/v1/index.json` / `index.sjson`, the list of products files;
 * - `products`: any other `.json` under `streams/`, or any `.sjson` (simplestreams "products:1.0" files);
 * - `sums`: a directory's `SHA256SUMS`, the checksum-file trees (cloud images, ISO trees);
 * - `signature`: `*.gpg` (`SHA256SUMS.gpg`), and the other checksum files (`SHA512SUMS`, `MD5SUMS`...), passed through;
 * - `item`: everything else, a file a stream or a sums file lists.
 */
export type StreamPathKind = 'stream-index' | 'products' | 'sums' | 'signature' | 'item';

const checksumFile = /^(SHA(1|224|256|384|512)|MD5)SUMS(\..*)?$/;

export function streamPathKind(path: string): StreamPathKind | undefined {
  // A directory listing is an HTML page of the upstream's, not a file of the stream.
  if (path === '/' || path.endsWith('/')) return undefined;
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name === 'SHA256SUMS') return 'sums';
  if (checksumFile.test(name) || name.endsWith('.gpg')) return 'signature';
  if (name.endsWith('.sjson') || (name.endsWith('.json') && /(^|\/)streams\//.test(path))) {
    return name === 'index.json' || name === 'index.sjson' ? 'stream-index' : 'products';
  }
  return 'item';
}

const contentTypes: Record<StreamPathKind, string> = {
  'stream-index': 'application/json',
  products: 'application/json',
  sums: 'text/plain; charset=utf-8',
  signature: 'application/octet-stream',
  item: 'application/octet-stream',
};

/**
 * Metadata is revalidated after `maxAgeSeconds`. An item is kept current by the lists instead: while a
 * products or sums file vouches for its stored bytes the cache serves them without asking (immutable once
 * verified), and other bytes listed under its name are fetched anew. Only an item no list covers falls back
 * on the max age, so that an unlisted file under a moving name is not served stale for ever.
 */
export function streamPolicy(path: string, maxAgeSeconds: number): PathPolicy | undefined {
  const kind = streamPathKind(path);
  if (kind === undefined) return undefined;
  const clearsigned = path.endsWith('.sjson');
  return {
    protocol: 'simplestreams',
    mutable: true,
    kind,
    contentType: clearsigned ? 'text/plain; charset=utf-8' : contentTypes[kind],
    maxAgeSeconds,
  };
}

/** True for the paths whose bytes teach the verifier (products files and SHA256SUMS). */
export function isKnowledgeSource(path: string): boolean {
  const kind = streamPathKind(path);
  return kind === 'products' || kind === 'stream-index' || kind === 'sums';
}
