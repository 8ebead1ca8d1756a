// Tests of reading Packages and Sources indices (any compression) into the table of pool-file hashes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isHoardError } from '../../../errors.ts';
import { type IndexBound, IndexBoundError } from '../index-bound-error.ts';
import { PackageHashTable, defaultKnowledgeLimits, entryOverheadBytes, indexKindOf, maxUnusableParagraphs, readPackageIndex } from './package-hash-table.ts';

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
  for (const [compression, bytes] of [
    ['none', Buffer.from(packages)],
    ['gz', gzipSync(packages)],
    ['xz', xz],
  ] as const) {
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
  assert.deepEqual(
    parsed.files.map((f) => f.path),
    ['pool/main/a/alpha/alpha_1.dsc', 'pool/main/a/alpha/alpha_1.tar.xz'],
  );
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

/** HOARD_ERR_INDEX_TOO_LARGE, caused by the given bound. */
const tooLarge = (bound: IndexBound) => (error: unknown) =>
  isHoardError(error, 'HOARD_ERR_INDEX_TOO_LARGE') && error.cause instanceof IndexBoundError && error.cause.bound === bound;
const plain = (text: string) => Readable.from([Buffer.from(text)]);

test('an index that expands to exactly maxExpandedBytes is read; one byte more fails it whole with HOARD_ERR_INDEX_TOO_LARGE', async () => {
  const gz = gzipSync(packages);
  const read = await readPackageIndex(Readable.from([gz]), 'gz', 'packages', { maxExpandedBytes: packages.length });
  assert.equal(read.count, 2);
  await assert.rejects(readPackageIndex(Readable.from([gz]), 'gz', 'packages', { maxExpandedBytes: packages.length - 1 }), tooLarge('expanded-size'));
  await assert.rejects(readPackageIndex(plain(packages), 'none', 'packages', { maxExpandedBytes: packages.length - 1 }), tooLarge('expanded-size'));
});

test('by default an index is read to 256 MiB at most', async () => {
  // 300 MiB of one repeated 8 KiB paragraph (few paragraphs, so no other budget is spent first), packed to about 1 MB.
  const paragraph = Buffer.from(`Package: a\nFilename: pool/a.deb\nSize: 1\nDescription: ${'d'.repeat(8 * 1024)}\n\n`);
  const member = gzipSync(Buffer.concat(Array.from({ length: Math.ceil((4 * 1024 * 1024) / paragraph.length) }, () => paragraph)));
  const members = Array.from({ length: 75 }, () => member);
  await assert.rejects(
    readPackageIndex(Readable.from(members), 'gz', 'packages'),
    (error: unknown) => tooLarge('expanded-size')(error) && (error as Error).message.includes(String(256 * 1024 * 1024)),
  );
});

test('a field or paragraph past its bound fails the index whole, where a malformed paragraph is only skipped', async () => {
  const longField = `Package: a\nFilename: pool/a.deb\nSize: 1\nDescription: d\n${` ${'x'.repeat(1023)}\n`.repeat(1025)}\n`;
  await assert.rejects(readPackageIndex(plain(packages + '\n' + longField), 'none', 'packages'), tooLarge('field'));
  const longParagraph = `Package: a\nFilename: pool/a.deb\nSize: 1\n${Array.from({ length: 4200 }, (_, i) => `X-F${i}: ${'y'.repeat(1000)}\n`).join('')}\n`;
  await assert.rejects(readPackageIndex(plain(packages + '\n' + longParagraph), 'none', 'packages'), tooLarge('paragraph'));
});

test('unusable paragraphs are skipped up to a bound, past which the index fails', async () => {
  const unusable = (n: number) => Array.from({ length: n }, (_, i) => `Package: u${i}\nVersion: 1\n`).join('\n');
  const read = await readPackageIndex(plain(`${unusable(maxUnusableParagraphs - 1)}\n${packages}`), 'none', 'packages');
  assert.equal(read.skipped, maxUnusableParagraphs);
  assert.equal(read.count, 2);
  await assert.rejects(readPackageIndex(plain(`${unusable(maxUnusableParagraphs)}\n${packages}`), 'none', 'packages'), tooLarge('unusable-paragraphs'));
});

test('the knowledge one index may stage is bounded: exactly the budget is read, one entry past it fails the index', async () => {
  const first = 'pool/main/a/alpha/alpha_1_amd64.deb';
  const second = 'pool/main/b/bravo/bravo_2_all.deb';
  const budget = first.length + second.length + 2 * entryOverheadBytes;
  const read = await readPackageIndex(plain(packages), 'none', 'packages', { maxKnowledgeBytes: budget });
  assert.equal(read.bytes, budget);
  await assert.rejects(readPackageIndex(plain(packages), 'none', 'packages', { maxKnowledgeBytes: budget - 1 }), tooLarge('knowledge'));
  // Joined to the archive root, the staged paths are what the table keys by; the budget counts them so.
  const rooted = await readPackageIndex(plain(packages), 'none', 'packages', { archiveRoot: '/debian/' });
  assert.equal(rooted.bytes, budget + 2 * '/debian/'.length);
  assert.deepEqual(
    rooted.files.map((f) => f.path),
    [first, second],
  );
  assert.equal(defaultKnowledgeLimits.perIndex, 48 * 1024 * 1024);
});

test('5 million tiny paragraphs: the index fails at the knowledge budget, long before its end', async () => {
  function* bomb(): Generator<Buffer> {
    for (let block = 0; block < 1000; block += 1) {
      const lines: string[] = [];
      for (let i = 0; i < 5000; i += 1) lines.push(`Filename: p/${block}-${i}\nSize: 1\n`);
      yield Buffer.from(`${lines.join('\n')}\n`);
    }
  }
  let error: unknown;
  await readPackageIndex(Readable.from(bomb()), 'none', 'packages', { maxKnowledgeBytes: 4 * 1024 * 1024 }).catch((err: unknown) => (error = err));
  assert.ok(tooLarge('knowledge')(error), String(error));
  assert.match((error as Error).message, /\(2\d{4} so far\)/);
});

test('the table holds at most its budgets: an upstream loses the entries learned longest ago, then the upstream learned from longest ago', () => {
  const cost = (path: string) => path.length + entryOverheadBytes;
  const files = (names: string[]) => names.map((name) => ({ path: `pool/${name}.deb`, size: 1, sha256: h('a') }));
  const one = cost('/pool/a.deb');
  const table = new PackageHashTable({ perUpstream: 3 * one, total: 5 * one });
  table.learn('http://a.example', '/', files(['a', 'b', 'c']), 'hash-verified');
  // Learned again, `a` is the most recent; then `d` pushes the upstream past its budget and `b` goes.
  table.learn('http://a.example', '/', files(['a', 'd']), 'hash-verified');
  assert.equal(table.lookup('http://a.example', '/pool/b.deb'), undefined);
  for (const name of ['a', 'c', 'd']) assert.ok(table.lookup('http://a.example', `/pool/${name}.deb`), name);
  assert.equal(table.size, 3);
  assert.equal(table.bytes, 3 * one);
  // Another upstream fills the table past its total: the one learned from longest ago gives way.
  table.learn('http://b.example', '/', files(['e', 'f', 'g']), 'authenticated');
  assert.equal(table.size, 5);
  assert.equal(table.bytes, 5 * one);
  assert.equal(table.lookup('http://a.example', '/pool/c.deb'), undefined);
  assert.ok(table.lookup('http://a.example', '/pool/d.deb'));
  assert.deepEqual(table.lookup('http://b.example', '/pool/g.deb'), { sha256: h('a'), size: 1, trust: 'authenticated' });
  assert.equal(table.dropped, 2);
});

test('a staged index is learned under its trust and root, or re-keyed and re-trusted when they differ', async () => {
  const table = new PackageHashTable();
  const staged = await readPackageIndex(plain(packages), 'none', 'packages', { archiveRoot: '/debian/', trust: 'authenticated' });
  assert.equal(table.learn('http://mirror.example', '/debian/', staged, 'authenticated'), 2);
  assert.deepEqual(table.lookup('http://mirror.example', '/debian/pool/main/a/alpha/alpha_1_amd64.deb'), { sha256: h('a'), size: 100, trust: 'authenticated' });
  table.learn('http://mirror.example', '/ubuntu/', staged, 'hash-verified');
  assert.deepEqual(table.lookup('http://mirror.example', '/ubuntu/pool/main/b/bravo/bravo_2_all.deb'), { sha256: h('b'), size: 200, trust: 'hash-verified' });
  // A file listed without a SHA-256 keeps its size and no digest.
  table.learn('http://mirror.example', '/', [{ path: 'pool/x.deb', size: 12345678901 }], 'hash-verified');
  assert.deepEqual(table.lookup('http://mirror.example', '/pool/x.deb'), { sha256: undefined, size: 12345678901, trust: 'hash-verified' });
});
