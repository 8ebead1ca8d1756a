// SqliteMetadataIndex: the MetadataIndex kept in <root>/index.sqlite and read from there, with a bounded set of hot entries in memory.
/*
 * On-disk layout: <root>/index.sqlite (SQLite 3, journal_mode=WAL, so index.sqlite-wal and
 * index.sqlite-shm sit beside it while it is open), schema version 3:
 *
 *   schema_version (version INTEGER NOT NULL)   One row: the schema the file is at. Opening runs the
 *                                               migrations from there to the latest in one transaction,
 *                                               and refuses a file written by a newer hoard.
 *   objects                                     One row per ObjectEntry, WITHOUT ROWID:
 *     key            TEXT PRIMARY KEY           `${upstream}${path}`
 *     protocol       TEXT NOT NULL              the protocol that stored it (`apt`, ...); schema 2, and
 *                                               rows of schema 1 (apt was the only protocol) read `apt`
 *     upstream       TEXT NOT NULL              `http://host:port`, `https://host:port` or `backend:<name>`
 *     path           TEXT NOT NULL              absolute path on that upstream
 *     digest         TEXT NOT NULL              lower-case hex SHA-256 naming the blob in the blob store
 *     size           INTEGER NOT NULL           bytes
 *     last_modified  TEXT                       upstream Last-Modified (HTTP-date), NULL when absent
 *     upstream_etag  TEXT                       upstream ETag, NULL when absent
 *     content_type   TEXT                       NULL when absent
 *     stored_at, validated_at, last_access_at   INTEGER NOT NULL, epoch milliseconds
 *     verification   TEXT NOT NULL              'authenticated' | 'hash-verified' | 'unverified'
 *   objects_by_digest ON objects(digest)        schema 3: byDigest without a scan
 *   objects_by_name ON objects(<last segment    schema 3: findByPath of whole names (the Releases, at start-up)
 *     of path>)
 *   objects_by_protocol ON objects(protocol)    schema 3: findByPath of one protocol (OCI manifests, at start-up)
 *   blobs                                       schema 3, one row per distinct digest, WITHOUT ROWID, kept by
 *     digest TEXT PRIMARY KEY, size INTEGER,    triggers on objects: refs counts the entries pointing at it
 *     refs INTEGER, last_access_at INTEGER      (the row goes with the last), last_access_at is the latest
 *                                               access recorded through any of them (not lowered when one
 *                                               of them is deleted)
 *   blobs_by_access ON blobs(last_access_at, digest)   eviction and gc page through blobs in LRU order
 *   totals (id = 1, entries, blobs, bytes)      schema 3, one row kept by triggers: count() and the store's
 *                                               size are read, never summed
 *   state (name TEXT PRIMARY KEY, value)        schema 3: `clean` is 1 while no process has the index open
 *                                               since a close(), 0 from an open until the close (so 0 at the
 *                                               next open means a crash, or a second process still open)
 *
 * Nothing is loaded at open: the cost of opening does not grow with the number of objects (the migration
 * to schema 3 builds blobs and totals once, in the same transaction). Reads go to the database, except for
 * the last `hotEntries` entries read or written, kept in memory (an LRU), which is where hits are served from.
 * Durability: synchronous=NORMAL under WAL. Once put(), delete() or markValidated() returns, the
 * change survives a crash of the process; a power cut may lose the last few transactions but never
 * corrupts the file. Because blobs are committed (fsynced) before their entry is put, a lost entry
 * only leaves an orphan blob, and an entry whose blob is gone is dropped by reconcileStore().
 * lastAccessAt (touch) is written in batches, so a crash loses at most the last flush interval of
 * access times, which only nudges eviction order.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { HoardError } from '../errors.ts';
import { normalizeEntry } from './memory-metadata-index.ts';
import type { BlobCursor, IndexedBlob, IndexTotals, MetadataIndex, ObjectEntry, PathQuery, Verification } from './metadata-index.ts';
import { toStoreError } from './store-errors.ts';

/**
 * The last segment of `path` in SQL (`InRelease` of `/debian/dists/stable/InRelease`): rtrim drops every
 * trailing character that is not a `/`. Indexed (objects_by_name), and written the same way in queries so
 * that SQLite uses the index.
 */
const nameOfPath = `substr(path, length(rtrim(path, replace(path, '/', ''))) + 1)`;

