// The image-stream verifier over real memory stores: the ContentVerifier contract, moving names, signatures, references.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { GpgKeyring } from '../../../../test/support/gpg-keyring.ts';
import { contentVerifierContract, type ContentVerifierFixture } from '../../../cache/content-verifier.contract.ts';
import type { ObjectFetch } from '../../../cache/content-verifier.ts';
import { ManualClock } from '../../../clock.ts';
import { isHoardError } from '../../../errors.ts';
import { MemoryBlobStore } from '../../../storage/memory-blob-store.ts';
import { MemoryMetadataIndex } from '../../../storage/memory-metadata-index.ts';
import { readKeyringFile } from '../../apt/verification/keyring-loader.ts';
import { ReleaseSignatureChecker } from '../../apt/verification/release-signature-checker.ts';
import { StreamVerifier } from './stream-verifier.ts';

const upstream = 'image:test';
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const itemPath = '/images/os/bookworm/amd64/default/20260101_05:24/rootfs.squashfs';
const productsPath = '/streams/v1/com.example:images.json';

function products(files: ReadonlyArray<{ path: string; bytes: Buffer }>): string {
  const items = Object.fromEntries(files.map((f, i) => [`item${i}`, { ftype: 'squashfs', path: f.path.slice(1), sha256: sha(f.bytes), size: f.bytes.length }]));
  return `${JSON.stringify({ format: 'products:1.0', products: { 'os:bookworm:amd64': { versions: { '20260101_05:24': { items } } } } }, null, 1)}\n`;
}

/** A store as hoard leaves it: products (.json and signed .sjson), one item, a SHA256SUMS tree with its .gpg. */
async function streamFixture(options: { key?: GpgKeyring | undefined; strict: boolean }) {
  const blobs = new MemoryBlobStore();
  const index = new MemoryMetadataIndex();
  const clock = new ManualClock(1_000_000);
  const store = async (path: string, bytes: Buffer) => {
    const writer = await blobs.createWriter();
    await writer.write(bytes);
    const { digest, size } = await writer.commit({ size: bytes.length, sha256: sha(bytes) });
    const now = clock.now();
    index.put({
      key: upstream + path,
      protocol: 'simplestreams',
      upstream,
      path,
      digest,
      size,
      storedAt: now,
      validatedAt: now,
      lastAccessAt: now,
      verification: 'unverified',
    });
    return digest;
  };
  const item = randomBytes(4096);
  const text = products([{ path: itemPath, bytes: item }]);
  await store(productsPath, Buffer.from(text));
  if (options.key !== undefined) await store(productsPath.replace(/\.json$/, '.sjson'), await options.key.clearsign(text));
  await store(itemPath, item);
  const disk = randomBytes(1000);
  const sums = Buffer.from(`${sha(disk)} *disk.img\n`);
  await store('/cloud/current/SHA256SUMS', sums);
  if (options.key !== undefined) await store('/cloud/current/SHA256SUMS.gpg', await options.key.detachSign(sums));
  const keys = options.key === undefined ? [] : await readKeyringFile(options.key.publicKeyringPath);
  const signatures = options.key === undefined ? undefined : new ReleaseSignatureChecker(keys);
  const verifier = new StreamVerifier({
    blobs,
    index,
    clock,
    logger: pino({ level: 'silent' }),
    upstreams: new Map([[upstream, { signatures, strict: options.strict, maxAgeSeconds: 60 }]]),
  });
  await verifier.start();
  return { verifier, blobs, index, clock, store, item, disk };
}

async function contractFixture(options: { key?: GpgKeyring | undefined; strict: boolean }): Promise<ContentVerifierFixture> {
  const { verifier, item } = await streamFixture(options);
  return {
    verifier,
    oracle: verifier,
    upstream,
    paths: [
      '/streams/v1/index.json',
      '/streams/v1/index.sjson',
      productsPath,
      '/cloud/current/SHA256SUMS',
      '/cloud/current/SHA256SUMS.gpg',
      '/cloud/current/disk.img',
    ],
    unknownPath: '/images/os/other/rootfs.squashfs',
    known: { path: itemPath, bytes: item },
    strict: options.strict,
  };
}

contentVerifierContract('StreamVerifier, no keyring', () => contractFixture({ strict: false }));

let contractKey: GpgKeyring | undefined;
contentVerifierContract('StreamVerifier, keyring, strict', async () => {
  contractKey = await GpgKeyring.generate();
  const fixture = await contractFixture({ key: contractKey, strict: true });
  return { ...fixture, cleanup: () => contractKey?.dispose() ?? Promise.resolve() };
});

