// Tests of the store on a shared bucket, on a real OpenStack Swift (s3api, one per file): S3BlobStore (the BlobStore contract, multipart, the local level, two-step deletion, the lease) and FleetMetadataIndex.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SwiftObjectStore } from '../../../test/support/swift-object-store.ts';
import { makeTempDir, removeDir } from '../../../test/support/temp-dir.ts';
import { systemClock } from '../../clock.ts';
import { blobStoreContract, readAll, sha256, storeBytes } from '../blob-store.contract.ts';
import { FsBlobStore } from '../fs-blob-store.ts';
import { MemoryMetadataIndex } from '../memory-metadata-index.ts';
import type { ObjectEntry } from '../metadata-index.ts';
import { FleetMetadataIndex } from './fleet-metadata-index.ts';
import { BucketCollector } from './bucket-collector.ts';
import { BucketLease } from './bucket-lease.ts';
import { S3BlobStore } from './s3-blob-store.ts';
import { S3Bucket } from './s3-bucket.ts';

const bucketName = 'hoard-blobs';
let swift: SwiftObjectStore;
const dirs: string[] = [];
const buckets: S3Bucket[] = [];

before(async () => {
  swift = await SwiftObjectStore.start({ buckets: [bucketName] });
});

after(async () => {
  for (const bucket of buckets) bucket.close();
  await swift.stop();
  await Promise.all(dirs.map((dir) => removeDir(dir)));
});

interface Node {
  readonly store: S3BlobStore;
  readonly bucket: S3Bucket;
  readonly collector: BucketCollector;
  readonly localRoot: string;
}

/** One node's store: its own local dir, on `prefix` of the shared bucket. */
async function makeNode(prefix: string, options: { nodeId?: string; graceMs?: number; localMaxBytes?: number; partSize?: number } = {}): Promise<Node> {
  const localRoot = await makeTempDir('s3-local');
  dirs.push(localRoot);
  const bucket = new S3Bucket({
    endpoint: swift.endpoint,
    region: swift.region,
    bucket: bucketName,
    prefix,
    forcePathStyle: true,
    credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
  });
  buckets.push(bucket);
  const graceMs = options.graceMs ?? 0;
  const lease = new BucketLease({ bucket, nodeId: options.nodeId ?? 'node-a', clock: systemClock, ttlMs: 60_000, settleMs: 50 });
  const collector = new BucketCollector({ bucket, lease, clock: systemClock, graceMs });
  const store = new S3BlobStore({
    bucket,
    local: new FsBlobStore(localRoot),
    localMaxBytes: options.localMaxBytes,
    collector,
    partSize: options.partSize ?? 5 * 1024 * 1024,
    sweepOnDelete: graceMs === 0,
  });
  await store.init();
  return { store, bucket, collector, localRoot };
}

const freshPrefix = () => `t-${randomBytes(6).toString('hex')}/`;

blobStoreContract('S3BlobStore on Swift', async () => {
  const node = await makeNode(freshPrefix());
  return {
    store: node.store,
    // A rotting disk and a rotting bucket: the local copy and the bucket's both get the flipped byte.
    corrupt: async (digest, offset) => {
      const localPath = join(node.localRoot, 'blobs', 'sha256', digest.slice(0, 2), digest);
      const bytes = await readFile(localPath);
      bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
      await writeFile(localPath, bytes);
      await node.bucket.put(node.bucket.blobKey(digest), bytes);
    },
  };
});

