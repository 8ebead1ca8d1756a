// Tests for Release/InRelease parsing: clear-signed splitting, fields, the checksum table and by-hash names.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AptFormatError } from './apt-format-error.ts';
import { byHashPath, byHashPaths, entryDigest, isSafeRelativePath, parseRelease, parseReleaseDate, resolveByHash, splitClearsigned } from './release-file.ts';

const md5Packages = '0f343b0931126a20f133d67c2b018a3b';
const md5PackagesXz = '1e8e3cc0b6b2d6a8a4e5b2e3c9f0a1b2';
const md5Release = '9a0364b9e99bb480dd25e1f0284c8555';
const shaPackages = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const shaPackagesXz = '5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592';
const shaRelease = '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae';
const shaContents = 'fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9';

const release = `Origin: Debian
Label: Debian
Suite: stable
Version: 12.5
Codename: bookworm
Changelogs: https://mirror.example/changelogs/@CHANGEPATH@_changelog
Date: Sat, 10 Feb 2024 09:48:03 UTC
Valid-Until: Sat, 17 Feb 2024 09:48:03 +0000
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64
Components: main contrib non-free-firmware
Description: Debian 12.5 Released 10 February 2024
Signed-By: 4D64FEC119C2029067D6E791F8D2585B8783D481, 0123456789ABCDEF0123456789ABCDEF01234567
MD5Sum:
 ${md5Packages}  1484322 main/binary-amd64/Packages
 ${md5PackagesXz}   240012 main/binary-amd64/Packages.xz
 ${md5Release}      117 main/binary-amd64/Release
SHA256:
 ${shaPackages}  1484322 main/binary-amd64/Packages
 ${shaPackagesXz}   240012 main/binary-amd64/Packages.xz
 ${shaRelease}      117 main/binary-amd64/Release
 ${shaContents.toUpperCase()} 9001 main/Contents-amd64.gz
`;

const signature = `-----BEGIN PGP SIGNATURE-----

iQIzBAEBCgAdFiEEBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
=AbCd
-----END PGP SIGNATURE-----
`;

// The signer escaped every line (implementations may), plus a real dash line inside a value.
const inRelease = `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

${release
  .trimEnd()
  .split('\n')
  .map((line) => `- ${line}`)
  .join('\n')}
${signature}`;

void describe('splitClearsigned', () => {
  void it('returns the signed text with dash-escaping undone, the hash headers and the signature', () => {
    const parts = splitClearsigned(inRelease);
    assert.ok(parts);
    assert.equal(parts.text, release.trimEnd());
    assert.deepEqual(parts.hashHeaders, ['SHA512']);
    assert.equal(parts.signature, signature);
  });

  void it('unescapes only the "- " prefix and leaves other lines alone', () => {
    const parts = splitClearsigned(`${beginLines()}A: 1\n- --dashes\n -- continuation\n\nB: 2\n${signature}`);
    assert.equal(parts?.text, 'A: 1\n--dashes\n -- continuation\n\nB: 2');
  });

  void it('accepts CRLF files and several signature blocks', () => {
    const crlf = `${beginLines()}A: 1\n${signature}${signature}`.replaceAll('\n', '\r\n');
    const parts = splitClearsigned(crlf);
    assert.equal(parts?.text, 'A: 1');
    assert.equal(parts?.signature, signature + signature);
  });

  void it('returns undefined for a plain Release', () => {
    assert.equal(splitClearsigned(release), undefined);
    assert.equal(splitClearsigned(''), undefined);
  });

  for (const [name, text] of [
    ['text before the signed message block', `Suite: evil\n${beginLines()}A: 1\n${signature}`],
    ['an unescaped dash line in the signed text', `${beginLines()}A: 1\n-- sneaky\n${signature}`],
    ['a dash line in the armor headers', '-----BEGIN PGP SIGNED MESSAGE-----\n-----BEGIN PGP SIGNATURE-----\n\nA: 1\n'],
    ['unsigned lines after the signature', `${beginLines()}A: 1\n${signature}Suite: evil\n`],
    ['a blank line after the signature', `${beginLines()}A: 1\n${signature}\n`],
    ['an unclosed signature', `${beginLines()}A: 1\n-----BEGIN PGP SIGNATURE-----\n\nabc\n`],
    ['a dash line inside the signature', `${beginLines()}A: 1\n-----BEGIN PGP SIGNATURE-----\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\n`],
    ['no signature block', `${beginLines()}A: 1\n`],
    ['no end of the armor headers', '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256'],
  ] as const) {
    void it(`throws AptFormatError for ${name}`, () => {
      assert.throws(() => splitClearsigned(text), AptFormatError);
    });
  }
});

