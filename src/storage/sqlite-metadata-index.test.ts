// Tests of SqliteMetadataIndex: the MetadataIndex contract, plus persistence, batching and crash recovery.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { isHoardError } from '../errors.ts';
import { bareEntry, metadataIndexContract, sampleEntry } from './metadata-index.contract.ts';
import type { ObjectEntry } from './metadata-index.ts';
import { indexSchemaVersion, SqliteMetadataIndex } from './sqlite-metadata-index.ts';

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

async function newRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hoard-sqlite-index-'));
  roots.push(root);
  return root;
}

metadataIndexContract('SqliteMetadataIndex', async () => new SqliteMetadataIndex(await newRoot()));

/** Runs `body` (an ES module) in a child process and SIGKILLs it once it prints `ready`: a crash. */
async function crashAfter(body: string): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '--eval', `${body}\nprocess.stdout.write('ready\\n');\nsetInterval(() => {}, 1000);`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (data: Buffer) => {
      if (data.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

void describe('SqliteMetadataIndex on disk', () => {
  void it('keeps entries across close and reopen', async () => {
    const root = await newRoot();
    const entries = [
      sampleEntry('/a.deb', { verification: 'authenticated' }),
      bareEntry('/b.deb', { verification: 'unverified' }),
      sampleEntry('/c.deb', { size: 2 ** 40, storedAt: Date.UTC(2030, 0, 1) }),
    ];
    const first = new SqliteMetadataIndex(root);
    for (const entry of entries) first.put(entry);
    first.put(sampleEntry('/deleted'));
    first.delete(sampleEntry('/deleted').key);
    first.markValidated(entries[0]?.key ?? '', 123);
    first.close();
    const second = new SqliteMetadataIndex(root);
    assert.equal(second.count(), 3);
    assert.deepEqual(second.get(entries[0]?.key ?? ''), { ...entries[0], validatedAt: 123 });
    assert.deepEqual(second.get(entries[1]?.key ?? ''), entries[1]);
    assert.deepEqual(second.get(entries[2]?.key ?? ''), entries[2]);
    assert.deepEqual(second.byDigest(entries[2]?.digest ?? '').length, 1);
    second.close();
  });

  void it('writes touches on close', async () => {
    const root = await newRoot();
    const entry = sampleEntry('/touched');
    const first = new SqliteMetadataIndex(root, { touchFlushIntervalMs: 60_000 });
    first.put(entry);
    first.touch(entry.key, 777);
    first.close();
    const second = new SqliteMetadataIndex(root);
    assert.equal(second.get(entry.key)?.lastAccessAt, 777);
    second.close();
  });

  void it('writes touches in batches on a timer', async () => {
    const root = await newRoot();
    const entry = sampleEntry('/touched');
    const index = new SqliteMetadataIndex(root, { touchFlushIntervalMs: 10 });
    index.put(entry);
    index.touch(entry.key, 1000);
    const onDisk = (): number | undefined => {
      const reader = new SqliteMetadataIndex(root);
      const at = reader.get(entry.key)?.lastAccessAt;
      reader.close();
      return at;
    };
    assert.equal(onDisk(), entry.lastAccessAt, 'not written synchronously');
    // Polled rather than slept for: the timer fires after 10 ms, but a loaded CI machine may be slow.
    for (let waited = 0; onDisk() !== 1000 && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(onDisk(), 1000);
    index.close();
  });

  void it('does not let a pending touch overwrite a later put', async () => {
    const root = await newRoot();
    const entry = sampleEntry('/replaced');
    const index = new SqliteMetadataIndex(root, { touchFlushIntervalMs: 60_000 });
    index.put(entry);
    index.touch(entry.key, 5);
    index.put({ ...entry, lastAccessAt: 9 });
    index.close();
    const reopened = new SqliteMetadataIndex(root);
    assert.equal(reopened.get(entry.key)?.lastAccessAt, 9);
    reopened.close();
  });

  void it('keeps committed puts when its process is killed, losing only unflushed touches', async () => {
    const root = await newRoot();
    const moduleUrl = new URL('./sqlite-metadata-index.ts', import.meta.url).href;
    const contractUrl = new URL('./metadata-index.contract.ts', import.meta.url).href;
    await crashAfter(`
      import { SqliteMetadataIndex } from ${JSON.stringify(moduleUrl)};
      import { sampleEntry } from ${JSON.stringify(contractUrl)};
      const index = new SqliteMetadataIndex(${JSON.stringify(root)}, { touchFlushIntervalMs: 60_000 });
      for (let i = 0; i < 100; i += 1) index.put(sampleEntry('/pool/' + i + '.deb'));
      index.delete(sampleEntry('/pool/0.deb').key);
      index.markValidated(sampleEntry('/pool/1.deb').key, 42);
      index.touch(sampleEntry('/pool/2.deb').key, 43);
    `);
    const index = new SqliteMetadataIndex(root);
    assert.equal(index.count(), 99);
    assert.equal(index.get(sampleEntry('/pool/0.deb').key), undefined);
    assert.equal(index.get(sampleEntry('/pool/1.deb').key)?.validatedAt, 42);
    assert.deepEqual(index.get(sampleEntry('/pool/2.deb').key), sampleEntry('/pool/2.deb'));
    assert.deepEqual(index.get(sampleEntry('/pool/99.deb').key), sampleEntry('/pool/99.deb'));
    index.close();
  });

  void it('lets a second instance opened while the first was never closed see its puts', async () => {
    const root = await newRoot();
    const crashed = new SqliteMetadataIndex(root);
    crashed.put(sampleEntry('/kept'));
    const reopened = new SqliteMetadataIndex(root);
    assert.deepEqual(reopened.get(sampleEntry('/kept').key), sampleEntry('/kept'));
    reopened.close();
    crashed.close();
  });

  void it('stores index.sqlite in WAL mode with a schema_version row', async () => {
    const root = await newRoot();
    new SqliteMetadataIndex(root).close();
    assert.ok((await readdir(root)).includes('index.sqlite'));
    const db = new DatabaseSync(join(root, 'index.sqlite'));
    assert.deepEqual({ ...db.prepare('PRAGMA journal_mode').get() }, { journal_mode: 'wal' });
    assert.deepEqual(
      db
        .prepare('SELECT version FROM schema_version')
        .all()
        .map((row) => ({ ...row })),
      [{ version: indexSchemaVersion }],
    );
    db.close();
  });

  void it('opens a schema-1 index (before protocols) and reads its rows as apt entries', async () => {
    const root = await newRoot();
    const db = new DatabaseSync(join(root, 'index.sqlite'));
    // The schema the first release wrote, with one row as it wrote them.
    db.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
      CREATE TABLE objects (key TEXT PRIMARY KEY, upstream TEXT NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
        last_modified TEXT, upstream_etag TEXT, content_type TEXT, stored_at INTEGER NOT NULL, validated_at INTEGER NOT NULL,
        last_access_at INTEGER NOT NULL, verification TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO objects VALUES ('http://mirror.example/d/pool/a.deb', 'http://mirror.example', '/d/pool/a.deb', '${'a'.repeat(64)}', 3,
        NULL, NULL, NULL, 1, 2, 3, 'hash-verified');`);
    db.close();
    const index = new SqliteMetadataIndex(root);
    const entry = index.get('http://mirror.example/d/pool/a.deb');
    assert.equal(entry?.protocol, 'apt');
    assert.equal(entry?.digest, 'a'.repeat(64));
    index.close();
    const after = new DatabaseSync(join(root, 'index.sqlite'));
    assert.deepEqual({ ...after.prepare('SELECT version FROM schema_version').get() }, { version: indexSchemaVersion });
    after.close();
  });

  void it('migrates a schema-2 index: blobs and totals built from its rows, then kept by the triggers', async () => {
    const root = await newRoot();
    const db = new DatabaseSync(join(root, 'index.sqlite'));
    db.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);
      CREATE TABLE objects (key TEXT PRIMARY KEY, upstream TEXT NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
        last_modified TEXT, upstream_etag TEXT, content_type TEXT, stored_at INTEGER NOT NULL, validated_at INTEGER NOT NULL,
        last_access_at INTEGER NOT NULL, verification TEXT NOT NULL, protocol TEXT NOT NULL DEFAULT 'apt') WITHOUT ROWID;
      INSERT INTO objects VALUES ('http://m/a', 'http://m', '/a', '${'a'.repeat(64)}', 10, NULL, NULL, NULL, 1, 2, 3, 'unverified', 'apt');
      INSERT INTO objects VALUES ('http://m/b', 'http://m', '/b', '${'a'.repeat(64)}', 10, NULL, NULL, NULL, 1, 2, 7, 'unverified', 'apt');
      INSERT INTO objects VALUES ('http://m/c', 'http://m', '/c', '${'c'.repeat(64)}', 5, NULL, NULL, NULL, 1, 2, 5, 'unverified', 'oci');`);
    db.close();
    const index = new SqliteMetadataIndex(root);
    assert.deepEqual(index.totals(), { entries: 3, blobs: 2, bytes: 15 });
    assert.deepEqual(index.blobsByAccess(undefined, 10), [
      { digest: 'c'.repeat(64), size: 5, lastAccessAt: 5 },
      { digest: 'a'.repeat(64), size: 10, lastAccessAt: 7 },
    ]);
    assert.deepEqual(
      index.byDigest('a'.repeat(64)).map((e) => e.key),
      ['http://m/a', 'http://m/b'],
    );
    index.delete('http://m/a');
    index.delete('http://m/b');
    assert.deepEqual(index.totals(), { entries: 1, blobs: 1, bytes: 5 });
    index.close();
  });

  void it('keeps only hotEntries entries in memory and reads the rest from disk', async () => {
    const root = await newRoot();
    const entries = Array.from({ length: 300 }, (_, i) => sampleEntry(`/pool/${i}.deb`));
    const writer = new SqliteMetadataIndex(root);
    for (const entry of entries) writer.put(entry);
    writer.close();
    const index = new SqliteMetadataIndex(root, { hotEntries: 8, touchFlushIntervalMs: 60_000 });
    for (const entry of entries) assert.deepEqual(index.get(entry.key), entry);
    // A touch of an entry no longer in memory is seen by every read, and written at close.
    const first = entries[0] as ObjectEntry;
    index.touch(first.key, 99);
    assert.equal(index.get(first.key)?.lastAccessAt, 99);
    assert.equal(index.byDigest(first.digest)[0]?.lastAccessAt, 99);
    index.close();
    const reopened = new SqliteMetadataIndex(root);
    assert.equal(reopened.get(first.key)?.lastAccessAt, 99);
    assert.equal(reopened.count(), 300);
    reopened.close();
  });

  void it('lets go of the least recently used entry, whether a hit was on the newest entry or an older one', async () => {
    const [a, b, c, d, e, f] = ['/a', '/b', '/c', '/d', '/e', '/f'].map((path) => sampleEntry(path)) as [
      ObjectEntry,
      ObjectEntry,
      ObjectEntry,
      ObjectEntry,
      ObjectEntry,
      ObjectEntry,
    ];
    // Each step's keys in memory, least recent first, after the step.
    const sequences: Array<{ steps: Array<['get' | 'put' | 'delete', ObjectEntry]>; kept: ObjectEntry[] }> = [
      // a b c / a b c / b c d / b d c / d c e / d c / d c e / c e f
      {
        steps: [
          ['put', a],
          ['put', b],
          ['put', c],
          ['get', c],
          ['put', d],
          ['get', c],
          ['put', e],
          ['delete', e],
          ['put', e],
          ['put', f],
        ],
        kept: [c, e, f],
      },
      // a b c / a b c / b c d / b d c / b c d / b c d / c d e / d e f
      {
        steps: [
          ['put', a],
          ['put', b],
          ['put', c],
          ['get', c],
          ['put', d],
          ['get', c],
          ['get', d],
          ['get', d],
          ['put', e],
          ['put', f],
        ],
        kept: [d, e, f],
      },
    ];
    for (const { steps, kept } of sequences) {
      const index = new SqliteMetadataIndex(await newRoot(), { hotEntries: 3, touchFlushIntervalMs: 60_000 });
      for (const [op, entry] of steps) {
        if (op === 'get') index.get(entry.key);
        else if (op === 'put') index.put(entry);
        else index.delete(entry.key);
      }
      index.close();
      // After close only the entries in memory answer.
      assert.deepEqual(
        [a, b, c, d, e, f].filter((entry) => index.get(entry.key) !== undefined),
        kept,
      );
    }
  });

  void it('tells whether the last process to open it closed it, so start-up can skip reconciling', async () => {
    const root = await newRoot();
    const first = new SqliteMetadataIndex(root);
    assert.equal(first.closedCleanly, false, 'a new index has never been closed');
    first.close();
    const second = new SqliteMetadataIndex(root);
    assert.equal(second.closedCleanly, true);
    second.put(sampleEntry('/a'));
    // Never closed: the next open must not take it for a clean shutdown.
    const afterCrash = new SqliteMetadataIndex(root);
    assert.equal(afterCrash.closedCleanly, false);
    afterCrash.close();
    second.close();
    const moduleUrl = new URL('./sqlite-metadata-index.ts', import.meta.url).href;
    await crashAfter(`
      import { SqliteMetadataIndex } from ${JSON.stringify(moduleUrl)};
      new SqliteMetadataIndex(${JSON.stringify(root)});
    `);
    const killed = new SqliteMetadataIndex(root);
    assert.equal(killed.closedCleanly, false, 'a killed process left it open');
    killed.close();
  });

  void it('refuses an index written by a newer hoard', async () => {
    const root = await newRoot();
    new SqliteMetadataIndex(root).close();
    const db = new DatabaseSync(join(root, 'index.sqlite'));
    db.exec('UPDATE schema_version SET version = 99');
    db.close();
    assert.throws(
      () => new SqliteMetadataIndex(root),
      (err) => isHoardError(err, 'HOARD_ERR_STORE_IO') && /schema version 99/.test(err.message),
    );
  });

  void it('answers reads but refuses writes after close, and ignores touches', async () => {
    const root = await newRoot();
    const index = new SqliteMetadataIndex(root);
    const entry = sampleEntry('/x');
    index.put(entry);
    index.close();
    // From the hot entries: the database is closed.
    assert.deepEqual(index.get(entry.key), entry);
    index.touch(entry.key, 1);
    assert.throws(
      () => index.put(entry),
      (err) => isHoardError(err, 'HOARD_ERR_INTERNAL'),
    );
    assert.throws(
      () => index.delete(entry.key),
      (err) => isHoardError(err, 'HOARD_ERR_INTERNAL'),
    );
  });
});
