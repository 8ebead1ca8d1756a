// Table tests for the apt path table: every rule, its precedence, and the paths that must be refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type AptPathClass, aptPathRules, classifyAptPath } from './path-class.ts';

const sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
const sha1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
const sha512 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

type Expected = Partial<AptPathClass>;
const text = 'text/plain; charset=utf-8';
const deb = 'application/vnd.debian.binary-package';

// [path, expected fields (only those listed are compared) or undefined for "refused"]
const cases: readonly [string, Expected | undefined][] = [
  // --- packages under pool/ (archive root is what precedes pool/)
  [
    '/debian/pool/main/h/hello/hello_2.10-3_amd64.deb',
    { kind: 'package', mutable: false, rule: 'package', contentType: deb, archiveRoot: '/debian/', releaseDir: undefined },
  ],
  ['/debian/pool/main/d/debian-installer/di-utils_1.0_amd64.udeb', { kind: 'package', mutable: false, contentType: deb }],
  ['/ubuntu/pool/main/h/hello/hello-dbgsym_2.10-3_amd64.ddeb', { kind: 'package', mutable: false, contentType: deb, archiveRoot: '/ubuntu/' }],
  ['/debian/pool/main/p/pkg/pkg_1.0-1.dsc', { kind: 'package', mutable: false, rule: 'package', contentType: text }],
  [
    '/debian/pool/main/p/pkg/pkg_1.0.orig.tar.xz',
    { kind: 'package', mutable: false, rule: 'pool-source', contentType: 'application/x-xz', compression: 'xz', archiveRoot: '/debian/' },
  ],
  ['/debian/pool/main/p/pkg/pkg_1.0.orig.tar.xz.asc', { kind: 'package', mutable: false, rule: 'pool-source', contentType: 'application/pgp-signature' }],
  ['/debian/pool/main/p/pkg/pkg_1.0.orig-docs.tar.gz', { kind: 'package', rule: 'pool-source', contentType: 'application/gzip' }],
  ['/debian/pool/main/p/pkg/pkg_1.0-1.debian.tar.bz2', { kind: 'package', rule: 'pool-source', contentType: 'application/x-bzip2' }],
  ['/debian/pool/main/p/pkg/pkg_1.0-1.debian.tar.zst', { kind: 'package', rule: 'pool-source', contentType: 'application/zstd' }],
  ['/debian/pool/main/p/pkg/pkg_1.0.orig.tar.lzma', { kind: 'package', rule: 'pool-source', contentType: 'application/x-lzma' }],
  ['/debian/pool/main/p/pkg/pkg_1.0.tar', { kind: 'package', rule: 'pool-source', contentType: 'application/x-tar' }],
  ['/debian/pool/main/p/pkg/pkg_1.0-1.diff.gz', { kind: 'package', rule: 'pool-source', contentType: 'application/gzip' }],
  ['/debian/pool/main/p/pkg/pkg_1.0-1_amd64.changes', { kind: 'package', rule: 'pool-source', contentType: text }],
  ['/debian/pool/main/p/pkg/pkg_1.0-1_amd64.buildinfo', { kind: 'package', rule: 'pool-source', contentType: text }],
  // a source package named "pool": the first pool/ segment is the archive's
  ['/debian/pool/main/p/pool/pool_1.0-1_all.deb', { kind: 'package', archiveRoot: '/debian/' }],
  ['/pool/main/h/hello/hello_2.10-3_amd64.deb', { kind: 'package', archiveRoot: '/' }],
  // flat repositories keep packages anywhere; no archive root can be told from the path
  ['/repo/hello_2.10-3_amd64.deb', { kind: 'package', mutable: false, archiveRoot: undefined, releaseDir: undefined }],
  ['/repo/sub/pkg_1.0.dsc', { kind: 'package', mutable: false }],
  // installer udebs under dists/ are still packages (rule 5 before the dists rules)
  ['/debian/dists/bookworm/main/installer-amd64/current/images/udeb/x_1_amd64.udeb', { kind: 'package', rule: 'package', mutable: false }],

  // --- by-hash
  [
    `/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha256}`,
    {
      kind: 'by-hash',
      mutable: false,
      rule: 'by-hash',
      contentType: 'application/octet-stream',
      compression: 'none',
      byHash: { algorithm: 'SHA256', hex: sha256 },
      archiveRoot: '/debian/',
      releaseDir: '/debian/dists/bookworm/',
      releaseRelative: `main/binary-amd64/by-hash/SHA256/${sha256}`,
    },
  ],
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/MD5Sum/${md5}`, { kind: 'by-hash', byHash: { algorithm: 'MD5Sum', hex: md5 } }],
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/SHA1/${sha1}`, { kind: 'by-hash', byHash: { algorithm: 'SHA1', hex: sha1 } }],
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/SHA512/${sha512}`, { kind: 'by-hash', byHash: { algorithm: 'SHA512', hex: sha512 } }],
  [
    `/debian/dists/bookworm/main/i18n/by-hash/SHA256/${sha256}`,
    { kind: 'by-hash', releaseDir: '/debian/dists/bookworm/', releaseRelative: `main/i18n/by-hash/SHA256/${sha256}` },
  ],
  [`/debian/dists/bookworm/main/dep11/by-hash/SHA256/${sha256}`, { kind: 'by-hash', releaseDir: '/debian/dists/bookworm/' }],
  // component-level (Contents) and suite-level (Ubuntu Contents) by-hash directories
  [
    `/debian/dists/bookworm/main/by-hash/SHA256/${sha256}`,
    { kind: 'by-hash', releaseDir: '/debian/dists/bookworm/', releaseRelative: `main/by-hash/SHA256/${sha256}` },
  ],
  [`/ubuntu/dists/noble/by-hash/SHA256/${sha256}`, { kind: 'by-hash', releaseDir: '/ubuntu/dists/noble/', releaseRelative: `by-hash/SHA256/${sha256}` }],
  [`/debian/dists/bookworm/main/binary-amd64/Packages.diff/by-hash/SHA256/${sha256}`, { kind: 'by-hash', releaseDir: '/debian/dists/bookworm/' }],
  // a slash suite, found through the binary-<arch> directory
  [
    `/debian-security/dists/buster/updates/main/binary-amd64/by-hash/SHA256/${sha256}`,
    { kind: 'by-hash', releaseDir: '/debian-security/dists/buster/updates/', releaseRelative: `main/binary-amd64/by-hash/SHA256/${sha256}` },
  ],
  // flat repository: the Release beside by-hash/
  [`/repo/by-hash/SHA256/${sha256}`, { kind: 'by-hash', releaseDir: '/repo/', releaseRelative: `by-hash/SHA256/${sha256}`, archiveRoot: undefined }],
  // malformed by-hash names are refused, not fetched as dists-other
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha256.slice(1)}`, undefined],
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha256.toUpperCase()}`, undefined],
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/${md5}`, undefined],
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/SHA384/${'a'.repeat(96)}`, undefined],
  [`/debian/dists/bookworm/main/binary-amd64/by-hash/sha256/${sha256}`, undefined],
  ['/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/', undefined],

  // --- release files
  [
    '/debian/dists/bookworm/InRelease',
    {
      kind: 'release',
      mutable: true,
      rule: 'release',
      contentType: text,
      archiveRoot: '/debian/',
      releaseDir: '/debian/dists/bookworm/',
      releaseRelative: 'InRelease',
    },
  ],
  ['/debian/dists/bookworm/Release', { kind: 'release', mutable: true, contentType: text, releaseDir: '/debian/dists/bookworm/', releaseRelative: 'Release' }],
  ['/debian/dists/bookworm/Release.gpg', { kind: 'release', mutable: true, contentType: 'application/pgp-signature', releaseRelative: 'Release.gpg' }],
  ['/dists/x/InRelease', { kind: 'release', mutable: true, archiveRoot: '/', releaseDir: '/dists/x/', releaseRelative: 'InRelease' }],
  ['/debian-security/dists/buster/updates/InRelease', { kind: 'release', releaseDir: '/debian-security/dists/buster/updates/' }],
  ['/repo/Release', { kind: 'release', mutable: true, releaseDir: '/repo/', releaseRelative: 'Release', archiveRoot: undefined }],
  ['/repo/sub/InRelease', { kind: 'release', releaseDir: '/repo/sub/' }],
  ['/InRelease', { kind: 'release', releaseDir: '/', releaseRelative: 'InRelease' }],
  // per-component Release files are indices of the suite's Release (rule 3 before rule 4)
  [
    '/debian/dists/bookworm/main/binary-amd64/Release',
    { kind: 'index', mutable: true, rule: 'component-release', releaseDir: '/debian/dists/bookworm/', releaseRelative: 'main/binary-amd64/Release' },
  ],
  ['/debian/dists/bookworm/main/source/Release', { kind: 'index', rule: 'component-release', releaseRelative: 'main/source/Release' }],
  [
    '/debian/dists/bookworm/main/debian-installer/binary-amd64/Release',
    { kind: 'index', rule: 'component-release', releaseRelative: 'main/debian-installer/binary-amd64/Release' },
  ],

  // --- indices under dists/
  [
    '/debian/dists/bookworm/main/binary-amd64/Packages.xz',
    {
      kind: 'index',
      mutable: true,
      rule: 'dists-index',
      compression: 'xz',
      contentType: 'application/x-xz',
      archiveRoot: '/debian/',
      releaseDir: '/debian/dists/bookworm/',
      releaseRelative: 'main/binary-amd64/Packages.xz',
    },
  ],
  ['/debian/dists/bookworm/main/binary-amd64/Packages', { kind: 'index', compression: 'none', contentType: text }],
  ['/debian/dists/bookworm/main/binary-amd64/Packages.gz', { kind: 'index', compression: 'gz', contentType: 'application/gzip' }],
  ['/debian/dists/bookworm/main/binary-amd64/Packages.bz2', { kind: 'index', compression: 'bz2' }],
  ['/debian/dists/bookworm/main/binary-amd64/Packages.lzma', { kind: 'index', compression: 'lzma' }],
  ['/debian/dists/bookworm/main/binary-amd64/Packages.zst', { kind: 'index', compression: 'zst', contentType: 'application/zstd' }],
  ['/debian/dists/bookworm/main/binary-amd64/Packages.lz4', { kind: 'index', compression: 'lz4', contentType: 'application/x-lz4' }],
  [
    '/debian/dists/bookworm/main/debian-installer/binary-amd64/Packages.xz',
    { kind: 'index', releaseDir: '/debian/dists/bookworm/', releaseRelative: 'main/debian-installer/binary-amd64/Packages.xz' },
  ],
  ['/debian/dists/bookworm/main/source/Sources.xz', { kind: 'index', releaseRelative: 'main/source/Sources.xz' }],
  ['/debian/dists/bookworm/main/i18n/Translation-en.bz2', { kind: 'index', compression: 'bz2', releaseRelative: 'main/i18n/Translation-en.bz2' }],
  ['/debian/dists/bookworm/main/i18n/Translation-pt_BR.xz', { kind: 'index' }],
  ['/debian/dists/bookworm/main/i18n/Translation-ca@valencia', { kind: 'index', contentType: text }],
  ['/debian/dists/bookworm/main/i18n/Index', { kind: 'index', rule: 'i18n-index', contentType: text, releaseRelative: 'main/i18n/Index' }],
  ['/debian/dists/bookworm/main/Contents-amd64.gz', { kind: 'index', releaseDir: '/debian/dists/bookworm/', releaseRelative: 'main/Contents-amd64.gz' }],
  ['/debian/dists/bookworm/main/Contents-udeb-amd64.gz', { kind: 'index' }],
  ['/debian/dists/bookworm/main/Contents-source.gz', { kind: 'index' }],
  ['/ubuntu/dists/noble/Contents-amd64.gz', { kind: 'index', releaseDir: '/ubuntu/dists/noble/', releaseRelative: 'Contents-amd64.gz' }],
  [
    '/ubuntu/dists/noble/main/dep11/Components-amd64.yml.gz',
    {
      kind: 'index',
      mutable: true,
      rule: 'dists-index',
      compression: 'gz',
      contentType: 'application/gzip',
      releaseDir: '/ubuntu/dists/noble/',
      releaseRelative: 'main/dep11/Components-amd64.yml.gz',
    },
  ],
  ['/ubuntu/dists/noble/main/dep11/Components-amd64.yml', { kind: 'index', contentType: 'application/yaml' }],
  ['/ubuntu/dists/noble/main/dep11/Components-all.yml.xz', { kind: 'index' }],
  ['/ubuntu/dists/noble/main/dep11/icons-64x64.tar.gz', { kind: 'index', contentType: 'application/gzip' }],
  ['/ubuntu/dists/noble/main/dep11/icons-64x64@2.tar', { kind: 'index', contentType: 'application/x-tar' }],
  ['/ubuntu/dists/noble/main/dep11/icons-128x128.tar.gz', { kind: 'index' }],
  ['/ubuntu/dists/noble/main/cnf/Commands-amd64.xz', { kind: 'index', releaseRelative: 'main/cnf/Commands-amd64.xz' }],
  [
    '/debian-security/dists/buster/updates/main/binary-amd64/Packages.xz',
    { kind: 'index', releaseDir: '/debian-security/dists/buster/updates/', releaseRelative: 'main/binary-amd64/Packages.xz' },
  ],
  // a repository without components (dists/<suite>/binary-<arch>/): the suite is the one directory
  ['/repo/dists/stable/binary-amd64/Packages.gz', { kind: 'index', releaseDir: '/repo/dists/stable/', releaseRelative: 'binary-amd64/Packages.gz' }],
  // pdiffs
  [
    '/debian/dists/bookworm/main/binary-amd64/Packages.diff/Index',
    { kind: 'index', mutable: true, rule: 'pdiff', contentType: text, releaseRelative: 'main/binary-amd64/Packages.diff/Index' },
  ],
  [
    '/debian/dists/bookworm/main/binary-amd64/Packages.diff/T-2024-01-14-2005.00-F-2024-01-14-0205.00.gz',
    { kind: 'index', rule: 'pdiff', contentType: 'application/gzip' },
  ],
  ['/debian/dists/bookworm/main/binary-amd64/Packages.diff/2024-01-14-2005.00.gz', { kind: 'index', rule: 'pdiff' }],
  ['/debian/dists/bookworm/main/i18n/Translation-en.diff/Index', { kind: 'index', rule: 'pdiff', releaseRelative: 'main/i18n/Translation-en.diff/Index' }],
  ['/debian/dists/bookworm/main/source/Sources.diff/Index', { kind: 'index', rule: 'pdiff' }],

  // --- flat repository indices (input already normalized: /repo/./Packages arrives as /repo/Packages)
  ['/repo/Packages', { kind: 'index', mutable: true, rule: 'flat-index', releaseDir: '/repo/', releaseRelative: 'Packages', archiveRoot: undefined }],
  ['/repo/sub/Sources.gz', { kind: 'index', rule: 'flat-index', releaseDir: '/repo/sub/', releaseRelative: 'Sources.gz' }],
  ['/Packages.xz', { kind: 'index', rule: 'flat-index', releaseDir: '/', releaseRelative: 'Packages.xz' }],
  ['/repo/./Packages', undefined],
  ['/repo/Contents-amd64.gz', undefined],
  ['/repo/Translation-en', undefined],

  // --- everything else under dists/<suite>/
  [
    '/debian/dists/bookworm/main/installer-amd64/current/images/netboot/netboot.tar.gz',
    {
      kind: 'dists-other',
      mutable: true,
      rule: 'dists-other',
      contentType: 'application/gzip',
      releaseDir: '/debian/dists/bookworm/',
      releaseRelative: 'main/installer-amd64/current/images/netboot/netboot.tar.gz',
    },
  ],
  ['/debian/dists/bookworm/main/installer-amd64/current/images/SHA256SUMS', { kind: 'dists-other', contentType: 'application/octet-stream' }],
  ['/debian/dists/bookworm/main/installer-amd64/current/images/index.html', { kind: 'dists-other', contentType: 'application/octet-stream' }],
  ['/debian/dists/bookworm/ChangeLog', { kind: 'dists-other', releaseDir: '/debian/dists/bookworm/', releaseRelative: 'ChangeLog' }],
  ['/debian/dists/bookworm/main/binary-amd64/Packages.xz.bak', { kind: 'dists-other' }],
  ['/debian/dists/bookworm/main/dep11/CID-Index-amd64.json.gz', { kind: 'dists-other' }],

  // --- refused: not apt repository files, directory listings, unnormalized paths
  ['/index.html', undefined],
  ['/etc/passwd', undefined],
  ['/', undefined],
  ['', undefined],
  ['/debian/pool/', undefined],
  ['/debian/pool/main/h/hello/', undefined],
  ['/debian/pool/main/h/hello/hello.txt', undefined],
  ['/debian/dists/', undefined],
  ['/debian/dists/bookworm/', undefined],
  ['/debian/dists/README', undefined],
  ['/downloads/tool-1.0.tar.gz', undefined],
  ['debian/pool/main/h/hello/hello_2.10-3_amd64.deb', undefined],
  ['/debian//pool/main/h/hello/hello_2.10-3_amd64.deb', undefined],
  ['/debian/pool/../pool/main/h/hello/hello_2.10-3_amd64.deb', undefined],
  ['/debian/dists/bookworm/..', undefined],
  ['/debian/pool/main/h/hello/hello\u0000.deb', undefined],
  ['/debian/pool/main/h/hello/hello\n.deb', undefined],
  ['/debian\\pool\\hello.deb', undefined],
  ['/debian/pool/main/h/hello/.deb', undefined],
];

function pick(actual: AptPathClass, expected: Expected): Expected {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(expected)) picked[key] = (actual as unknown as Record<string, unknown>)[key];
  return picked;
}

void describe('classifyAptPath', () => {
  for (const [path, expected] of cases) {
    void it(`${JSON.stringify(path)} -> ${expected === undefined ? 'refused' : (expected.kind ?? '?')}`, () => {
      const actual = classifyAptPath(path);
      if (expected === undefined) {
        assert.equal(actual, undefined);
        return;
      }
      assert.ok(actual, `expected ${path} to be classified`);
      assert.deepEqual(pick(actual, expected), expected);
    });
  }

  void it('reaches every rule of the table from the cases above', () => {
    const hit = new Set(cases.map(([path]) => aptPathRules.find((rule) => rule.pattern.test(path))?.name));
    for (const rule of aptPathRules) assert.ok(hit.has(rule.name), `no case reaches rule ${rule.name}`);
  });

  void it('keeps the documented precedence', () => {
    assert.deepEqual(
      aptPathRules.map((rule) => rule.name),
      [
        'by-hash',
        'by-hash-malformed',
        'component-release',
        'release',
        'package',
        'pool-source',
        'pdiff',
        'i18n-index',
        'dists-index',
        'flat-index',
        'dists-other',
      ],
    );
  });

  void it('ties mutability to the kind: packages and by-hash never change, the rest may', () => {
    for (const [path] of cases) {
      const actual = classifyAptPath(path);
      if (actual === undefined) continue;
      assert.equal(actual.mutable, actual.kind !== 'package' && actual.kind !== 'by-hash', path);
    }
  });

  void it('never throws, and what it returns is consistent with the path', () => {
    const segment = fc.oneof(
      fc.constantFrom(
        'debian',
        'dists',
        'pool',
        'main',
        'bookworm',
        'binary-amd64',
        'by-hash',
        'SHA256',
        'i18n',
        'dep11',
        'Packages.xz',
        'InRelease',
        'Index',
        'x.deb',
        'a.orig.tar.gz',
        '.',
        '..',
        '',
      ),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segments) => {
        const path = `/${segments.join('/')}`;
        const actual = classifyAptPath(path);
        if (actual === undefined) return;
        if (actual.archiveRoot !== undefined) assert.ok(path.startsWith(actual.archiveRoot));
        if (actual.releaseDir !== undefined) {
          assert.equal(`${actual.releaseDir}${actual.releaseRelative ?? ''}`, path);
          assert.ok(actual.releaseDir.endsWith('/'));
          assert.ok(actual.releaseRelative !== '');
        }
        assert.equal(actual.releaseDir === undefined, actual.kind === 'package');
      }),
      { numRuns: 2000 },
    );
  });
});
