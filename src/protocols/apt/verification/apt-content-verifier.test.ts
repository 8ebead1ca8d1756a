// The apt verifier behind the real read-through cache, over memory stores and a scripted mirror, with gpg-made keys.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { GpgKeyring } from '../../../../test/support/gpg-keyring.ts';
import { digestsOf, renderPackages, renderRelease, type ReleaseFileEntry } from '../../../../test/support/repo-index-writer.ts';
import type { CacheLookup } from '../../../cache/cached-object.ts';
import { ReadThroughCache } from '../../../cache/read-through-cache.ts';
import { ManualClock } from '../../../clock.ts';
import { HoardError } from '../../../errors.ts';
import { channels, type VerificationEvent } from '../../../events.ts';
import { classifyAptPath } from '../path-class.ts';
import { MemoryBlobStore } from '../../../storage/memory-blob-store.ts';
import { MemoryMetadataIndex } from '../../../storage/memory-metadata-index.ts';
import type { FetchInit, Upstream, UpstreamResponse } from '../../../upstream/fetcher.ts';
import { AptContentVerifier } from './apt-content-verifier.ts';
import { readKeyringFile } from './keyring-loader.ts';
import { ReleaseSignatureChecker } from './release-signature-checker.ts';

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const dists = '/debian/dists/stable/';
const packagesDir = 'main/binary-amd64/';

/** A mirror as a map of wire paths to bytes; every request is recorded. */
class ScriptedMirror implements Upstream {
  readonly key = 'http://mirror.example';
  readonly files = new Map<string, Buffer>();
  readonly calls: string[] = [];
  fetch(path: string, _init: FetchInit): Promise<UpstreamResponse> {
    this.calls.push(path);
    const bytes = this.files.get(decodeURIComponent(path));
    const url = new URL(`http://mirror.example${path}`);
    if (bytes === undefined) return Promise.resolve({ status: 404, headers: {}, body: Readable.from([]), url });
    return Promise.resolve({ status: 200, headers: { 'content-length': String(bytes.length) }, body: Readable.from([bytes]), url });
  }
}

interface Published {
  readonly inRelease: Buffer;
  readonly release: Buffer;
  readonly packagesGz: Buffer;
  readonly packagesGzSha: string;
  /** Wire paths of the index files, by name and by hash. */
  readonly byName: string;
  readonly byHash: string;
}

/** One generation: pool files, Packages (listed plain and gz, written gz only), a signed Release. */
async function generation(key: GpgKeyring, pool: Record<string, Buffer>, options: { date: Date; listedPlainSize?: number }): Promise<Published> {
  const entries = Object.entries(pool).map(([name, bytes]) => ({
    name,
    version: '1.0',
    arch: 'amd64',
    depends: undefined,
    description: `package ${name}`,
    installedSizeKiB: 1,
    poolPath: `pool/main/${name}_1.0_amd64.deb`,
    size: bytes.length,
    ...digestsOf(bytes),
  }));
  const packages = Buffer.from(renderPackages(entries));
  const packagesGz = gzipSync(packages);
  const files: ReleaseFileEntry[] = [
    { path: `${packagesDir}Packages`, size: options.listedPlainSize ?? packages.length, ...digestsOf(packages) },
    { path: `${packagesDir}Packages.gz`, size: packagesGz.length, ...digestsOf(packagesGz) },
  ];
  const release = Buffer.from(
    renderRelease({
      origin: 'T',
      label: 'T',
      suite: 'stable',
      codename: 'stable',
      date: options.date,
      validUntil: undefined,
      architectures: ['amd64'],
      components: ['main'],
      description: 'test',
      acquireByHash: true,
      files,
    }),
  );
  return {
    inRelease: await key.clearsign(release),
    release,
    packagesGz,
    packagesGzSha: sha(packagesGz),
    byName: `${dists}${packagesDir}Packages.gz`,
    byHash: `${dists}${packagesDir}by-hash/SHA256/${sha(packagesGz)}`,
  };
}

/** Writes a generation to the mirror in the given steps (a mirror updates pool, by-hash, indices, then Release). */
function serve(
  mirror: ScriptedMirror,
  pool: Record<string, Buffer>,
  published: Published,
  steps: readonly ('pool' | 'by-hash' | 'indices' | 'release')[] = ['pool', 'by-hash', 'indices', 'release'],
): void {
  if (steps.includes('pool')) for (const [name, bytes] of Object.entries(pool)) mirror.files.set(`/debian/pool/main/${name}_1.0_amd64.deb`, bytes);
  if (steps.includes('by-hash')) mirror.files.set(published.byHash, published.packagesGz);
  if (steps.includes('indices')) mirror.files.set(published.byName, published.packagesGz);
  if (steps.includes('release')) {
    mirror.files.set(`${dists}InRelease`, published.inRelease);
    mirror.files.set(`${dists}Release`, published.release);
  }
}

