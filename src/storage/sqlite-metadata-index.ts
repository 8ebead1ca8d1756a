// SqliteMetadataIndex: the MetadataIndex kept in <root>/index.sqlite, served from memory and written through.
/*
 * On-disk layout: <root>/index.sqlite (SQLite 3, journal_mode=WAL, so index.sqlite-wal and
 * index.sqlite-shm sit beside it while it is open), schema version 2:
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
 *
 * There is no SQL index on digest: every read (get, all, byDigest, count) is served from memory.
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
import { MemoryMetadataIndex, normalizeEntry } from './memory-metadata-index.ts';
import type { MetadataIndex, ObjectEntry, Verification } from './metadata-index.ts';
import { toStoreError } from './store-errors.ts';

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
}

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

/**
 * Opens (creating or migrating) `<root>/index.sqlite` synchronously in the constructor and loads every
 * entry into memory. Reads never touch the database. Call `close()` at shutdown: it writes the
 * pending touches and closes the database; afterwards reads still answer from memory, touch is
 * ignored, and writes throw.
 */
export class SqliteMetadataIndex implements MetadataIndex {
  readonly #path: string;
  readonly #db: DatabaseSync;
  readonly #memory = new MemoryMetadataIndex();
  readonly #upsert: StatementSync;
  readonly #remove: StatementSync;
  readonly #setValidated: StatementSync;
  readonly #setAccessed: StatementSync;
  readonly #pendingTouches = new Map<string, number>();
  readonly #flushIntervalMs: number;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(root: string, options: SqliteMetadataIndexOptions = {}) {
    this.#path = `${resolve(root)}/index.sqlite`;
    this.#flushIntervalMs = options.touchFlushIntervalMs ?? defaultTouchFlushIntervalMs;
    let db: DatabaseSync | undefined;
    try {
      mkdirSync(resolve(root), { recursive: true });
      db = new DatabaseSync(this.#path);
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      // A second process opening the file (hoard gc, hoard stats) waits for a writer instead of failing.
      db.exec('PRAGMA busy_timeout = 5000');
      migrate(db, this.#path);
      this.#upsert = db.prepare(
        `INSERT OR REPLACE INTO objects
           (key, protocol, upstream, path, digest, size, last_modified, upstream_etag, content_type, stored_at, validated_at, last_access_at, verification)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      this.#remove = db.prepare('DELETE FROM objects WHERE key = ?');
      this.#setValidated = db.prepare('UPDATE objects SET validated_at = ? WHERE key = ?');
      this.#setAccessed = db.prepare('UPDATE objects SET last_access_at = ? WHERE key = ?');
      const rows = db.prepare(
        `SELECT key, protocol, upstream, path, digest, size, last_modified, upstream_etag, content_type, stored_at, validated_at, last_access_at, verification
         FROM objects`,
      );
      for (const row of rows.iterate()) this.#memory.put(fromRow(row as unknown as ObjectRow));
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
    return this.#memory.get(key);
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
    this.#memory.put(e);
  }

  delete(key: string): void {
    this.#assertOpen();
    try {
      this.#remove.run(key);
    } catch (err) {
      throw toStoreError(err, `cannot delete the index entry of ${key}`);
    }
    this.#pendingTouches.delete(key);
    this.#memory.delete(key);
  }

  /** Memory now, disk within the flush interval; ignored for a key not stored and after close. */
  touch(key: string, at: number): void {
    if (this.#closed || this.#memory.get(key) === undefined) return;
    this.#memory.touch(key, at);
    this.#pendingTouches.set(key, at);
    if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.#timedFlush(), this.#flushIntervalMs);
      // Pending access times are no reason to keep the process alive; close() writes them.
      this.#flushTimer.unref();
    }
  }

  markValidated(key: string, at: number): void {
    this.#assertOpen();
    if (this.#memory.get(key) === undefined) return;
    try {
      this.#setValidated.run(at, key);
    } catch (err) {
      throw toStoreError(err, `cannot record the revalidation of ${key}`);
    }
    this.#memory.markValidated(key, at);
  }

  all(): Iterable<ObjectEntry> {
    return this.#memory.all();
  }

  byDigest(digest: string): ObjectEntry[] {
    return this.#memory.byDigest(digest);
  }

  count(): number {
    return this.#memory.count();
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
        for (const [key, at] of this.#pendingTouches) this.#setAccessed.run(at, key);
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
      // Lets SQLite refresh its query-planner statistics, as its docs advise before closing.
      this.#db.exec('PRAGMA optimize');
      this.#db.close();
    } catch (err) {
      failure ??= toStoreError(err, `cannot close the metadata index ${this.#path}`);
    }
    if (failure !== undefined) throw failure;
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

// MemoryMetadataIndex.put drops the optional fields left undefined here.
function fromRow(row: ObjectRow): ObjectEntry {
  return {
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
  };
}