void describe('S3BlobStore', () => {
  void it('uploads a large blob in parts, and another node reads it from the bucket, checked', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix, { partSize: 5 * 1024 * 1024 });
    const bytes = randomBytes(12 * 1024 * 1024 + 5);
    const info = await storeBytes(a.store, bytes, 256 * 1024);
    const listed = await a.bucket.client.send(new ListObjectsV2Command({ Bucket: bucketName, Prefix: `${prefix}v1/blobs/` }));
    assert.equal(listed.Contents?.length, 1);
    assert.match(listed.Contents?.[0]?.ETag ?? '', /-3"$/, 'a multipart ETag: three parts of 5 MiB at most');

    const b = await makeNode(prefix, { nodeId: 'node-b' });
    assert.deepEqual(await b.store.stat(info.digest), info);
    assert.equal(b.store.localBytes, 0);
    assert.ok((await readAll(b.store.createReadStream(info.digest, 1000, 2999))).equals(bytes.subarray(1000, 3000)));
    assert.equal(b.store.localBytes, bytes.length, 'read through into the local level');
  });

  void it('serves positional reads of a blob it has no local copy of from the bucket at once, and fills the local copy meanwhile', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix);
    const bytes = randomBytes(3 * 1024 * 1024 + 11);
    const info = await storeBytes(a.store, bytes);
    const b = await makeNode(prefix, { nodeId: 'node-b' });
    const reader = await b.store.openReader(info.digest);
    const buffer = new Uint8Array(512 * 1024);
    const got: Buffer[] = [];
    for (let position = 0; position < bytes.length;) {
      const n = await reader.read(buffer, 0, buffer.length, position);
      assert.ok(n > 0);
      got.push(Buffer.from(buffer.subarray(0, n)));
      position += n;
    }
    assert.ok(Buffer.concat(got).equals(bytes), 'front to back');
    const jump = await reader.read(buffer, 0, 100, 1_000_000);
    assert.equal(jump, 100);
    assert.ok(Buffer.from(buffer.subarray(0, 100)).equals(bytes.subarray(1_000_000, 1_000_100)), 'a jump opens another range');
    assert.equal(await reader.read(buffer, 0, 100, bytes.length), 0, 'past the end: nothing');
    await reader.close();
    // Bounded: 100 tries, 50 ms apart.
    for (let i = 0; i < 100 && b.store.localBytes === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(b.store.localBytes, bytes.length, 'the local copy was filled in the background');
    await assert.rejects(b.store.openReader(sha256(Buffer.from('never stored'))), (err: Error & { code?: string }) => err.code === 'HOARD_ERR_STORE_IO');
  });

  void it('starts without listing the bucket (one LIST of at most one key), and takes credentials from AWS_* variables when the config has none', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix);
    for (let i = 0; i < 3; i++) await storeBytes(a.store, randomBytes(100));
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = swift.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = swift.secretAccessKey;
    try {
      const bucket = new S3Bucket({ endpoint: swift.endpoint, region: swift.region, bucket: bucketName, prefix, forcePathStyle: true });
      buckets.push(bucket);
      const sent: Array<{ command: string; input: unknown }> = [];
      bucket.client.middlewareStack.add(
        (next, context) => (args) => {
          sent.push({ command: context.commandName ?? '?', input: args.input });
          return next(args);
        },
        { step: 'initialize' },
      );
      const root = await makeTempDir('s3-local');
      dirs.push(root);
      const lease = new BucketLease({ bucket, nodeId: 'node-env', clock: systemClock, ttlMs: 1000, settleMs: 1 });
      const store = new S3BlobStore({
        bucket,
        local: new FsBlobStore(root),
        collector: new BucketCollector({ bucket, lease, clock: systemClock, graceMs: 0 }),
        partSize: 5 * 1024 * 1024,
      });
      await store.init();
      assert.deepEqual(
        sent.map((s) => s.command),
        ['ListObjectsV2Command'],
      );
      assert.equal((sent[0]?.input as { MaxKeys?: number }).MaxKeys, 1);
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  void it('makes nothing visible before the upload is done, and a failed upload leaves nothing behind', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix);
    const bytes = randomBytes(10_000);
    const writer = await a.store.createWriter();
    await writer.write(bytes);
    await writer.seal({ sha256: sha256(bytes) });
    assert.equal(await a.store.stat(sha256(bytes)), undefined, 'sealed, not yet uploaded: invisible');
    assert.equal(await a.bucket.head(a.bucket.blobKey(sha256(bytes))), undefined);
    await writer.commit();
    assert.ok((await a.bucket.head(a.bucket.blobKey(sha256(bytes)))) !== undefined);

    // A bucket that refuses (wrong credentials): the commit fails, nothing is stored locally either.
    const broken = new S3Bucket({
      endpoint: swift.endpoint,
      region: swift.region,
      bucket: bucketName,
      prefix,
      forcePathStyle: true,
      credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: 'wrong' },
    });
    buckets.push(broken);
    const root = await makeTempDir('s3-local');
    dirs.push(root);
    const lease = new BucketLease({ bucket: broken, nodeId: 'x', clock: systemClock, ttlMs: 1000, settleMs: 1 });
    const store = new S3BlobStore({
      bucket: broken,
      local: new FsBlobStore(root),
      collector: new BucketCollector({ bucket: broken, lease, clock: systemClock, graceMs: 0 }),
      partSize: 5 * 1024 * 1024,
    });
    await new FsBlobStore(root).init();
    const other = randomBytes(1000);
    const w = await store.createWriter();
    await w.write(other);
    await assert.rejects(w.commit(), (err: Error & { code?: string }) => err.code === 'HOARD_ERR_STORE_IO');
    assert.equal(await new FsBlobStore(root).stat(sha256(other)), undefined);
    await w.abort();
  });

  void it('keeps the local level within its bound, least recently used out first, and reads dropped copies back from the bucket', async () => {
    const a = await makeNode(freshPrefix(), { localMaxBytes: 250_000 });
    const blobs = [randomBytes(100_000), randomBytes(100_000), randomBytes(100_000)];
    const infos = [];
    for (const bytes of blobs) infos.push(await storeBytes(a.store, bytes));
    assert.ok(a.store.localBytes <= 250_000, `local level holds ${a.store.localBytes}`);
    const first = infos[0];
    assert.ok(first !== undefined);
    assert.equal(await new FsBlobStore(a.localRoot).stat(first.digest), undefined, 'the oldest copy went');
    assert.ok((await readAll(a.store.createReadStream(first.digest))).equals(blobs[0] ?? Buffer.alloc(0)));
  });

  void it('never deletes from the bucket a blob another node refers to; deletes it once nobody does, after the grace period', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix, { nodeId: 'node-a', graceMs: 1500 });
    const b = await makeNode(prefix, { nodeId: 'node-b', graceMs: 1500 });
    const shared = await storeBytes(a.store, randomBytes(5000));
    const lonely = await storeBytes(a.store, randomBytes(5000));
    // Node b refers to `shared` (what its index wrapper publishes when it stores an entry).
    await b.bucket.put(`${b.bucket.refPrefix(shared.digest)}node-b`, '');

    await a.store.delete(shared.digest);
    await a.store.delete(lonely.digest);
    const early = await a.collector.sweep();
    assert.deepEqual(early.deleted, [], 'nothing goes within the grace period');
    assert.ok((await a.bucket.head(a.bucket.blobKey(lonely.digest))) !== undefined);

    await new Promise((resolve) => setTimeout(resolve, 2600));
    const late = await b.collector.sweep();
    assert.ok(late.ran);
    assert.deepEqual(late.deleted, [lonely.digest]);
    assert.deepEqual(late.rescued, [shared.digest]);
    assert.ok((await b.bucket.head(b.bucket.blobKey(shared.digest))) !== undefined, 'another node refers to it: kept');
    assert.equal(await b.bucket.head(b.bucket.blobKey(lonely.digest)), undefined);
    assert.ok((await readAll(b.store.createReadStream(shared.digest))).length === 5000);
  });

  void it('stops counting the references of a node not seen for forgetNodesAfterHours, and only those', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix, { nodeId: 'node-a' });
    const gone = await storeBytes(a.store, randomBytes(300));
    const kept = await storeBytes(a.store, randomBytes(300));
    await a.bucket.putJson(a.bucket.nodeKey('node-old'), { id: 'node-old', lastSeen: new Date(Date.now() - 48 * 3600 * 1000).toISOString() });
    await a.bucket.putJson(a.bucket.nodeKey('node-live'), { id: 'node-live', lastSeen: new Date().toISOString() });
    await a.bucket.put(`${a.bucket.refPrefix(gone.digest)}node-old`, '');
    await a.bucket.put(`${a.bucket.refPrefix(kept.digest)}node-old`, '');
    await a.bucket.put(`${a.bucket.refPrefix(kept.digest)}node-live`, '');
    const lease = new BucketLease({ bucket: a.bucket, nodeId: 'node-a', clock: systemClock, ttlMs: 60_000, settleMs: 50 });
    const collector = new BucketCollector({ bucket: a.bucket, lease, clock: systemClock, graceMs: 0, forgetNodesAfterMs: 24 * 3600 * 1000 });
    await collector.condemn(gone.digest);
    await collector.condemn(kept.digest);
    const report = await collector.sweep();
    assert.deepEqual(report.deleted, [gone.digest]);
    assert.deepEqual(report.rescued, [kept.digest]);
    assert.equal(await a.bucket.head(a.bucket.blobKey(gone.digest)), undefined);
    assert.deepEqual(await a.bucket.list(a.bucket.refPrefix(gone.digest), 10), [], 'the forgotten reference went with the blob');
    assert.ok((await a.bucket.head(a.bucket.blobKey(kept.digest))) !== undefined, 'a live node still refers to it');
  });

  void it('lets one node at a time hold the deletion lease', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix, { nodeId: 'node-a' });
    const b = await makeNode(prefix, { nodeId: 'node-b' });
    // The settle time hoard uses: a PUT delayed past the other node's read-back would let both in (bucket-lease.ts).
    const leaseA = new BucketLease({ bucket: a.bucket, nodeId: 'node-a', clock: systemClock, ttlMs: 60_000, settleMs: 500 });
    const leaseB = new BucketLease({ bucket: b.bucket, nodeId: 'node-b', clock: systemClock, ttlMs: 60_000, settleMs: 500 });
    const [gotA, gotB] = await Promise.all([leaseA.acquire(), leaseB.acquire()]);
    assert.equal(Number(gotA) + Number(gotB), 1, `exactly one holds it (a: ${gotA}, b: ${gotB})`);
    const holder = gotA ? leaseA : leaseB;
    const other = gotA ? leaseB : leaseA;
    assert.equal(await other.acquire(), false, 'held and not expired: refused');
    await holder.release();
    assert.equal(await other.acquire(), true, 'released: the other takes it');
    await other.release();
  });
});