function rig(
  signatures: ReleaseSignatureChecker,
  options: { strict?: boolean; blobs?: MemoryBlobStore; index?: MemoryMetadataIndex; maxIndexExpandedSize?: number } = {},
) {
  const clock = new ManualClock();
  const blobs = options.blobs ?? new MemoryBlobStore();
  const index = options.index ?? new MemoryMetadataIndex();
  const logger = pino({ level: 'silent' });
  const mirror = new ScriptedMirror();
  const verifier = new AptContentVerifier({
    blobs,
    index,
    signatures,
    logger,
    strict: options.strict ?? false,
    ...(options.maxIndexExpandedSize === undefined ? {} : { maxIndexExpandedSize: options.maxIndexExpandedSize }),
  });
  // The verifier fetches the files a new Release lists through the cache, which hands it the means in admit().
  const cache = new ReadThroughCache({
    blobs,
    index,
    clock,
    protocol: () => ({ verifier, classify: classifyAptPath }),
    logger,
    indexMaxAgeSeconds: 0,
    notFoundTtlSeconds: 0,
  });
  const viaCache = () => cache;
  const get = async (path: string): Promise<CacheLookup> => {
    const policy = classifyAptPath(path);
    if (policy === undefined) throw new Error(`not an apt path: ${path}`);
    return viaCache().get(mirror, path, policy);
  };
  /**
   * The whole body a client would get, or the error that cut it; then waits until the download (if it
   * was one) has ended, since a client gets the last byte before the object is committed and indexed.
   */
  const fetchBody = async (path: string): Promise<Buffer> => {
    const lookup = await get(path);
    if (lookup.kind !== 'object') throw new Error(`${path}: ${lookup.status}`);
    const chunks: Buffer[] = [];
    for await (const chunk of lookup.object.stream(0, undefined)) chunks.push(chunk as Buffer);
    await lookup.object.settled;
    return Buffer.concat(chunks);
  };
  return { clock, blobs, index, mirror, verifier, get, fetchBody };
}

