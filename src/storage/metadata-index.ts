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

export interface MetadataIndex {
  get(key: string): ObjectEntry | undefined;
  put(entry: ObjectEntry): void;
  delete(key: string): void;
  /** Records a client access; may be written out lazily (batched), never on the hot path synchronously. */
  touch(key: string, at: number): void;
  /** Records a successful revalidation. */
  markValidated(key: string, at: number): void;
  all(): Iterable<ObjectEntry>;
  /** Entries pointing at a digest. */
  byDigest(digest: string): ObjectEntry[];
  count(): number;
  /** Flushes pending writes and closes the database. */
  close(): void;
}
