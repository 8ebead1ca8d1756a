// What the cache hands the HTTP edge: a stored or still-downloading object that can be streamed by range.
import type { Readable } from 'node:stream';
import type { BlobReader } from '../storage/blob-store.ts';

export interface CachedObject {
  /** Total size; undefined only while downloading from an upstream that sent no Content-Length. */
  readonly size: number | undefined;
  /** Upstream's Last-Modified, as an HTTP-date. */
  readonly lastModified: string | undefined;
  /** A strong validator for clients; undefined while the digest is not known yet. */
  readonly etag: string | undefined;
  /** The SHA-256 (hex) of the bytes, once known: always for a stored object, after the last byte for a download. */
  readonly digest?: string | undefined;
  readonly contentType: string | undefined;
  /** False while the bytes are still arriving from upstream. */
  readonly complete: boolean;
  /**
   * Bytes [start, endInclusive]. For an object still downloading the stream follows the download and
   * errors if the download fails, so a client never receives a complete-looking wrong body.
   */
  stream(start: number, endInclusive: number | undefined): Readable;
  /**
   * Positional reads of the stored bytes, when the object is committed and its store offers them: the
   * HTTP edge then sends from buffers it reuses rather than a stream's new buffer per chunk.
   */
  readonly open?: (() => Promise<BlobReader>) | undefined;
  /**
   * For an object being downloaded: settles (never rejects) once the download has ended, stored and
   * indexed or not. Its stream may end earlier: the last byte is released once size and digest are
   * verified, while the durable commit and the index entry still follow. Absent for a stored object.
   */
  readonly settled?: Promise<unknown> | undefined;
}

/** How a lookup was answered, for logs and metrics. */
export type LookupSource = 'hit' | 'miss' | 'coalesced' | 'revalidated' | 'stale' | 'passthrough';

export type CacheLookup =
  | { kind: 'object'; object: CachedObject; source: LookupSource; warning?: string | undefined }
  /** The upstream answered something other than a body to cache (404, 410, 403...); relayed as such. */
  | { kind: 'status'; status: number; source: 'miss' | 'negative'; reason: string };

/** What the cache needs to know of a path; the protocol layer decides it. */
export interface PathPolicy {
  /** The protocol that claimed the path: picks its verifier, and is stored with the entry. */
  readonly protocol: string;
  /** Mutable files are revalidated upstream once older than their max age. */
  readonly mutable: boolean;
  /** Protocol-specific class, e.g. package, by-hash, release, index. */
  readonly kind: string;
  /** The type served to clients (and stored), unless `contentTypeFromUpstream` says to take the upstream's. */
  readonly contentType: string;
  /** Store and serve the upstream's Content-Type (OCI manifests name their media type there); `contentType` when it sends none. */
  readonly contentTypeFromUpstream?: boolean | undefined;
  /** Seconds a mutable object is served before it is revalidated; absent: the cache's default. */
  readonly maxAgeSeconds?: number | undefined;
  /**
   * Request headers sent upstream besides the cache's own (conditional ones): lower-case names, e.g.
   * `accept` for OCI manifests. Only what cannot change the bytes stored under the key belongs here.
   */
  readonly forwardHeaders?: readonly string[] | undefined;
}