/** Migration n (0-based) takes the schema from version n to n + 1; append only, never edit one released. */
const migrations: readonly string[] = [
  `CREATE TABLE objects (
     key TEXT PRIMARY KEY,
     upstream TEXT NOT NULL,
     path TEXT NOT NULL,
     digest TEXT NOT NULL,
     size INTEGER NOT NULL,
     last_modified TEXT,
     upstream_etag TEXT,
     content_type TEXT,
     stored_at INTEGER NOT NULL,
     validated_at INTEGER NOT NULL,
     last_access_at INTEGER NOT NULL,
     verification TEXT NOT NULL
   ) WITHOUT ROWID`,
  // Every row a schema-1 store holds was written by the apt cache, the only protocol then.
  `ALTER TABLE objects ADD COLUMN protocol TEXT NOT NULL DEFAULT 'apt'`,
  // The index on disk rather than in memory: lookups by digest, blobs in LRU order, totals kept by triggers.
  `CREATE INDEX objects_by_digest ON objects (digest);
   CREATE INDEX objects_by_name ON objects (${nameOfPath});
   CREATE INDEX objects_by_protocol ON objects (protocol);
   CREATE TABLE blobs (
     digest TEXT PRIMARY KEY,
     size INTEGER NOT NULL,
     refs INTEGER NOT NULL,
     last_access_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX blobs_by_access ON blobs (last_access_at, digest);
   CREATE TABLE totals (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     entries INTEGER NOT NULL,
     blobs INTEGER NOT NULL,
     bytes INTEGER NOT NULL
   );
   INSERT INTO blobs (digest, size, refs, last_access_at)
     SELECT digest, max(size), count(*), max(last_access_at) FROM objects GROUP BY digest;
   INSERT INTO totals (id, entries, blobs, bytes)
     SELECT 1, (SELECT count(*) FROM objects), count(*), coalesce(sum(size), 0) FROM blobs;
   CREATE TABLE state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TRIGGER blobs_added AFTER INSERT ON blobs BEGIN
     UPDATE totals SET blobs = blobs + 1, bytes = bytes + NEW.size;
   END;
   CREATE TRIGGER blobs_removed AFTER DELETE ON blobs BEGIN
     UPDATE totals SET blobs = blobs - 1, bytes = bytes - OLD.size;
   END;
   CREATE TRIGGER objects_added AFTER INSERT ON objects BEGIN
     UPDATE totals SET entries = entries + 1;
     INSERT INTO blobs (digest, size, refs, last_access_at) VALUES (NEW.digest, NEW.size, 1, NEW.last_access_at)
       ON CONFLICT (digest) DO UPDATE SET refs = refs + 1, last_access_at = max(last_access_at, excluded.last_access_at);
   END;
   CREATE TRIGGER objects_removed AFTER DELETE ON objects BEGIN
     UPDATE totals SET entries = entries - 1;
     UPDATE blobs SET refs = refs - 1 WHERE digest = OLD.digest;
     DELETE FROM blobs WHERE digest = OLD.digest AND refs <= 0;
   END;
   CREATE TRIGGER objects_moved AFTER UPDATE OF digest ON objects WHEN OLD.digest IS NOT NEW.digest BEGIN
     UPDATE blobs SET refs = refs - 1 WHERE digest = OLD.digest;
     DELETE FROM blobs WHERE digest = OLD.digest AND refs <= 0;
     INSERT INTO blobs (digest, size, refs, last_access_at) VALUES (NEW.digest, NEW.size, 1, NEW.last_access_at)
       ON CONFLICT (digest) DO UPDATE SET refs = refs + 1, last_access_at = max(last_access_at, excluded.last_access_at);
   END;
   CREATE TRIGGER objects_accessed AFTER UPDATE OF last_access_at ON objects WHEN OLD.digest = NEW.digest BEGIN
     UPDATE blobs SET last_access_at = max(last_access_at, NEW.last_access_at) WHERE digest = NEW.digest;
   END;`,
];

export const indexSchemaVersion = migrations.length;

export const defaultTouchFlushIntervalMs = 5000;

/** Published on diagnostics_channel `hoard:index-flush-failed` when a timed flush of access times fails. */
export interface IndexFlushFailedEvent {
  /** Access times still waiting; they are retried at the next flush. */
  readonly pending: number;
  readonly error: HoardError;
}

