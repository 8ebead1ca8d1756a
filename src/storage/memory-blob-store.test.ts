// Tests of MemoryBlobStore: the BlobStore contract, plus its capacity limit.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { HoardError, isHoardError } from '../errors.ts';
import { blobStoreContract, storeBytes } from './blob-store.contract.ts';
import { MemoryBlobStore } from './memory-blob-store.ts';

blobStoreContract('MemoryBlobStore', async () => {
  const store = new MemoryBlobStore();
  await store.init();
  return {
    store,
    corrupt: async (digest, offset) => {
      const bytes = store.rawBytes(digest);
      assert.ok(bytes !== undefined && offset < bytes.length);
      bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
      await Promise.resolve();
    },
    breakNextCommit: async () => {
      store.failNextCommit(new HoardError('HOARD_ERR_STORE_IO', 'cannot commit a blob: input/output error'));
      await Promise.resolve();
      return () => Promise.resolve();
    },
  };
});

void describe('MemoryBlobStore', () => {
  void it('rejects a write past its capacity as a full disk, and gives the room back on abort and delete', async () => {
    const store = new MemoryBlobStore({ capacityBytes: 10_000 });
    const kept = await storeBytes(store, randomBytes(6000));
    assert.equal(store.usedBytes, 6000);
    const writer = await store.createWriter();
    await writer.write(randomBytes(3000));
    await assert.rejects(writer.write(randomBytes(3000)), (err) => isHoardError(err, 'HOARD_ERR_STORE_FULL'));
    await assert.rejects(writer.commit(), (err) => isHoardError(err, 'HOARD_ERR_STORE_FULL'), 'a writer that failed stays failed');
    await writer.abort();
    assert.equal(store.usedBytes, 6000);
    await store.delete(kept.digest);
    assert.equal(store.usedBytes, 0);
  });

  void it('counts a blob committed twice once', async () => {
    const store = new MemoryBlobStore();
    const bytes = randomBytes(1000);
    await storeBytes(store, bytes);
    await storeBytes(store, bytes);
    assert.equal(store.usedBytes, 1000);
  });

  void it('keeps quarantined blobs aside', async () => {
    const store = new MemoryBlobStore();
    const { digest } = await storeBytes(store, randomBytes(10));
    await store.quarantine(digest);
    assert.deepEqual(store.quarantined(), [digest]);
    assert.equal(store.usedBytes, 0);
  });
});
