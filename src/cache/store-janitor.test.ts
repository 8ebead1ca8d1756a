// Tests of StoreJanitor over memory stores: cap with water marks, busy objects spared, gc dry-run, admin eviction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { channels, type EvictionEvent } from '../events.ts';
import { storeBytes } from '../storage/blob-store.contract.ts';
import { MemoryBlobStore } from '../storage/memory-blob-store.ts';
import { MemoryMetadataIndex } from '../storage/memory-metadata-index.ts';
import { SqliteMetadataIndex } from '../storage/sqlite-metadata-index.ts';
import { unknownReferences, waterMarks, type ReferenceOracle } from './eviction-policy.ts';
import { StoreJanitor } from './store-janitor.ts';

async function fill(sizes: number[]) {
  const blobs = new MemoryBlobStore();
  const index = new MemoryMetadataIndex();
  const digests: string[] = [];
  for (const [i, size] of sizes.entries()) {
    const { digest } = await storeBytes(blobs, randomBytes(size));
    digests.push(digest);
    index.put({
      key: `http://mirror.example/pool/p${i}.deb`,
      protocol: 'apt',
      upstream: 'http://mirror.example',
      path: `/pool/p${i}.deb`,
      digest,
      size,
      storedAt: i,
      validatedAt: i,
      lastAccessAt: i,
      verification: 'unverified',
    });
  }
  return { blobs, index, digests };
}

const silent = pino({ level: 'silent' });

test('over the high mark, the least recently used go until the low mark; a blob being read stays', async () => {
  const { blobs, index, digests } = await fill([1000, 1000, 1000, 1000, 1000]);
  const busy = new Set([digests[0]]);
  const janitor = new StoreJanitor({
    index,
    blobs,
    oracle: unknownReferences,
    inUse: (d) => busy.has(d),
    marks: waterMarks(5000, 90, 60),
    logger: silent,
    graceMs: 0,
  });
  assert.equal(janitor.usage().bytes, 5000);
  const events: EvictionEvent[] = [];
  const listen = (e: unknown) => events.push(e as EvictionEvent);
  channels.eviction.subscribe(listen);
  try {
    const report = await janitor.evictIfNeeded();
    // 5000 -> 3000: p0 is busy, so p1 and p2 (the next oldest) go.
    assert.deepEqual(
      report.removed.map((r) => r.digest),
      [digests[1], digests[2]],
    );
    assert.equal(await blobs.stat(digests[0] as string).then((i) => i?.size), 1000);
    assert.equal(await blobs.stat(digests[1] as string), undefined);
    assert.equal(index.get('http://mirror.example/pool/p1.deb'), undefined);
    assert.equal(janitor.usage().bytes, 3000);
    assert.deepEqual(
      events.map((e) => e.reason),
      ['lru', 'lru'],
    );
    assert.deepEqual((await janitor.evictIfNeeded()).removed, [], 'below the high mark nothing more goes');
  } finally {
    channels.eviction.unsubscribe(listen);
  }
});

test('unreferenced objects go first; gc removes them and orphans, and its dry run only lists them', async () => {
  const { blobs, index, digests } = await fill([100, 100, 100]);
  const orphan = await storeBytes(blobs, randomBytes(50));
  const oracle: ReferenceOracle = { isReferenced: (e) => (e.digest === digests[2] ? false : undefined) };
  const janitor = new StoreJanitor({ index, blobs, oracle, inUse: () => false, marks: undefined, logger: silent, graceMs: 0 });
  janitor.noteOrphan(orphan.digest, orphan.size);
  const dry = await janitor.collectGarbage({ dryRun: true });
  assert.equal(dry.dryRun, true);
  assert.deepEqual(new Set(dry.removed.map((r) => r.digest)), new Set([orphan.digest, digests[2]]));
  assert.equal(dry.freedBytes, 150);
  assert.equal((await blobs.stat(orphan.digest))?.size, 50, 'a dry run deletes nothing');
  const real = await janitor.collectGarbage({ dryRun: false });
  assert.equal(real.freedBytes, 150);
  assert.equal(await blobs.stat(orphan.digest), undefined);
  assert.equal(index.count(), 2);
  assert.equal((await janitor.evictIfNeeded()).removed.length, 0, 'no cap, no eviction');
});