function beginLines(): string {
  return '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n';
}

void describe('parseRelease', () => {
  void it('reads the fields', () => {
    const parsed = parseRelease(release);
    assert.equal(parsed.origin, 'Debian');
    assert.equal(parsed.label, 'Debian');
    assert.equal(parsed.suite, 'stable');
    assert.equal(parsed.codename, 'bookworm');
    assert.equal(parsed.version, '12.5');
    assert.equal(parsed.date?.toISOString(), '2024-02-10T09:48:03.000Z');
    assert.equal(parsed.validUntil?.toISOString(), '2024-02-17T09:48:03.000Z');
    assert.equal(parsed.acquireByHash, true);
    assert.equal(parsed.noSupportForArchitectureAll, true);
    assert.equal(parsed.notAutomatic, false);
    assert.equal(parsed.butAutomaticUpgrades, false);
    assert.deepEqual(parsed.architectures, ['all', 'amd64', 'arm64']);
    assert.deepEqual(parsed.components, ['main', 'contrib', 'non-free-firmware']);
    assert.deepEqual(parsed.signedBy, ['4D64FEC119C2029067D6E791F8D2585B8783D481', '0123456789ABCDEF0123456789ABCDEF01234567']);
    assert.equal(parsed.paragraph.get('Description'), 'Debian 12.5 Released 10 February 2024');
  });

  void it('builds the checksum table by relative path, merging the hash sections', () => {
    const { files } = parseRelease(release);
    assert.equal(files.size, 4);
    assert.deepEqual(files.get('main/binary-amd64/Packages.xz'), { size: 240012, md5: md5PackagesXz, sha256: shaPackagesXz });
    assert.deepEqual(files.get('main/binary-amd64/Release'), { size: 117, md5: md5Release, sha256: shaRelease });
    // upper-case hex in the file is stored lower case
    assert.deepEqual(files.get('main/Contents-amd64.gz'), { size: 9001, sha256: shaContents });
  });

  void it('parses an InRelease to the same result as its Release', () => {
    const fromInRelease = parseRelease(inRelease);
    const fromRelease = parseRelease(release);
    assert.deepEqual(fromInRelease.files, fromRelease.files);
    assert.equal(fromInRelease.codename, 'bookworm');
  });

  void it('reads absent optional fields as absent', () => {
    const parsed = parseRelease('Suite: unstable\nNotAutomatic: yes\nButAutomaticUpgrades: yes\nAcquire-By-Hash: no\n');
    assert.equal(parsed.codename, undefined);
    assert.equal(parsed.date, undefined);
    assert.equal(parsed.validUntil, undefined);
    assert.equal(parsed.acquireByHash, false);
    assert.equal(parsed.noSupportForArchitectureAll, false);
    assert.equal(parsed.notAutomatic, true);
    assert.equal(parsed.butAutomaticUpgrades, true);
    assert.deepEqual(parsed.architectures, []);
    assert.deepEqual(parsed.signedBy, []);
    assert.equal(parsed.files.size, 0);
  });

  for (const [name, text] of [
    ['an empty file', ''],
    ['two paragraphs', 'Suite: a\n\nSuite: b\n'],
    ['a checksum line with two columns', `SHA256:\n ${shaPackages} main/Packages\n`],
    ['a digest of the wrong length', `SHA256:\n ${md5Packages} 1 main/Packages\n`],
    ['a digest that is not hex', `MD5Sum:\n ${'g'.repeat(32)} 1 main/Packages\n`],
    ['a negative size', `SHA256:\n ${shaPackages} -1 main/Packages\n`],
    ['a path climbing out of the Release directory', `SHA256:\n ${shaPackages} 1 ../../etc/passwd\n`],
    ['an absolute path', `SHA256:\n ${shaPackages} 1 /etc/passwd\n`],
    ['two sizes for one file', `MD5Sum:\n ${md5Packages} 1 main/Packages\nSHA256:\n ${shaPackages} 2 main/Packages\n`],
    ['a Date that is not a date', 'Date: yesterday\n'],
    ['a Valid-Until on 30 February', 'Valid-Until: Fri, 30 Feb 2024 00:00:00 UTC\n'],
  ] as const) {
    void it(`throws AptFormatError for ${name}`, () => {
      assert.throws(() => parseRelease(text), AptFormatError);
    });
  }
});

