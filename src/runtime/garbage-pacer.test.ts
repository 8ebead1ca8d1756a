import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GarbagePacer } from './garbage-pacer.ts';

test('collects the young generation once per bytesPerCollection of noted bytes, and only then', () => {
  const calls: NodeJS.GCOptions[] = [];
  const pacer = new GarbagePacer(1000, (options) => calls.push(options));
  for (let i = 0; i < 25; i++) pacer.note(100);
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[0], { type: 'minor' });
  assert.equal(pacer.collections, 2);
});

test('without an exposed gc it does nothing', () => {
  const pacer = new GarbagePacer(1, undefined);
  pacer.note(10_000_000);
  assert.equal(pacer.collections, 0);
});
