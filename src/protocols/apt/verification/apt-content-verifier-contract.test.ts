// Runs the ContentVerifier contract against the apt verifier over real memory stores holding a tiny repository (unsigned, and signed in strict mode).
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { GpgKeyring } from '../../../../test/support/gpg-keyring.ts';
import { digestsOf, renderPackages, renderRelease } from '../../../../test/support/repo-index-writer.ts';
import { contentVerifierContract, type ContentVerifierFixture } from '../../../cache/content-verifier.contract.ts';
import { MemoryBlobStore } from '../../../storage/memory-blob-store.ts';
import { MemoryMetadataIndex } from '../../../storage/memory-metadata-index.ts';
import { AptContentVerifier } from './apt-content-verifier.ts';
import { readKeyringFile } from './keyring-loader.ts';
import { ReleaseSignatureChecker } from './release-signature-checker.ts';

const upstream = 'http://mirror.example';
const dists = '/debian/dists/stable/';
const poolPath = 'pool/main/a/alpha/alpha_1.0_amd64.deb';
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * A store as hoard leaves it after `apt update` and one download: a Release (signed InRelease with a key, else an
 * unsigned Release), its Packages (plain and gz) and one package; the verifier rebuilds its knowledge from it as at start-up.
 */
async function aptFixture(options: { key?: GpgKeyring; strict: boolean }): Promise<ContentVerifierFixture> {
  const deb = randomBytes(2048);
  const packages = Buffer.from(
    renderPackages([
      {
        name: 'alpha',
        version: '1.0',
        arch: 'amd64',
        depends: undefined,
        description: 'alpha',
        installedSizeKiB: 2,
        poolPath,
        size: deb.length,
        ...digestsOf(deb),
      },
    ]),
  );
  const packagesGz = gzipSync(packages);
  const release = Buffer.from(
    renderRelease({
      origin: 'T',
      label: 'T',
      suite: 'stable',
      codename: 'stable',
      date: new Date(Date.UTC(2026, 0, 1)),
      validUntil: undefined,
      architectures: ['amd64'],
      components: ['main'],
      description: 'contract',
      acquireByHash: true,
      files: [
        { path: 'main/binary-amd64/Packages', size: packages.length, ...digestsOf(packages) },
        { path: 'main/binary-amd64/Packages.gz', size: packagesGz.length, ...digestsOf(packagesGz) },
      ],
    }),
  );
  const blobs = new MemoryBlobStore();
  const index = new MemoryMetadataIndex();
  const store = async (path: string, bytes: Buffer) => {
    const writer = await blobs.createWriter();
    await writer.write(bytes);
    const { digest, size } = await writer.commit({ size: bytes.length, sha256: sha(bytes) });
    index.put({
      key: upstream + path,
      protocol: 'apt',
      upstream,
      path,
      digest,
      size,
      storedAt: 1,
      validatedAt: 1,
      lastAccessAt: 1,
      verification: 'hash-verified',
    });
  };
  if (options.key === undefined) await store(`${dists}Release`, release);
  else await store(`${dists}InRelease`, await options.key.clearsign(release));
  await store(`${dists}main/binary-amd64/Packages.gz`, packagesGz);
  await store(`${dists}main/binary-amd64/Packages`, packages);
  await store(`/debian/${poolPath}`, deb);
  const keys = options.key === undefined ? [] : await readKeyringFile(options.key.publicKeyringPath);
  const verifier = new AptContentVerifier({
    blobs,
    index,
    signatures: new ReleaseSignatureChecker(keys),
    logger: pino({ level: 'silent' }),
    strict: options.strict,
  });
  await verifier.start();
  await verifier.whenIdle();
  return {
    verifier,
    oracle: verifier,
    upstream,
    paths: [
      `${dists}InRelease`,
      `${dists}Release`,
      `${dists}Release.gpg`,
      `${dists}main/binary-amd64/Packages.gz`,
      `${dists}main/binary-amd64/Packages.xz`,
      `${dists}main/binary-amd64/by-hash/SHA256/${sha(packagesGz)}`,
      `${dists}main/binary-amd64/by-hash/SHA256/${sha(randomBytes(8))}`,
      '/debian/dists/unknown/InRelease',
      '/debian/pool/main/b/bravo/bravo_1.0_amd64.deb',
    ],
    unknownPath: '/debian/pool/main/z/zulu/zulu_1.0_amd64.deb',
    known: { path: `/debian/${poolPath}`, bytes: deb },
    strict: options.strict,
  };
}

contentVerifierContract('AptContentVerifier, unsigned Release', () => aptFixture({ strict: false }));

let key: GpgKeyring | undefined;
contentVerifierContract('AptContentVerifier, signed InRelease, strict', async () => {
  key = await GpgKeyring.generate();
  const fixture = await aptFixture({ key, strict: true });
  return { ...fixture, cleanup: () => key?.dispose() ?? Promise.resolve() };
});