const flushFailedChannel = diagnosticsChannel.channel('hoard:index-flush-failed');

export interface SqliteMetadataIndexOptions {
  /** How long touches wait before they are written in one transaction; default 5000 ms. */
  readonly touchFlushIntervalMs?: number | undefined;
  /** Entries kept in memory, the most recently used; default 4096 (about 2 MB). */
  readonly hotEntries?: number | undefined;
}

export const defaultHotEntries = 4096;

/** Pending touches written at once when this many have gathered, whatever the interval. */
const maxPendingTouches = 10_000;

/** Rows read per page by all(). */
const pageRows = 512;

const columns =
  'key, protocol, upstream, path, digest, size, last_modified, upstream_etag, content_type, stored_at, validated_at, last_access_at, verification';

interface ObjectRow {
  key: string;
  protocol: string;
  upstream: string;
  path: string;
  digest: string;
  size: number;
  last_modified: string | null;
  upstream_etag: string | null;
  content_type: string | null;
  stored_at: number;
  validated_at: number;
  last_access_at: number;
  verification: Verification;
}

interface BlobRow {
  digest: string;
  size: number;
  last_access_at: number;
}

/**
 * Opens (creating or migrating) `<root>/index.sqlite` synchronously in the constructor; nothing is loaded.
 * Call `close()` at shutdown: it writes the pending touches and closes the database; afterwards reads
 * answer from the hot entries only, touch is ignored, and writes throw.
 */
export class SqliteMetadataIndex implements MetadataIndex {
  readonly #path: string;
  readonly #db: DatabaseSync;
  /** The most recently used entries, least recent first (a Map keeps insertion order). */
  readonly #hot = new Map<string, ObjectEntry>();
  /**
   * The key last put at the end of #hot: a hit on it needs no move (a delete and an insert, about 1 % of
   * a small cache hit when one file is asked again and again). Every append to #hot sets it.
   */
  #newest: string | undefined;
  readonly #hotLimit: number;
  readonly #upsert: StatementSync;
  readonly #remove: StatementSync;
  readonly #setValidated: StatementSync;
  readonly #setAccessed: StatementSync;
  readonly #selectKey: StatementSync;
  readonly #selectDigest: StatementSync;
  readonly #selectFirstPage: StatementSync;
  readonly #selectPage: StatementSync;
  readonly #selectTotals: StatementSync;
  readonly #selectFirstBlobs: StatementSync;
  readonly #selectBlobs: StatementSync;
  readonly #pendingTouches = new Map<string, number>();
  readonly #flushIntervalMs: number;
  #flushTimer: NodeJS.Timeout | undefined;
  /**
   * True when the last process to open this index closed it (no crash since): index and blobs are then as
   * consistent as hoard leaves them, and start-up may skip reconciling them.
   */
  readonly closedCleanly: boolean;
  /** Counts deletes, so that a page all() read earlier is checked again before its rows are handed out. */
  #deletes = 0;
  #closed = false;