describe('StreamVerifier', () => {
  let key: GpgKeyring | undefined;
  after(async () => {
    await key?.dispose();
  });

  it('checks an item against the current SHA256SUMS: after the max age it asks for the list again and expects the new bytes', async () => {
    const f = await streamFixture({ strict: false });
    const first = await f.verifier.expect(upstream, '/cloud/current/disk.img');
    assert.equal(first?.sha256, sha(f.disk));
    assert.equal(first?.verification, 'hash-verified');
    const replaced = randomBytes(1000);
    let asked = 0;
    const fetch: ObjectFetch = async (path) => {
      asked += 1;
      assert.equal(path, '/cloud/current/SHA256SUMS');
      const digest = await f.store(path, Buffer.from(`${sha(replaced)}  disk.img\n`));
      await f.verifier.learn(upstream, path, digest);
      return { ok: true, digest, size: 1 };
    };
    assert.equal((await f.verifier.expect(upstream, '/cloud/current/disk.img', fetch))?.sha256, sha(f.disk), 'fresh: not asked');
    assert.equal(asked, 0);
    f.clock.advance(61_000);
    assert.equal((await f.verifier.expect(upstream, '/cloud/current/disk.img', fetch))?.sha256, sha(replaced));
    assert.equal(asked, 1);
    // The old bytes are no longer listed: eviction takes them first.
    const entry = (digest: string) => ({
      key: `${upstream}/cloud/current/disk.img`,
      protocol: 'simplestreams',
      upstream,
      path: '/cloud/current/disk.img',
      digest,
      size: 1000,
      storedAt: 0,
      validatedAt: 0,
      lastAccessAt: 0,
      verification: 'hash-verified' as const,
    });
    assert.equal(f.verifier.isReferenced(entry(sha(f.disk))), false);
    assert.equal(f.verifier.isReferenced(entry(sha(replaced))), true);
  });

  it('with a keyring: signed products authenticate their items; a tampered .sjson is refused, the previous copy served', async () => {
    key = await GpgKeyring.generate();
    const f = await streamFixture({ key, strict: true });
    assert.equal((await f.verifier.expect(upstream, itemPath))?.verification, 'authenticated');
    // products.json and its .sjson twin list the same item: held once; plus the SHA256SUMS line.
    assert.equal(f.verifier.listedFiles(upstream), 2);
    assert.equal((await f.verifier.expect(upstream, '/cloud/current/disk.img'))?.verification, 'authenticated', 'SHA256SUMS.gpg checked');
    const sjson = productsPath.replace(/\.json$/, '.sjson');
    // A newer .sjson lists one more item: the .json twin no longer lists the same, and is read again on its own.
    const newer = randomBytes(100);
    const newerText = products([
      { path: itemPath, bytes: f.item },
      { path: '/images/os/newer.img', bytes: newer },
    ]);
    await f.verifier.learn(upstream, sjson, await f.store(sjson, await key.clearsign(newerText)));
    assert.equal(f.verifier.listedFiles(upstream), 1 + 2 + 1);
    assert.equal((await f.verifier.expect(upstream, '/images/os/newer.img'))?.sha256, sha(newer));
    assert.equal((await f.verifier.expect(upstream, itemPath))?.verification, 'authenticated');
    const good = (await key.clearsign('{"format":"products:1.0"}\n')).toString();
    const tampered = Buffer.from(good.replace('products:1.0', 'products:6.6'));
    const digest = await f.store('/streams/v1/other.sjson', tampered);
    const noFetch: ObjectFetch = () => Promise.resolve({ ok: false, reason: 'none' });
    const withPrevious = await f.verifier.admit({ upstream, path: sjson, digest, size: tampered.length, previousDigest: 'a'.repeat(64) }, noFetch);
    assert.deepEqual({ admit: withPrevious.admit, serve: !withPrevious.admit && withPrevious.serve }, { admit: false, serve: 'previous' });
    const without = await f.verifier.admit({ upstream, path: sjson, digest, size: tampered.length, previousDigest: undefined }, noFetch);
    assert.ok(!without.admit && without.serve === 'refuse' && isHoardError(without.error, 'HOARD_ERR_STREAM_REFUSED'));
    // strict: what nothing signed lists is refused before any fetch.
    await assert.rejects(Promise.resolve(f.verifier.expect(upstream, '/images/unlisted.img')), (err) => isHoardError(err, 'HOARD_ERR_NOT_AUTHENTICATED'));
  });
});
