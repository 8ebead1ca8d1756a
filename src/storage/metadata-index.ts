// The MetadataIndex seam: what each cached URL maps to (a blob digest) and when it was fetched and checked.

/** How far a stored object's bytes are vouched for. */
export type Verification =
  /** Hash matches an index whose Release carried a valid signature from a known key. */
  | 'authenticated'
  /** Hash matches an index (or the Release's own table), but no known key signed the chain. */
  | 'hash-verified'
  /** No index covers the file; stored because it arrived whole. */
  | 'unverified';

export interface ObjectEntry {
  /** `${upstream}${path}`: the identity of one upstream file. */
  readonly key: string;
  /** The protocol that stored it (`apt`, ...): whose verifier and reference oracle speak for it. */
  readonly protocol: string;
  /** Canonical upstream identity: `http://host:port`, `https://host:port` or `backend:<name>`. */
  readonly upstream: string;
  /** Absolute path on that upstream, starting with `/`. */
  readonly path: string;
  readonly digest: string;
  readonly size: number;
  /** Upstream's Last-Modified, as the HTTP-date it sent. */
  readonly lastModified?: string | undefined;
  /** Upstream's ETag, used only for conditional revalidation upstream. */
  readonly upstreamEtag?: string | undefined;
  readonly contentType?: string | undefined;
  /** Epoch ms when the bytes were stored. */
  readonly storedAt: number;
  /** Epoch ms when upstream last confirmed (200 or 304) these bytes are current. */
  readonly validatedAt: number;
  /** Epoch ms of the last time a client was served this entry. */
  readonly lastAccessAt: number;
  readonly verification: Verification;
}

/** Running totals over the whole index, kept as entries change: reading them never scans. */
export interface IndexTotals {
  /** Entries (cache keys). */
  readonly entries: number;
  /** Distinct blobs the entries point at (several keys may share one). */
  readonly blobs: number;
  /** The bytes of those distinct blobs. */
  readonly bytes: number;
}

/** One blob as the index sees it: every entry pointing at it folded into one. */
export interface IndexedBlob {
  readonly digest: string;
  readonly size: number;
  /**
   * The latest access through any of its entries (epoch ms). An implementation may keep the latest ever
   * recorded, so after an entry is deleted this may still count that entry's accesses.
   */
  readonly lastAccessAt: number;
}

/** Where a page of `blobsByAccess` continues: after this blob. */
export interface BlobCursor {
  readonly lastAccessAt: number;
  readonly digest: string;
}

/** Entries picked by their path (and protocol), for start-up work that needs a few kinds of file. */
export interface PathQuery {
  readonly protocol?: string | undefined;
  /** The path ends with one of these (case-sensitive). */
  readonly pathEndsWith?: readonly string[] | undefined;
  /** The path contains this (case-sensitive). */
  readonly pathContains?: string | undefined;
}

export interface MetadataIndex {
  get(key: string): ObjectEntry | undefined;
  put(entry: ObjectEntry): void;
  delete(key: string): void;
  /** Records a client access; may be written out lazily (batched), never on the hot path synchronously. */
  touch(key: string, at: number): void;
  /** Records a successful revalidation. */
  markValidated(key: string, at: number): void;
  /**
   * Every entry, read lazily (an implementation on disk reads it page by page, so memory does not grow with
   * the index); deleting entries while iterating is safe, and they are not visited after.
   */
  all(): Iterable<ObjectEntry>;
  /** Entries pointing at a digest. */
  byDigest(digest: string): ObjectEntry[];
  count(): number;
  /** Entries, blobs and bytes, without a scan. */
  totals(): IndexTotals;
  /**
   * Up to `limit` blobs, least recently accessed first (ties by digest), after `after`: eviction and gc
   * page through the store with it, yielding between pages. Deletes between pages are safe.
   */
  blobsByAccess(after: BlobCursor | undefined, limit: number): IndexedBlob[];
  /** Entries whose path matches `query`; every field given must hold. */
  findByPath(query: PathQuery): ObjectEntry[];
  /** Flushes pending writes and closes the database. */
  close(): void;
}