  constructor(root: string, options: SqliteMetadataIndexOptions = {}) {
    this.#path = `${resolve(root)}/index.sqlite`;
    this.#flushIntervalMs = options.touchFlushIntervalMs ?? defaultTouchFlushIntervalMs;
    this.#hotLimit = Math.max(1, options.hotEntries ?? defaultHotEntries);
    let db: DatabaseSync | undefined;
    try {
      mkdirSync(resolve(root), { recursive: true });
      db = new DatabaseSync(this.#path);
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      // A second process opening the file (hoard verify) waits for a writer instead of failing.
      db.exec('PRAGMA busy_timeout = 5000');
      // SQLite's page cache stays at its default (about 2 MiB) whatever the size of the file: memory does not
      // follow the object count, and the kernel's page cache holds the rest of a hot file anyway.
      migrate(db, this.#path);
      const clean = db.prepare("SELECT value FROM state WHERE name = 'clean'").get() as { value: number } | undefined;
      this.closedCleanly = clean?.value === 1;
      db.exec("INSERT INTO state (name, value) VALUES ('clean', 0) ON CONFLICT (name) DO UPDATE SET value = 0");
      this.#upsert = db.prepare(
        `INSERT INTO objects (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET protocol = excluded.protocol, upstream = excluded.upstream, path = excluded.path,
           digest = excluded.digest, size = excluded.size, last_modified = excluded.last_modified, upstream_etag = excluded.upstream_etag,
           content_type = excluded.content_type, stored_at = excluded.stored_at, validated_at = excluded.validated_at,
           last_access_at = excluded.last_access_at, verification = excluded.verification`,
      );
      this.#remove = db.prepare('DELETE FROM objects WHERE key = ?');
      this.#setValidated = db.prepare('UPDATE objects SET validated_at = ? WHERE key = ?');
      this.#setAccessed = db.prepare('UPDATE objects SET last_access_at = ? WHERE key = ? AND last_access_at <> ?');
      this.#selectKey = db.prepare(`SELECT ${columns} FROM objects WHERE key = ?`);
      this.#selectDigest = db.prepare(`SELECT ${columns} FROM objects WHERE digest = ?`);
      this.#selectFirstPage = db.prepare(`SELECT ${columns} FROM objects ORDER BY key LIMIT ?`);
      this.#selectPage = db.prepare(`SELECT ${columns} FROM objects WHERE key > ? ORDER BY key LIMIT ?`);
      this.#selectTotals = db.prepare('SELECT entries, blobs, bytes FROM totals WHERE id = 1');
      this.#selectFirstBlobs = db.prepare('SELECT digest, size, last_access_at FROM blobs ORDER BY last_access_at, digest LIMIT ?');
      this.#selectBlobs = db.prepare(
        'SELECT digest, size, last_access_at FROM blobs WHERE (last_access_at, digest) > (?, ?) ORDER BY last_access_at, digest LIMIT ?',
      );
    } catch (err) {
      try {
        db?.close();
      } catch {
        // The open failure is the one worth reporting.
      }
      throw toStoreError(err, `cannot open the metadata index ${this.#path}`);
    }
    this.#db = db;
  }

  get(key: string): ObjectEntry | undefined {
    const hot = this.#hot.get(key);
    if (hot !== undefined) {
      // Most recently used goes last; the first is the one let go when the set is full.
      if (key !== this.#newest) {
        this.#hot.delete(key);
        this.#hot.set(key, hot);
        this.#newest = key;
      }
      return hot;
    }
    if (this.#closed) return undefined;
    const row = this.#read(() => this.#selectKey.get(key), `cannot read the index entry of ${key}`) as ObjectRow | undefined;
    if (row === undefined) return undefined;
    const entry = this.#fromRow(row);
    this.#remember(entry);
    return entry;
  }

  put(entry: ObjectEntry): void {
    this.#assertOpen();
    const e = normalizeEntry(entry);
    try {
      this.#upsert.run(
        e.key,
        e.protocol,
        e.upstream,
        e.path,
        e.digest,
        e.size,
        e.lastModified ?? null,
        e.upstreamEtag ?? null,
        e.contentType ?? null,
        e.storedAt,
        e.validatedAt,
        e.lastAccessAt,
        e.verification,
      );
    } catch (err) {
      throw toStoreError(err, `cannot store the index entry of ${e.key}`);
    }
    // The entry just written carries its own lastAccessAt; an older pending touch must not overwrite it.
    this.#pendingTouches.delete(e.key);
    this.#hot.delete(e.key);
    this.#remember(e);
  }

  delete(key: string): void {
    this.#assertOpen();
    try {
      this.#remove.run(key);
    } catch (err) {
      throw toStoreError(err, `cannot delete the index entry of ${key}`);
    }
    this.#deletes += 1;
    this.#pendingTouches.delete(key);
    this.#hot.delete(key);
  }

