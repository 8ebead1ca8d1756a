// Tests of reading Packages and Sources indices (any compression) into the table of pool-file hashes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PackageHashTable, indexKindOf, readPackageIndex } from './package-hash-table.ts';

const h = (c: string) => c.repeat(64);
const packages = [
  `Package: alpha\nVersion: 1\nFilename: pool/main/a/alpha/alpha_1_amd64.deb\nSize: 100\nSHA256: ${h('a')}\n`,
  // apt skips a paragraph it cannot use; so does the reader, and the rest of the index still counts.
  `Package: broken\nVersion: 1\nSize: 5\n`,
  `Package: bravo\nVersion: 2\nFilename: ./pool/main/b/bravo/bravo_2_all.deb\nSize: 200\nSHA256: ${h('b')}\nMD5sum: ${'c'.repeat(32)}\n`,
].join('\n');
const sources = `Package: alpha\nDirectory: pool/main/a/alpha\nChecksums-Sha256:\n ${h('d')} 10 alpha_1.dsc\n ${h('e')} 2000 alpha_1.tar.xz\n`;

test('reads Packages plain, gz and xz alike, skipping unusable paragraphs', async () => {
  const xz = execFileSync('xz', ['--compress', '--stdout'], { input: packages });
  for (const [compression, bytes] of [['none', Buffer.from(packages)], ['gz', gzipSync(packages)], ['xz', xz]] as const) {
    const parsed = await readPackageIndex(Readable.from([bytes]), compression, 'packages');
    assert.deepEqual(
      parsed.files.map((f) => [f.path, f.size, f.sha256]),
      [
        ['pool/main/a/alpha/alpha_1_amd64.deb', 100, h('a')],
        ['pool/main/b/bravo/bravo_2_all.deb', 200, h('b')],
      ],
      compression,
    );
    assert.equal(parsed.skipped, 1);
  }
  await assert.rejects(readPackageIndex(Readable.from([Buffer.from('not xz')]), 'xz', 'packages'));
});

test('reads every file of a Sources paragraph, relative to its Directory', async () => {
  const parsed = await readPackageIndex(Readable.from([Buffer.from(sources)]), 'none', 'sources');
  assert.deepEqual(parsed.files.map((f) => f.path), ['pool/main/a/alpha/alpha_1.dsc', 'pool/main/a/alpha/alpha_1.tar.xz']);
});

test('the table joins the archive root and overwrites what a newer index lists, keeping the rest', async () => {
  const table = new PackageHashTable();
  const first = await readPackageIndex(Readable.from([Buffer.from(packages)]), 'none', 'packages');
  table.learn('http://mirror.example', '/debian/', first.files, 'authenticated');
  assert.deepEqual(table.lookup('http://mirror.example', '/debian/pool/main/a/alpha/alpha_1_amd64.deb'), { sha256: h('a'), size: 100, trust: 'authenticated' });
  table.learn('http://mirror.example', '/debian/', [{ path: 'pool/main/a/alpha/alpha_1_amd64.deb', size: 101, sha256: h('f') }], 'hash-verified');
  assert.deepEqual(table.lookup('http://mirror.example', '/debian/pool/main/a/alpha/alpha_1_amd64.deb'), { sha256: h('f'), size: 101, trust: 'hash-verified' });
  assert.equal(table.lookup('http://mirror.example', '/debian/pool/main/b/bravo/bravo_2_all.deb')?.sha256, h('b'));
  assert.equal(table.lookup('http://other.example', '/debian/pool/main/b/bravo/bravo_2_all.deb'), undefined);
  assert.equal(table.size, 2);
});

test('only Packages and Sources indices are read', () => {
  assert.equal(indexKindOf('main/binary-amd64/Packages'), 'packages');
  assert.equal(indexKindOf('main/debian-installer/binary-amd64/Packages'), 'packages');
  assert.equal(indexKindOf('main/source/Sources'), 'sources');
  assert.equal(indexKindOf('Packages'), 'packages');
  assert.equal(indexKindOf('main/i18n/Translation-en'), undefined);
  assert.equal(indexKindOf('Contents-amd64'), undefined);
});
