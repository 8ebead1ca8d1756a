// Tests of the local level's LRU: the bound, use order, and relief of a full disk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalCopies } from './local-copies.ts';

test('drops the least recently used copies beyond the bound, keeps the one just added even alone above it', () => {
  const copies = new LocalCopies(250);
  copies.add('a', 100);
  copies.add('b', 100);
  copies.touch('a');
  copies.add('c', 100);
  assert.deepEqual(copies.over(), ['b']);
  assert.equal(copies.bytes, 200);
  copies.add('huge', 1000);
  assert.deepEqual(copies.over(), ['a', 'c']);
  assert.ok(copies.has('huge'));
  assert.deepEqual(copies.over(), []);
});

test('without a bound nothing is dropped; relief takes a share, oldest first', () => {
  const copies = new LocalCopies(undefined);
  for (const d of ['a', 'b', 'c', 'd']) copies.add(d, 100);
  assert.deepEqual(copies.over(), []);
  assert.deepEqual(copies.oldest(0.5), ['a', 'b']);
  assert.equal(copies.bytes, 200);
  copies.remove('c');
  copies.add('d', 50);
  assert.equal(copies.bytes, 50);
});
