// Tests of reconcileStore: entries without their blob are dropped, blobs without an entry are reported.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { BlobInfo } from './blob-store.ts';
import { listAll, storeBytes } from './blob-store.contract.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { MemoryBlobStore } from './memory-blob-store.ts';
import { MemoryMetadataIndex } from './memory-metadata-index.ts';
import type { ObjectEntry } from './metadata-index.ts';
import { digestOf, sampleEntry } from './metadata-index.contract.ts';
import { SqliteMetadataIndex } from './sqlite-metadata-index.ts';
import { reconcileStore } from './store-reconciler.ts';

function entryFor(path: string, blob: BlobInfo): ObjectEntry {
  return sampleEntry(path, { digest: blob.digest, size: blob.size });
}

void describe('reconcileStore', () => {
  void it('drops entries whose blob is missing or has another size, and reports orphans without deleting them', async () => {
    const blobs = new MemoryBlobStore();
    const index = new MemoryMetadataIndex();
    const good = await storeBytes(blobs, Buffer.from('good'));
    const shared = await storeBytes(blobs, Buffer.from('shared'));
    const resized = await storeBytes(blobs, Buffer.from('resized'));
    const orphan = await storeBytes(blobs, Buffer.from('orphan'));
    index.put(entryFor('/good', good));
    index.put(entryFor('/shared-1', shared));
    index.put(entryFor('/shared-2', shared));
    index.put(sampleEntry('/missing', { digest: digestOf('never stored') }));
    index.put(entryFor('/resized', { ...resized, size: resized.size + 1 }));

    const dropped: string[] = [];
    const orphans: string[] = [];
    const report = await reconcileStore(blobs, index, {
      onDroppedEntry: (entry, reason) => dropped.push(`${entry.path} ${reason}`),
      onOrphanBlob: (blob) => orphans.push(blob.digest),
    });

    assert.deepEqual(report, { droppedEntries: 2, orphanBlobs: 2 });
    assert.deepEqual(dropped.sort(), ['/missing blob-missing', '/resized size-differs']);
    assert.deepEqual(orphans.sort(), [orphan.digest, resized.digest].sort());
    assert.deepEqual([...index.all()].map((entry) => entry.path).sort(), ['/good', '/shared-1', '/shared-2']);
    assert.equal((await listAll(blobs)).length, 4, 'orphans are kept');
  });

  void it('reports nothing for a consistent store', async () => {
    const blobs = new MemoryBlobStore();
    const index = new MemoryMetadataIndex();
    index.put(entryFor('/a', await storeBytes(blobs, Buffer.from('a'))));
    assert.deepEqual(await reconcileStore(blobs, index), { droppedEntries: 0, orphanBlobs: 0 });
    assert.equal(index.count(), 1);
  });

  void it('reconciles a data directory whose blob was removed and whose blob was truncated by hand', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-reconcile-'));
    try {
      const blobs = new FsBlobStore(root);
      await blobs.init();
      const index = new SqliteMetadataIndex(root);
      const kept = await storeBytes(blobs, Buffer.from('kept'));
      const removed = await storeBytes(blobs, Buffer.from('removed'));
      const truncated = await storeBytes(blobs, Buffer.from('truncated'));
      for (const [path, blob] of [
        ['/kept', kept],
        ['/removed', removed],
        ['/truncated', truncated],
      ] as const)
        index.put(entryFor(path, blob));
      index.close();
      await blobs.delete(removed.digest);
      await writeFile(join(root, 'blobs', 'sha256', truncated.digest.slice(0, 2), truncated.digest), 'trunc');

      const reopened = new SqliteMetadataIndex(root);
      const report = await reconcileStore(blobs, reopened);
      reopened.close();
      assert.deepEqual(report, { droppedEntries: 2, orphanBlobs: 1 });
      const after = new SqliteMetadataIndex(root);
      assert.deepEqual(
        [...after.all()].map((entry) => entry.path),
        ['/kept'],
      );
      after.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
