// Tests of ReaderTrackingBlobStore: the BlobStore contract, and open streams counted until they close.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { blobStoreContract, readAll, storeBytes } from './blob-store.contract.ts';
import { MemoryBlobStore } from './memory-blob-store.ts';
import { ReaderTrackingBlobStore } from './reader-tracking-blob-store.ts';

blobStoreContract('ReaderTrackingBlobStore over MemoryBlobStore', async () => {
  const inner = new MemoryBlobStore();
  const store = new ReaderTrackingBlobStore(inner);
  await store.init();
  return {
    store,
    corrupt: async (digest, offset) => {
      const bytes = inner.rawBytes(digest);
      assert.ok(bytes !== undefined);
      bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
      await Promise.resolve();
    },
  };
});

void describe('ReaderTrackingBlobStore', () => {
  void it('reports a blob as being read from stream creation until the stream closes, however it ends', async () => {
    const store = new ReaderTrackingBlobStore(new MemoryBlobStore());
    const { digest } = await storeBytes(store, randomBytes(100_000));
    assert.equal(store.isReading(digest), false);
    const a = store.createReadStream(digest);
    const b = store.createReadStream(digest, 0, 9);
    assert.equal(store.isReading(digest), true);
    assert.equal(store.openReaders, 2);
    assert.equal((await readAll(b)).length, 10);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.openReaders, 1);
    a.destroy();
    await once(a, 'close');
    assert.equal(store.isReading(digest), false);
  });
});
