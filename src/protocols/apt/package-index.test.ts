// Tests for reading pool files out of Packages and Sources paragraphs, and for finding the archive root.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AptFormatError } from './apt-format-error.ts';
import { parseDeb822 } from './deb822.ts';
import { archivePath, archiveRoot, packageFilesFromPackages, packageFilesFromSources } from './package-index.ts';

const debSha256 = '2ef1f7f5d3d8c2a6b1c1e0ab6a2a6a1f1b7c0b8e3e7c4f5e2d1c0b9a8f7e6d5c';
const debMd5 = '8f14e45fceea167a5a36dedd4bea2543';

const packagesParagraph = `Package: hello
Version: 2.10-3
Architecture: amd64
Maintainer: Santiago Vila <sanvila@mirror.example>
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.
 .
 Filename: this line is part of the description, not a field
Homepage: https://mirror.example/hello/
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53224
MD5sum: ${debMd5}
SHA256: ${debSha256.toUpperCase()}
`;

const dscSha256 = 'a3f1c2d4e5b6a7980f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778';
const origSha256 = 'b4e2d3c5f6a7b8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081';
const debianSha256 = 'c5f3e4d6a7b8c9102b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192';
const sourcesParagraph = `Package: hello
Binary: hello
Version: 2.10-3
Maintainer: Santiago Vila <sanvila@mirror.example>
Architecture: any
Format: 3.0 (quilt)
Files:
 0c8f9c8d6f3d2a1b0e9f8a7b6c5d4e3f 1183 hello_2.10-3.dsc
 1d9a0d9e7a4e3b2c1f0a9b8c7d6e5f4a 725946 hello_2.10.orig.tar.gz
 2eab1eaf8b5f4c3d2a1b0c9d8e7f6a5b 12688 hello_2.10-3.debian.tar.xz
Checksums-Sha256:
 ${dscSha256} 1183 hello_2.10-3.dsc
 ${origSha256} 725946 hello_2.10.orig.tar.gz
 ${debianSha256} 12688 hello_2.10-3.debian.tar.xz
Directory: pool/main/h/hello
Priority: optional
Section: devel
`;

function paragraph(text: string) {
  const [first] = parseDeb822(text);
  assert.ok(first);
  return first;
}

void describe('packageFilesFromPackages', () => {
  void it('reads Filename, Size and digests (lower-cased) from a paragraph with a multi-line Description', () => {
    assert.deepEqual(packageFilesFromPackages(paragraph(packagesParagraph)), {
      path: 'pool/main/h/hello/hello_2.10-3_amd64.deb',
      size: 53224,
      sha256: debSha256,
      md5: debMd5,
    });
  });

  void it('drops the leading ./ of flat repositories', () => {
    assert.equal(packageFilesFromPackages(paragraph('Package: a\nFilename: ./a_1_all.deb\nSize: 1\n')).path, 'a_1_all.deb');
  });

  void it('leaves digests out when the paragraph has none', () => {
    assert.deepEqual(packageFilesFromPackages(paragraph('Package: a\nFilename: pool/a_1_all.deb\nSize: 0\n')), { path: 'pool/a_1_all.deb', size: 0 });
  });

  for (const [name, text] of [
    ['no Filename', 'Package: a\nSize: 1\n'],
    ['no Size', 'Package: a\nFilename: pool/a.deb\n'],
    ['a Size that is not a number', 'Package: a\nFilename: pool/a.deb\nSize: 1e3\n'],
    ['a Filename climbing out of the archive', 'Package: a\nFilename: pool/../../etc/passwd\nSize: 1\n'],
    ['an absolute Filename', 'Package: a\nFilename: /etc/passwd\nSize: 1\n'],
    ['a SHA256 of the wrong length', `Package: a\nFilename: pool/a.deb\nSize: 1\nSHA256: ${debMd5}\n`],
  ] as const) {
    void it(`throws AptFormatError for ${name}`, () => {
      assert.throws(() => packageFilesFromPackages(paragraph(text)), AptFormatError);
    });
  }
});

void describe('packageFilesFromSources', () => {
  void it('joins Directory with each file and merges Files and Checksums-Sha256', () => {
    assert.deepEqual(packageFilesFromSources(paragraph(sourcesParagraph)), [
      { path: 'pool/main/h/hello/hello_2.10-3.dsc', size: 1183, sha256: dscSha256, md5: '0c8f9c8d6f3d2a1b0e9f8a7b6c5d4e3f' },
      { path: 'pool/main/h/hello/hello_2.10.orig.tar.gz', size: 725946, sha256: origSha256, md5: '1d9a0d9e7a4e3b2c1f0a9b8c7d6e5f4a' },
      { path: 'pool/main/h/hello/hello_2.10-3.debian.tar.xz', size: 12688, sha256: debianSha256, md5: '2eab1eaf8b5f4c3d2a1b0c9d8e7f6a5b' },
    ]);
  });

  void it('handles a flat repository Directory of "."', () => {
    const files = packageFilesFromSources(paragraph(`Package: a\nDirectory: .\nChecksums-Sha256:\n ${dscSha256} 10 a_1.dsc\n`));
    assert.deepEqual(files, [{ path: 'a_1.dsc', size: 10, sha256: dscSha256 }]);
  });

  void it('returns no files when the paragraph lists none', () => {
    assert.deepEqual(packageFilesFromSources(paragraph('Package: a\nDirectory: pool/main/a/a\n')), []);
  });

  for (const [name, text] of [
    ['no Directory', `Package: a\nChecksums-Sha256:\n ${dscSha256} 10 a_1.dsc\n`],
    ['a name with a slash', `Package: a\nDirectory: pool/a\nChecksums-Sha256:\n ${dscSha256} 10 ../a_1.dsc\n`],
    ['a Directory climbing out', `Package: a\nDirectory: ../..\nChecksums-Sha256:\n ${dscSha256} 10 a_1.dsc\n`],
    ['sizes that disagree', `Package: a\nDirectory: pool/a\nFiles:\n ${debMd5} 11 a_1.dsc\nChecksums-Sha256:\n ${dscSha256} 10 a_1.dsc\n`],
    ['an entry with two columns', `Package: a\nDirectory: pool/a\nChecksums-Sha256:\n ${dscSha256} a_1.dsc\n`],
    ['a digest of the wrong length', `Package: a\nDirectory: pool/a\nChecksums-Sha256:\n ${debMd5} 10 a_1.dsc\n`],
  ] as const) {
    void it(`throws AptFormatError for ${name}`, () => {
      assert.throws(() => packageFilesFromSources(paragraph(text)), AptFormatError);
    });
  }
});

void describe('archiveRoot', () => {
  for (const [releaseDir, root] of [
    ['/debian/dists/bookworm/', '/debian/'],
    ['/debian/dists/bookworm', '/debian/'],
    ['/dists/x/', '/'],
    ['/debian-security/dists/buster/updates/', '/debian-security/'],
    ['/mirror/ubuntu/dists/noble-updates/', '/mirror/ubuntu/'],
    ['/repo/', '/repo/'],
    ['/', '/'],
  ] as const) {
    void it(`${releaseDir} -> ${root}`, () => {
      assert.equal(archiveRoot(releaseDir), root);
    });
  }

  void it('joins a root and a Filename into a request path', () => {
    assert.equal(archivePath('/debian/', 'pool/main/h/hello/hello_2.10-3_amd64.deb'), '/debian/pool/main/h/hello/hello_2.10-3_amd64.deb');
    assert.equal(archivePath('/repo', 'a.deb'), '/repo/a.deb');
  });
});