  /** Memory now, disk within the flush interval; ignored for a key not stored and after close. */
  touch(key: string, at: number): void {
    if (this.#closed) return;
    const hot = this.#hot.get(key);
    if (hot !== undefined) {
      if (hot.lastAccessAt === at) return;
      // A new object, so that an entry a caller holds never changes under it.
      this.#hot.set(key, { ...hot, lastAccessAt: at });
    }
    // A key not stored is harmless here: its UPDATE changes no row.
    this.#pendingTouches.set(key, at);
    if (this.#pendingTouches.size >= maxPendingTouches) {
      try {
        this.flush();
      } catch {
        // Kept pending; the timer below tries again.
      }
    }
    if (this.#flushTimer === undefined && this.#pendingTouches.size > 0) {
      this.#flushTimer = setTimeout(() => this.#timedFlush(), this.#flushIntervalMs);
      // Pending access times are no reason to keep the process alive; close() writes them.
      this.#flushTimer.unref();
    }
  }

  markValidated(key: string, at: number): void {
    this.#assertOpen();
    try {
      this.#setValidated.run(at, key);
    } catch (err) {
      throw toStoreError(err, `cannot record the revalidation of ${key}`);
    }
    const hot = this.#hot.get(key);
    if (hot !== undefined && hot.validatedAt !== at) this.#hot.set(key, { ...hot, validatedAt: at });
  }

  /** Pages through the table in key order; rows deleted after their page was read are skipped. */
  *all(): Iterable<ObjectEntry> {
    let after: string | undefined;
    for (;;) {
      if (this.#closed) return;
      const deletesBefore = this.#deletes;
      const rows = this.#read(
        () => (after === undefined ? this.#selectFirstPage.all(pageRows) : this.#selectPage.all(after, pageRows)),
        'cannot list the metadata index',
      ) as unknown as ObjectRow[];
      for (const row of rows) {
        if (this.#deletes !== deletesBefore && !this.#exists(row.key)) continue;
        yield this.#fromRow(row);
      }
      if (rows.length < pageRows) return;
      after = rows[rows.length - 1]?.key;
    }
  }

  byDigest(digest: string): ObjectEntry[] {
    if (this.#closed) return [...this.#hot.values()].filter((e) => e.digest === digest);
    const rows = this.#read(() => this.#selectDigest.all(digest), `cannot read the index entries of blob ${digest}`) as unknown as ObjectRow[];
    return rows.map((row) => this.#fromRow(row));
  }

  count(): number {
    return this.totals().entries;
  }

  totals(): IndexTotals {
    const row = this.#read(() => this.#selectTotals.get(), 'cannot read the index totals') as { entries: number; blobs: number; bytes: number } | undefined;
    return { entries: row?.entries ?? 0, blobs: row?.blobs ?? 0, bytes: row?.bytes ?? 0 };
  }

  blobsByAccess(after: BlobCursor | undefined, limit: number): IndexedBlob[] {
    // A page in LRU order must see the accesses recorded so far.
    if (after === undefined && this.#pendingTouches.size > 0) {
      try {
        this.flush();
      } catch {
        // Order by the access times on disk; the pending ones are retried by the timer.
      }
    }
    const rows = this.#read(
      () => (after === undefined ? this.#selectFirstBlobs.all(limit) : this.#selectBlobs.all(after.lastAccessAt, after.digest, limit)),
      'cannot list the blobs of the metadata index',
    ) as unknown as BlobRow[];
    return rows.map((row) => ({ digest: row.digest, size: row.size, lastAccessAt: row.last_access_at }));
  }

  /**
   * Whole last segments and a protocol are looked up in their indices; other endings and `pathContains`
   * are checked in SQLite on the rows those leave (no entry is built for rows that do not match).
   */
  findByPath(query: PathQuery): ObjectEntry[] {
    const where: string[] = [];
    const params: string[] = [];
    if (query.protocol !== undefined) {
      where.push('protocol = ?');
      params.push(query.protocol);
    }
    if (query.pathEndsWith !== undefined) {
      if (query.pathEndsWith.length === 0) return [];
      const names = query.pathEndsWith.map((end) => /^\/([^/]+)$/.exec(end)?.[1]);
      if (names.every((name) => name !== undefined)) {
        // Whole last segments (`/InRelease`): a lookup in objects_by_name rather than a pass over every row.
        where.push(`${nameOfPath} IN (${names.map(() => '?').join(', ')})`);
        params.push(...names);
      } else {
        where.push(`(${query.pathEndsWith.map(() => 'substr(path, -length(?)) = ?').join(' OR ')})`);
        for (const end of query.pathEndsWith) params.push(end, end);
      }
    }
    if (query.pathContains !== undefined) {
      where.push('instr(path, ?) > 0');
      params.push(query.pathContains);
    }
    const sql = `SELECT ${columns} FROM objects${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`;
    const rows = this.#read(() => this.#db.prepare(sql).all(...params), 'cannot search the metadata index') as unknown as ObjectRow[];
    // SQLite counts characters, JavaScript UTF-16 units: the exact test is JavaScript's.
    return rows
      .map((row) => this.#fromRow(row))
      .filter((entry) => query.pathEndsWith === undefined || query.pathEndsWith.some((end) => entry.path.endsWith(end)));
  }

  /** Writes pending touches now, in one transaction. On failure they stay pending and it throws. */
  flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#pendingTouches.size === 0 || this.#closed) return;
    try {
      this.#db.exec('BEGIN');
      try {
        for (const [key, at] of this.#pendingTouches) this.#setAccessed.run(at, key, at);
        this.#db.exec('COMMIT');
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    } catch (err) {
      throw toStoreError(err, 'cannot write access times to the metadata index');
    }
    this.#pendingTouches.clear();
  }

  /** Flushes pending touches and closes the database; safe to call twice. Throws if either fails (the database is closed regardless). */
  close(): void {
    if (this.#closed) return;
    let failure: HoardError | undefined;
    try {
      this.flush();
    } catch (err) {
      failure = toStoreError(err, 'cannot write access times to the metadata index');
    }
    this.#closed = true;
    try {
      // A close that lost access times is still clean: index and blobs agree, only LRU order is older.
      this.#db.exec("UPDATE state SET value = 1 WHERE name = 'clean'");
      // Lets SQLite refresh its query-planner statistics, as its docs advise before closing.
      this.#db.exec('PRAGMA optimize');
      this.#db.close();
    } catch (err) {
      failure ??= toStoreError(err, `cannot close the metadata index ${this.#path}`);
    }
    if (failure !== undefined) throw failure;
  }

  /** `entry.key` must not be in #hot: it is appended. */
  #remember(entry: ObjectEntry): void {
    this.#hot.set(entry.key, entry);
    this.#newest = entry.key;
    if (this.#hot.size > this.#hotLimit) {
      const oldest = this.#hot.keys().next().value;
      if (oldest !== undefined) this.#hot.delete(oldest);
    }
  }

  #exists(key: string): boolean {
    return this.#hot.has(key) || this.#selectKey.get(key) !== undefined;
  }

  /** A row as an entry, with an access time still waiting to be written. */
  #fromRow(row: ObjectRow): ObjectEntry {
    const entry = fromRow(row);
    const touched = this.#pendingTouches.get(entry.key);
    return touched === undefined || touched === entry.lastAccessAt ? entry : { ...entry, lastAccessAt: touched };
  }

  #read<T>(read: () => T, what: string): T {
    if (this.#closed) throw new HoardError('HOARD_ERR_INTERNAL', 'the metadata index is closed');
    try {
      return read();
    } catch (err) {
      throw toStoreError(err, what);
    }
  }

  #timedFlush(): void {
    this.#flushTimer = undefined;
    try {
      this.flush();
    } catch (err) {
      const error = toStoreError(err, 'cannot write access times to the metadata index');
      if (flushFailedChannel.hasSubscribers) flushFailedChannel.publish({ pending: this.#pendingTouches.size, error } satisfies IndexFlushFailedEvent);
      this.#flushTimer = setTimeout(() => this.#timedFlush(), this.#flushIntervalMs);
      this.#flushTimer.unref();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new HoardError('HOARD_ERR_INTERNAL', 'the metadata index is closed');
  }
}

function migrate(db: DatabaseSync, path: string): void {
  // IMMEDIATE: two processes opening an old file at once must not both migrate it.
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    const from = row?.version ?? 0;
    if (from > migrations.length) {
      throw new HoardError('HOARD_ERR_STORE_IO', `the metadata index ${path} is at schema version ${from}; this hoard reads up to ${migrations.length}`);
    }
    for (const sql of migrations.slice(from)) db.exec(sql);
    if (row === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(migrations.length);
    else if (from < migrations.length) db.prepare('UPDATE schema_version SET version = ?').run(migrations.length);
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

function fromRow(row: ObjectRow): ObjectEntry {
  return normalizeEntry({
    key: row.key,
    protocol: row.protocol,
    upstream: row.upstream,
    path: row.path,
    digest: row.digest,
    size: row.size,
    lastModified: row.last_modified ?? undefined,
    upstreamEtag: row.upstream_etag ?? undefined,
    contentType: row.content_type ?? undefined,
    storedAt: row.stored_at,
    validatedAt: row.validated_at,
    lastAccessAt: row.last_access_at,
    verification: row.verification,
  });
}
