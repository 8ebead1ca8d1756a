// Tests of the per-directory generation bookkeeping: switching, keeping replaced generations, by-hash lookup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRelease } from '../release-file.ts';
import { ReleaseGenerations, keptPreviousGenerations, sameTable, type Generation } from './release-generations.ts';

const hex = (c: string) => c.repeat(64);

function generation(generations: ReleaseGenerations, packagesHash: string, options: { extra?: string } = {}): Generation {
  const text = [
    'Suite: stable',
    'Acquire-By-Hash: yes',
    'SHA256:',
    ` ${packagesHash} 10 main/binary-amd64/Packages.xz`,
    ...(options.extra === undefined ? [] : [` ${options.extra} 5 main/i18n/Translation-en`]),
    '',
  ].join('\n');
  return {
    seq: generations.nextSeq(),
    upstream: 'http://mirror.example',
    releaseDir: '/debian/dists/stable/',
    releasePath: '/debian/dists/stable/InRelease',
    releaseDigest: hex('0'),
    signatureDigest: undefined,
    release: parseRelease(text),
    trust: 'authenticated',
    signer: undefined,
    parsedIndices: new Set(),
  };
}

test('installing switches the current generation and keeps the replaced ones, newest first, up to the limit', () => {
  const generations = new ReleaseGenerations();
  const made = ['1', '2', '3', '4', '5', '6'].map((c) => generation(generations, hex(c)));
  let dropped: Generation[] = [];
  for (const g of made) dropped = generations.install(g);
  assert.equal(generations.current('http://mirror.example', '/debian/dists/stable/'), made[5]);
  assert.deepEqual(
    generations.previous('http://mirror.example', '/debian/dists/stable/').map((g) => g.seq),
    [5, 4, 3],
  );
  assert.equal(keptPreviousGenerations, 3);
  assert.deepEqual(
    dropped.map((g) => g.seq),
    [2],
  );
  // Retained: what the kept generations list; the dropped ones no longer count.
  const retained = generations.retainedDigests();
  assert.ok(retained.has(hex('6')) && retained.has(hex('3')));
  assert.ok(!retained.has(hex('2')));
});

test('a Release with the same table gives way without becoming a previous generation, and keeps what was read', () => {
  const generations = new ReleaseGenerations();
  const first = generation(generations, hex('a'));
  first.parsedIndices.add('main/binary-amd64/Packages');
  generations.install(first);
  const again = generation(generations, hex('a'));
  assert.ok(sameTable(first.release, again.release));
  generations.install(again);
  assert.deepEqual(generations.previous('http://mirror.example', '/debian/dists/stable/'), []);
  assert.ok(again.parsedIndices.has('main/binary-amd64/Packages'));
  assert.ok(!sameTable(first.release, generation(generations, hex('a'), { extra: hex('e') }).release));
});

test('by-hash names are found in the current generation, then candidates, then previous ones', () => {
  const generations = new ReleaseGenerations();
  const old = generation(generations, hex('1'));
  const current = generation(generations, hex('2'));
  const candidate = generation(generations, hex('3'));
  generations.install(old);
  generations.install(current);
  generations.addCandidate(candidate);
  const find = (c: string) =>
    generations.findByHash('http://mirror.example', '/debian/dists/stable/', `main/binary-amd64/by-hash/SHA256/${hex(c)}`)?.generation;
  assert.equal(find('2'), current);
  assert.equal(find('3'), candidate);
  assert.equal(find('1'), old);
  assert.equal(find('9'), undefined);
  generations.removeCandidate(candidate);
  assert.equal(find('3'), undefined);
  assert.equal(generations.findByHash('http://mirror.example', '/debian/dists/stable/', 'main/binary-amd64/Packages.xz'), undefined);
});