describe('AptContentVerifier behind the read-through cache', () => {
  let key: GpgKeyring;
  let stranger: GpgKeyring;
  let signatures: ReleaseSignatureChecker;
  const day = (n: number) => new Date(Date.UTC(2026, 0, n));

  before(async () => {
    [key, stranger] = await Promise.all([GpgKeyring.generate(), GpgKeyring.generate()]);
    signatures = new ReleaseSignatureChecker(await readKeyringFile(key.publicKeyringPath));
  });
  after(async () => {
    await Promise.all([key?.dispose(), stranger?.dispose()]);
  });

  test('a signed Release vouches for its indices, an index for its packages; indices asked by name are fetched by hash', async () => {
    const { mirror, verifier, fetchBody, index } = rig(signatures);
    const pool = { alpha: Buffer.from('alpha v1') };
    const gen1 = await generation(key, pool, { date: day(1) });
    serve(mirror, pool, gen1);
    await verifier.start();

    assert.deepEqual(await fetchBody(`${dists}InRelease`), gen1.inRelease);
    assert.equal(index.get(`${mirror.key}${dists}InRelease`)?.verification, 'authenticated');
    const expected = await verifier.expect(mirror.key, gen1.byName);
    assert.equal(expected?.sha256, gen1.packagesGzSha);
    assert.equal(expected?.verification, 'authenticated');
    assert.deepEqual(expected?.upstreamPaths, [gen1.byHash, gen1.byName]);

    mirror.calls.length = 0;
    assert.deepEqual(await fetchBody(gen1.byName), gen1.packagesGz);
    assert.deepEqual(mirror.calls, [gen1.byHash]);
    await verifier.whenIdle();
    const deb = await verifier.expect(mirror.key, '/debian/pool/main/alpha_1.0_amd64.deb');
    assert.deepEqual(deb, { sha256: sha(pool.alpha), size: pool.alpha.length, verification: 'authenticated' });
    await fetchBody('/debian/pool/main/alpha_1.0_amd64.deb');
    assert.equal(index.get(`${mirror.key}/debian/pool/main/alpha_1.0_amd64.deb`)?.verification, 'authenticated');
  });

  test('mirror mid-update: a new Release whose indices are not there yet is held back until they are', async () => {
    const { mirror, verifier, fetchBody, get } = rig(signatures);
    const pool1 = { alpha: Buffer.from('alpha v1') };
    const gen1 = await generation(key, pool1, { date: day(1) });
    serve(mirror, pool1, gen1);
    await verifier.start();
    await fetchBody(`${dists}InRelease`);
    await fetchBody(gen1.byHash);

    // The Release is published before its indices (the wrong order, or a sync caught half-way).
    const pool2 = { alpha: Buffer.from('alpha v1'), bravo: Buffer.from('bravo v1') };
    const gen2 = await generation(key, pool2, { date: day(2) });
    serve(mirror, pool2, gen2, ['release']);
    const held = await get(`${dists}InRelease`);
    assert.equal(held.kind === 'object' && held.source, 'stale');
    assert.deepEqual(await fetchBody(`${dists}InRelease`), gen1.inRelease);
    // The client that holds gen1's Release still gets gen1's index by name, though the mirror's named file is gen2's.
    mirror.files.set(gen1.byName, gen2.packagesGz);
    assert.deepEqual(await fetchBody(gen1.byName), gen1.packagesGz);

    serve(mirror, pool2, gen2, ['pool', 'by-hash', 'indices']);
    mirror.calls.length = 0;
    assert.deepEqual(await fetchBody(`${dists}InRelease`), gen2.inRelease);
    // The switch fetched the new index (by hash) before answering.
    assert.ok(mirror.calls.includes(gen2.byHash), mirror.calls.join(' '));
    assert.equal((await verifier.expect(mirror.key, gen2.byName))?.sha256, gen2.packagesGzSha);
    // A client still holding gen1's Release can fetch gen1's index by hash: the previous generation vouches for it.
    assert.equal((await verifier.expect(mirror.key, gen1.byHash))?.verification, 'authenticated');
    await verifier.whenIdle();
    assert.equal((await verifier.expect(mirror.key, '/debian/pool/main/bravo_1.0_amd64.deb'))?.sha256, sha(pool2.bravo));
  });

  test('same name, new bytes: a rebuilt package is fetched again once the new index is read', async () => {
    const { mirror, verifier, fetchBody } = rig(signatures);
    const pool1 = { alpha: Buffer.from('alpha build 1') };
    const gen1 = await generation(key, pool1, { date: day(1) });
    serve(mirror, pool1, gen1);
    await verifier.start();
    await fetchBody(`${dists}InRelease`);
    await fetchBody(gen1.byHash);
    assert.deepEqual(await fetchBody('/debian/pool/main/alpha_1.0_amd64.deb'), pool1.alpha);

    const pool2 = { alpha: Buffer.from('alpha build 2') };
    const gen2 = await generation(key, pool2, { date: day(2) });
    serve(mirror, pool2, gen2);
    await fetchBody(`${dists}InRelease`);
    await fetchBody(gen2.byHash);
    mirror.calls.length = 0;
    assert.deepEqual(await fetchBody('/debian/pool/main/alpha_1.0_amd64.deb'), pool2.alpha);
    assert.deepEqual(mirror.calls, ['/debian/pool/main/alpha_1.0_amd64.deb']);
  });

  test('tells eviction what the kept generations and the package indices still refer to', async () => {
    const { mirror, verifier, fetchBody, index } = rig(signatures);
    const pool1 = { alpha: Buffer.from('alpha build 1') };
    const gen1 = await generation(key, pool1, { date: day(1) });
    serve(mirror, pool1, gen1);
    await verifier.start();
    const deb = '/debian/pool/main/alpha_1.0_amd64.deb';
    const entryOf = (path: string, digest: string) => ({
      ...(index.get(`${mirror.key}${path}`) ?? {
        key: mirror.key + path,
        protocol: 'apt',
        upstream: mirror.key,
        path,
        size: 1,
        storedAt: 0,
        validatedAt: 0,
        lastAccessAt: 0,
        verification: 'unverified' as const,
      }),
      digest,
    });
    assert.equal(verifier.isReferenced(entryOf(deb, sha(pool1.alpha))), undefined, 'nothing known yet');
    await fetchBody(`${dists}InRelease`);
    await fetchBody(gen1.byHash);
    await verifier.whenIdle();
    assert.equal(verifier.isReferenced(entryOf(deb, sha(pool1.alpha))), true);

    const pool2 = { alpha: Buffer.from('alpha build 2') };
    const gen2 = await generation(key, pool2, { date: day(2) });
    serve(mirror, pool2, gen2);
    await fetchBody(`${dists}InRelease`);
    await fetchBody(gen2.byHash);
    await verifier.whenIdle();
    assert.equal(verifier.isReferenced(entryOf(deb, sha(pool1.alpha))), false, 'the rebuilt package replaced these bytes');
    assert.equal(verifier.isReferenced(entryOf(deb, sha(pool2.alpha))), true);
    assert.equal(verifier.isReferenced(entryOf(gen1.byHash, gen1.packagesGzSha)), true, 'the previous generation is kept');
    assert.equal(verifier.isReferenced(entryOf(gen1.byName, 'f'.repeat(64))), false, 'listed by no kept generation');
  });

  test('an InRelease whose signature is invalid for a trusted key is relayed, never stored, and blesses nothing', async () => {
    const { mirror, verifier, fetchBody, index } = rig(signatures);
    const pool = { alpha: Buffer.from('alpha v1') };
    const gen1 = await generation(key, pool, { date: day(1) });
    serve(mirror, pool, gen1);
    await verifier.start();
    await fetchBody(`${dists}InRelease`);
    const good = index.get(`${mirror.key}${dists}InRelease`)?.digest;

    const gen2 = await generation(key, { alpha: Buffer.from('evil') }, { date: day(2) });
    const tampered = Buffer.from(gen2.inRelease.toString('utf8').replace('Origin: T', 'Origin: X'));
    mirror.files.set(`${dists}InRelease`, tampered);
    const events: VerificationEvent[] = [];
    const listen = (m: unknown) => events.push(m as VerificationEvent);
    channels.verification.subscribe(listen);
    try {
      assert.deepEqual(await fetchBody(`${dists}InRelease`), tampered, 'apt gets what the upstream sent, to report it');
    } finally {
      channels.verification.unsubscribe(listen);
    }
    assert.equal(index.get(`${mirror.key}${dists}InRelease`)?.digest, good);
    assert.equal((await verifier.expect(mirror.key, gen1.byName))?.sha256, gen1.packagesGzSha);
    assert.deepEqual(
      events.map((e) => e.failure),
      ['signature'],
    );
    assert.match(events[0]?.detail ?? '', new RegExp(key.fingerprint));
  });

  test('a Release by an unknown key is served hash-verified; strict mode refuses it, and anything no trusted index covers', async () => {
    const pool = { alpha: Buffer.from('alpha v1') };
    const gen = await generation(stranger, pool, { date: day(1) });

    const lenient = rig(signatures);
    serve(lenient.mirror, pool, gen);
    await lenient.verifier.start();
    assert.deepEqual(await lenient.fetchBody(`${dists}InRelease`), gen.inRelease);
    assert.equal(lenient.index.get(`${lenient.mirror.key}${dists}InRelease`)?.verification, 'hash-verified');
    await lenient.fetchBody(gen.byHash);
    await lenient.verifier.whenIdle();
    await lenient.fetchBody('/debian/pool/main/alpha_1.0_amd64.deb');
    assert.equal(lenient.index.get(`${lenient.mirror.key}/debian/pool/main/alpha_1.0_amd64.deb`)?.verification, 'hash-verified');

    const strict = rig(signatures, { strict: true });
    serve(strict.mirror, pool, gen);
    await strict.verifier.start();
    const refused = (err: unknown) => err instanceof HoardError && err.code === 'HOARD_ERR_NOT_AUTHENTICATED';
    await assert.rejects(strict.get(`${dists}InRelease`), refused);
    await assert.rejects(strict.get('/debian/pool/main/alpha_1.0_amd64.deb'), refused);
    assert.equal(strict.index.count(), 0);

    const signed = await generation(key, pool, { date: day(2) });
    serve(strict.mirror, pool, signed);
    await strict.fetchBody(`${dists}InRelease`);
    await strict.fetchBody(signed.byName);
    await strict.verifier.whenIdle();
    assert.deepEqual(await strict.fetchBody('/debian/pool/main/alpha_1.0_amd64.deb'), pool.alpha);
  });

  test('Release + Release.gpg: the detached signature is fetched and checked when the Release arrives', async () => {
    const { mirror, verifier, fetchBody, index } = rig(signatures);
    const pool = { alpha: Buffer.from('alpha v1') };
    const gen = await generation(key, pool, { date: day(1) });
    serve(mirror, pool, gen);
    mirror.files.delete(`${dists}InRelease`);
    mirror.files.set(`${dists}Release.gpg`, await key.detachSign(gen.release));
    await verifier.start();
    assert.deepEqual(await fetchBody(`${dists}Release`), gen.release);
    assert.equal(index.get(`${mirror.key}${dists}Release`)?.verification, 'authenticated');
    assert.equal((await verifier.expect(mirror.key, `${dists}Release.gpg`))?.sha256, index.get(`${mirror.key}${dists}Release.gpg`)?.digest);
  });

  test('knowledge is rebuilt from the store after a restart', async () => {
    const first = rig(signatures);
    const pool = { alpha: Buffer.from('alpha v1') };
    const gen = await generation(key, pool, { date: day(1) });
    serve(first.mirror, pool, gen);
    await first.verifier.start();
    await first.fetchBody(`${dists}InRelease`);
    await first.fetchBody(gen.byHash);

    const second = rig(signatures, { blobs: first.blobs, index: first.index });
    await second.verifier.start();
    await second.verifier.whenIdle();
    assert.equal((await second.verifier.expect(first.mirror.key, gen.byName))?.verification, 'authenticated');
    assert.deepEqual(await second.verifier.expect(first.mirror.key, '/debian/pool/main/alpha_1.0_amd64.deb'), {
      sha256: sha(pool.alpha),
      size: pool.alpha.length,
      verification: 'authenticated',
    });
    assert.deepEqual(second.verifier.stats(), { generations: 1, packages: 1 });
  });

  test('an index past a bound is reported once and not read again, neither for a new Release nor in a loop at start-up', async () => {
    const events: VerificationEvent[] = [];
    const listen = (m: unknown) => events.push(m as VerificationEvent);
    channels.verification.subscribe(listen);
    try {
      const first = rig(signatures, { maxIndexExpandedSize: 64 });
      const pool = { alpha: Buffer.from('alpha v1') };
      const gen1 = await generation(key, pool, { date: day(1) });
      serve(first.mirror, pool, gen1);
      await first.verifier.start();
      await first.fetchBody(`${dists}InRelease`);
      // The client still gets the index (its hash is right); hoard only does not learn from it.
      assert.deepEqual(await first.fetchBody(gen1.byName), gen1.packagesGz);
      await first.verifier.whenIdle();
      assert.deepEqual(
        events.map((e) => [e.failure, e.path]),
        [['index-bound', `${dists}${packagesDir}Packages.gz`]],
      );
      assert.match(events[0]?.detail ?? '', /Packages index: expands past 64 bytes/);
      assert.equal(await first.verifier.expect(first.mirror.key, '/debian/pool/main/alpha_1.0_amd64.deb'), undefined);
      assert.deepEqual(await first.fetchBody('/debian/pool/main/alpha_1.0_amd64.deb'), pool.alpha);

      // A new Release listing the same index bytes makes it current again: it is not read again.
      const gen2 = await generation(key, pool, { date: day(2) });
      assert.equal(gen2.packagesGzSha, gen1.packagesGzSha);
      serve(first.mirror, pool, gen2);
      assert.deepEqual(await first.fetchBody(`${dists}InRelease`), gen2.inRelease);
      await first.verifier.whenIdle();
      assert.equal(events.length, 1);

      // A restart reads the stored index once, fails it the same way, and rebuilds the rest.
      const second = rig(signatures, { blobs: first.blobs, index: first.index, maxIndexExpandedSize: 64 });
      await second.verifier.start();
      await second.verifier.whenIdle();
      assert.deepEqual(
        events.map((e) => e.failure),
        ['index-bound', 'index-bound'],
      );
      assert.deepEqual(second.verifier.stats(), { generations: 1, packages: 0 });
      assert.equal((await second.verifier.expect(first.mirror.key, gen2.byName))?.sha256, gen2.packagesGzSha);
    } finally {
      channels.verification.unsubscribe(listen);
    }
  });

  test('where the Release lists the uncompressed size, that is the bound, below the configured ceiling', async () => {
    const events: VerificationEvent[] = [];
    const listen = (m: unknown) => events.push(m as VerificationEvent);
    const { mirror, verifier, fetchBody } = rig(signatures);
    const pool = { alpha: Buffer.from('alpha v1') };
    const honest = await generation(key, pool, { date: day(1) });
    const plainSize = gunzipSync(honest.packagesGz).length;
    const lying = await generation(key, pool, { date: day(1), listedPlainSize: plainSize - 1 });
    serve(mirror, pool, lying);
    channels.verification.subscribe(listen);
    try {
      await verifier.start();
      await fetchBody(`${dists}InRelease`);
      await fetchBody(lying.byName);
      await verifier.whenIdle();
    } finally {
      channels.verification.unsubscribe(listen);
    }
    assert.deepEqual(
      events.map((e) => [e.failure, e.detail]),
      [['index-bound', `Packages index: expands past ${plainSize - 1} bytes`]],
    );
  });
});