void describe('FleetMetadataIndex', () => {
  const entryFor = (key: string, digest: string, size: number): ObjectEntry => ({
    key,
    protocol: 'apt',
    upstream: 'http://mirror.example:80',
    path: key.slice('http://mirror.example:80'.length),
    digest,
    size,
    storedAt: 1,
    validatedAt: 1,
    lastAccessAt: 1,
    verification: 'unverified',
  });

  void it('publishes a reference per blob while an entry names it, and the entry itself; another node finds it by key and refers to it too', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix, { nodeId: 'node-a' });
    const b = await makeNode(prefix, { nodeId: 'node-b' });
    const indexA = new FleetMetadataIndex(new MemoryMetadataIndex(), { bucket: a.bucket, nodeId: 'node-a' });
    const indexB = new FleetMetadataIndex(new MemoryMetadataIndex(), { bucket: b.bucket, nodeId: 'node-b' });
    const bytes = randomBytes(2000);
    const info = await storeBytes(a.store, bytes);
    const key1 = 'http://mirror.example:80/debian/pool/main/a/alpha_1.0_amd64.deb';
    const key2 = 'http://mirror.example:80/other/pool/main/a/alpha_1.0_amd64.deb';
    indexA.put(entryFor(key1, info.digest, info.size));
    indexA.put(entryFor(key2, info.digest, info.size));
    await indexA.flush();
    const refs = async () => (await a.bucket.list(a.bucket.refPrefix(info.digest), 10)).map((r) => r.key.split('/').at(-1)).sort();
    assert.deepEqual(await refs(), ['node-a']);

    const found = await indexB.find(key1, 5);
    assert.equal(found?.digest, info.digest);
    assert.equal(found?.lastAccessAt, 5);
    assert.equal(indexB.get(key1)?.digest, info.digest, 'taken into the finding node index');
    await indexB.flush();
    assert.deepEqual(await refs(), ['node-a', 'node-b']);
    assert.equal(await indexB.find('http://mirror.example:80/never/stored.deb', 5), undefined);

    indexA.delete(key1);
    await indexA.flush();
    assert.deepEqual(await refs(), ['node-a', 'node-b'], 'another entry of node-a still names the blob');
    indexA.delete(key2);
    indexB.delete(key1);
    await Promise.all([indexA.flush(), indexB.flush()]);
    assert.deepEqual(await refs(), [], 'no entry names it any more: no reference');
  });

  void it('finds nothing when the blob an entry names is gone from the bucket, and keeps no entry for it', async () => {
    const prefix = freshPrefix();
    const a = await makeNode(prefix, { nodeId: 'node-a' });
    const indexA = new FleetMetadataIndex(new MemoryMetadataIndex(), { bucket: a.bucket, nodeId: 'node-a' });
    const indexB = new FleetMetadataIndex(new MemoryMetadataIndex(), { bucket: a.bucket, nodeId: 'node-b' });
    const info = await storeBytes(a.store, randomBytes(100));
    const key = 'http://mirror.example:80/debian/pool/gone.deb';
    indexA.put(entryFor(key, info.digest, info.size));
    await indexA.flush();
    await a.bucket.delete(a.bucket.blobKey(info.digest));
    assert.equal(await indexB.find(key, 5), undefined);
    assert.equal(indexB.get(key), undefined);
    await indexB.flush();
    assert.deepEqual(await a.bucket.list(a.bucket.refPrefix(info.digest), 10).then((r) => r.map((x) => x.key.split('/').at(-1))), ['node-a']);
  });
});