test('an object stored again or opened during the grace period is kept', async () => {
  const { blobs, index, digests } = await fill([1000, 1000]);
  const reading = new Set<string>();
  const janitor = new StoreJanitor({
    index,
    blobs,
    oracle: unknownReferences,
    inUse: (d) => reading.has(d),
    marks: waterMarks(2000, 50, 10),
    logger: silent,
    graceMs: 30,
  });
  const pass = janitor.evictIfNeeded();
  // While the entries are gone and the bytes not yet: one comes back, one gets a reader.
  const first = await (async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    index.put({
      key: 'http://mirror.example/again',
      protocol: 'apt',
      upstream: 'http://mirror.example',
      path: '/again',
      digest: digests[0] as string,
      size: 1000,
      storedAt: 9,
      validatedAt: 9,
      lastAccessAt: 9,
      verification: 'unverified',
    });
    reading.add(digests[1] as string);
    return pass;
  })();
  assert.equal(first.removed.length, 0);
  assert.equal(first.kept, 2);
  assert.ok(await blobs.stat(digests[0] as string));
  assert.ok(await blobs.stat(digests[1] as string));
  reading.clear();
  const later = await janitor.collectGarbage({ dryRun: false });
  assert.deepEqual(
    later.removed.map((r) => r.digest),
    [digests[1]],
    'the blob left without entries is an orphan for gc',
  );
});

test('an admin eviction by key or digest removes the object and every name of it', async () => {
  const { blobs, index, digests } = await fill([10, 20]);
  const janitor = new StoreJanitor({ index, blobs, oracle: unknownReferences, inUse: () => false, marks: undefined, logger: silent, graceMs: 0 });
  const byKey = await janitor.evict('http://mirror.example/pool/p0.deb');
  assert.deepEqual(
    byKey.removed.map((r) => [r.digest, r.reason]),
    [[digests[0], 'admin']],
  );
  const byDigest = await janitor.evict(digests[1] as string);
  assert.equal(byDigest.freedBytes, 20);
  assert.equal(index.count(), 0);
  assert.equal((await janitor.evict('nothing')).removed.length, 0);
});

test('over an index on disk: usage reads the totals and eviction pages through the blobs, never listing every entry', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hoard-janitor-'));
  try {
    const blobs = new MemoryBlobStore();
    const sqlite = new SqliteMetadataIndex(root);
    // 700 objects of 10 bytes: more than two pages of blobs. The oldest goes first, across page boundaries.
    const digests: string[] = [];
    for (let i = 0; i < 700; i++) {
      const { digest } = await storeBytes(blobs, Buffer.from(`object ${String(i).padStart(6, '0')}`));
      digests.push(digest);
      sqlite.put({
        key: `http://mirror.example/pool/p${i}.deb`,
        protocol: 'apt',
        upstream: 'http://mirror.example',
        path: `/pool/p${i}.deb`,
        digest,
        size: 13,
        storedAt: i,
        validatedAt: i,
        // The newest accesses on the lowest numbers: LRU order is not key order.
        lastAccessAt: 1000 - i,
        verification: 'unverified',
      });
    }
    // Unreferenced: one recently used object, which still goes before every referenced one.
    const oracle: ReferenceOracle = { isReferenced: (e) => (e.digest === digests[3] ? false : undefined) };
    const index = new Proxy(sqlite, {
      get(target, property, receiver) {
        if (property === 'all') throw new Error('the janitor must not list every entry');
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const janitor = new StoreJanitor({ index, blobs, oracle, inUse: () => false, marks: waterMarks(9100, 99, 90), logger: silent, graceMs: 0 });
    assert.deepEqual(janitor.usage(), { bytes: 9100, objects: 700, entries: 700, maxBytes: 9100 });
    const report = await janitor.evictIfNeeded();
    // 9100 -> 8190: 70 objects go, the unreferenced one first, then the least recently used (the highest numbers).
    assert.equal(report.removed.length, 70);
    assert.equal(report.removed[0]?.digest, digests[3]);
    assert.deepEqual(
      report.removed.slice(1).map((r) => r.digest),
      digests.slice(631).reverse(),
    );
    assert.deepEqual(janitor.usage(), { bytes: 8190, objects: 630, entries: 630, maxBytes: 9100 });
    sqlite.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
