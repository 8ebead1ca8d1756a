// Builds a hoard data directory of N small objects (real blob files, a real index) without fetching anything, once.
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { FsBlobStore } from '../../src/storage/fs-blob-store.ts';
import { SqliteMetadataIndex } from '../../src/storage/sqlite-metadata-index.ts';

/** The named backend every synthetic object belongs to; the bench's config declares it. */
export const syntheticBackend = 'synth';

/** Marks a finished build: a directory without it is built again from scratch. */
const doneMarker = '.synthetic-store-complete';

export function syntheticPath(i: number): string {
  return `/pool/main/s/synth${i}/synth${i}_1.0_all.deb`;
}

/** The bytes of object i: 512 to 1535 bytes, distinct for every i, so each object is its own blob. */
export function syntheticBody(i: number): Buffer {
  const size = 512 + (i % 1024);
  const line = Buffer.from(`synthetic object ${i}\n`);
  const body = Buffer.alloc(size);
  for (let at = 0; at < size; at += line.length) line.copy(body, at);
  return body;
}

/** The objects the bench reads by name: their blob files hold their own bytes. */
export function measuredObjects(count: number): number[] {
  return Array.from({ length: 8 }, (_, k) => Math.floor((k * count) / 8));
}

/** Bodies the other blob files are hard links to, one per size (ext4 allows 65,000 links to one file). */
const linkSources = 1024;

/**
 * `<dir>` holds `count` objects afterwards: one index entry each, inserted through the index's own schema
 * (so its triggers keep the totals), each naming its own blob under blobs/sha256/. Reused as it is when
 * already complete.
 *
 * Creating a million inodes takes this machine about eight minutes (half a millisecond each), so only the
 * measured objects get files of their own bytes; every other blob file is a hard link to a body of its size
 * (20 us each). Those bytes do not hash to the file's name, which nothing on the measured path checks: hits
 * are served without re-hashing, and the reconciliation compares sizes. `hoard verify` would quarantine them.
 */
export async function ensureSyntheticStore(dir: string, count: number, log: (line: string) => void): Promise<void> {
  if (existsSync(join(dir, doneMarker))) {
    // A store built by an older hoard is migrated here, once, not inside a measured start-up.
    new SqliteMetadataIndex(dir).close();
    return;
  }
  await rm(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const blobs = new FsBlobStore(dir);
  await blobs.init();
  new SqliteMetadataIndex(dir).close();
  for (let shard = 0; shard < 256; shard++) mkdirSync(join(dir, 'blobs', 'sha256', shard.toString(16).padStart(2, '0')), { recursive: true });

  const db = new DatabaseSync(join(dir, 'index.sqlite'));
  // A throwaway build: durability is not needed until the marker is written.
  db.exec('PRAGMA synchronous = OFF');
  const insert = db.prepare(
    `INSERT INTO objects (key, protocol, upstream, path, digest, size, last_modified, upstream_etag, content_type, stored_at, validated_at, last_access_at, verification)
     VALUES (?, 'apt', ?, ?, ?, ?, NULL, NULL, 'application/vnd.debian.binary-package', ?, ?, ?, 'unverified')`,
  );
  const sourcesDir = join(dir, 'synthetic-bodies');
  mkdirSync(sourcesDir, { recursive: true });
  for (let n = 0; n < Math.min(linkSources, count); n++) writeFileSync(join(sourcesDir, String(n)), syntheticBody(n));
  const measured = new Set(measuredObjects(count));
  const upstream = `backend:${syntheticBackend}`;
  const now = Date.now();
  const started = performance.now();
  const batch = 20_000;
  for (let from = 0; from < count; from += batch) {
    db.exec('BEGIN');
    for (let i = from; i < Math.min(count, from + batch); i++) {
      const body = syntheticBody(i);
      const digest = createHash('sha256').update(body).digest('hex');
      const file = join(dir, 'blobs', 'sha256', digest.slice(0, 2), digest);
      // Body n has the size of every object i with i % 1024 = n.
      if (measured.has(i)) writeFileSync(file, body);
      else linkSync(join(sourcesDir, String(i % linkSources)), file);
      const path = syntheticPath(i);
      // Older objects were used longer ago: eviction order is spread over the whole store.
      insert.run(upstream + path, upstream, path, digest, body.length, now - count + i, now - count + i, now - count + i);
    }
    db.exec('COMMIT');
    if (from % 100_000 === 0 && from > 0) log(`  ${from} of ${count} objects (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  writeFileSync(join(dir, doneMarker), `${count}\n`);
  log(`  built ${count} objects in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