void describe('parseReleaseDate', () => {
  for (const [text, iso] of [
    ['Sat, 10 Feb 2024 09:48:03 UTC', '2024-02-10T09:48:03.000Z'],
    ['Sat, 10 Feb 2024 09:48:03 +0000', '2024-02-10T09:48:03.000Z'],
    ['Sat, 10 Feb 2024 09:48:03 GMT', '2024-02-10T09:48:03.000Z'],
    ['Sat, 10 Feb 2024 09:48:03 Z', '2024-02-10T09:48:03.000Z'],
    ['10 Feb 2024 09:48:03 UTC', '2024-02-10T09:48:03.000Z'],
    ['Sat,  3 Feb 2024 09:48:03 UTC', '2024-02-03T09:48:03.000Z'],
    ['Sat, 3 Feb 2024 09:48:03 UTC', '2024-02-03T09:48:03.000Z'],
    ['Sat, 10 Feb 2024 10:48:03 +0100', '2024-02-10T09:48:03.000Z'],
    ['Sat, 10 Feb 2024 04:48:03 -0500', '2024-02-10T09:48:03.000Z'],
    ['Sat, 10 Foo 2024 09:48:03 UTC', undefined],
    ['Sat, 10 Feb 2024 24:00:00 UTC', undefined],
    ['2024-02-10T09:48:03Z', undefined],
  ] as const) {
    void it(`${JSON.stringify(text)} -> ${iso ?? 'invalid'}`, () => {
      assert.equal(parseReleaseDate(text)?.toISOString(), iso);
    });
  }
});

void describe('by-hash helpers', () => {
  const parsed = parseRelease(release);

  void it('names the by-hash file beside the index', () => {
    assert.equal(byHashPath('main/binary-amd64/Packages.xz', 'SHA256', shaPackagesXz), `main/binary-amd64/by-hash/SHA256/${shaPackagesXz}`);
    assert.equal(byHashPath('Packages', 'MD5Sum', md5Packages), `by-hash/MD5Sum/${md5Packages}`);
  });

  void it('lists every by-hash name of a listed file, strongest first', () => {
    assert.deepEqual(byHashPaths(parsed, 'main/binary-amd64/Packages.xz'), [
      `main/binary-amd64/by-hash/SHA256/${shaPackagesXz}`,
      `main/binary-amd64/by-hash/MD5Sum/${md5PackagesXz}`,
    ]);
    assert.deepEqual(byHashPaths(parsed, 'main/binary-amd64/Packages.gz'), []);
  });

  void it('resolves a by-hash name back to the files it stands for, in the same directory only', () => {
    assert.deepEqual(resolveByHash(parsed, `main/binary-amd64/by-hash/SHA256/${shaPackagesXz}`), [
      { path: 'main/binary-amd64/Packages.xz', entry: { size: 240012, md5: md5PackagesXz, sha256: shaPackagesXz } },
    ]);
    assert.deepEqual(resolveByHash(parsed, `main/i18n/by-hash/SHA256/${shaPackagesXz}`), []);
    assert.deepEqual(
      resolveByHash(parsed, `main/by-hash/SHA256/${shaContents}`).map((t) => t.path),
      ['main/Contents-amd64.gz'],
    );
    assert.deepEqual(resolveByHash(parsed, `main/binary-amd64/by-hash/SHA384/${shaPackagesXz}`), []);
    assert.deepEqual(resolveByHash(parsed, 'main/binary-amd64/Packages.xz'), []);
  });

  void it('reads a digest of an entry by algorithm', () => {
    const entry = parsed.files.get('main/binary-amd64/Packages');
    assert.ok(entry);
    assert.equal(entryDigest(entry, 'SHA256'), shaPackages);
    assert.equal(entryDigest(entry, 'SHA512'), undefined);
  });
});

void describe('isSafeRelativePath', () => {
  for (const [path, safe] of [
    ['main/binary-amd64/Packages', true],
    ['Packages', true],
    ['', false],
    ['/etc/passwd', false],
    ['main//Packages', false],
    ['main/./Packages', false],
    ['../Packages', false],
    ['main/..', false],
    ['main\\Packages', false],
    ['main/\0', false],
  ] as const) {
    void it(`${JSON.stringify(path)} -> ${safe}`, () => {
      assert.equal(isSafeRelativePath(path), safe);
    });
  }
});

void describe('parseRelease and the index bounds', () => {
  void it('reads a checksum field longer than the 1 MiB that bounds a field of an index (a large archive lists thousands of files)', () => {
    const lines = Array.from({ length: 12_000 }, (_, i) => ` ${shaPackages} ${1000 + i} main/binary-arch${i}/Packages.xz`);
    const large = `Suite: stable\nSHA256:\n${lines.join('\n')}\n`;
    assert.ok(large.length > 1024 * 1024);
    const parsed = parseRelease(large);
    assert.equal(parsed.files.size, 12_000);
    assert.equal(parsed.files.get('main/binary-arch11999/Packages.xz')?.size, 12_999);
  });
});
