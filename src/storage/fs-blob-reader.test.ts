// Tests of FsBlobStore.openReader and its reader tracking: positional reads of a committed blob, missing blobs, eviction guard.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isHoardError } from '../errors.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { ReaderTrackingBlobStore } from './reader-tracking-blob-store.ts';

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

async function store(): Promise<FsBlobStore> {
  const root = await mkdtemp(join(tmpdir(), 'hoard-fs-blob-reader-'));
  roots.push(root);
  const s = new FsBlobStore(root);
  await s.init();
  return s;
}

test('reads any range of a committed blob into the caller’s buffer; a read past the end is short', async () => {
  const s = await store();
  const bytes = randomBytes(50_000);
  const writer = await s.createWriter();
  await writer.write(bytes);
  const { digest } = await writer.commit();
  const reader = await s.openReader(digest);
  const buffer = Buffer.alloc(1000);
  assert.equal(await reader.read(buffer, 10, 500, 49_000), 500);
  assert.deepEqual(buffer.subarray(10, 510), bytes.subarray(49_000, 49_500));
  assert.equal(await reader.read(buffer, 0, 1000, 49_500), 500);
  assert.equal(await reader.read(buffer, 0, 1000, 50_000), 0);
  await reader.close();
  await reader.close();
  await assert.rejects(reader.read(buffer, 0, 1, 0), (err: unknown) => isHoardError(err, 'HOARD_ERR_INTERNAL'));
});

test('a missing blob is HOARD_ERR_STORE_IO', async () => {
  const s = await store();
  await assert.rejects(s.openReader('0'.repeat(64)), (err: unknown) => isHoardError(err, 'HOARD_ERR_STORE_IO'));
});

test('the tracking wrapper counts an open reader until it closes, and not after a failed open', async () => {
  const s = await store();
  const tracked = new ReaderTrackingBlobStore(s);
  const writer = await s.createWriter();
  await writer.write(randomBytes(10));
  const { digest } = await writer.commit();
  const open = tracked.openReader;
  assert.ok(open !== undefined);
  const reader = await open(digest);
  assert.equal(tracked.isReading(digest), true);
  await reader.close();
  assert.equal(tracked.isReading(digest), false);
  await assert.rejects(open('1'.repeat(64)));
  assert.equal(tracked.isReading('1'.repeat(64)), false);
});
