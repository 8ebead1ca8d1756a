// Tests of HeapGrowthCollector: a major collection per step of growth, the heap after it as the new base.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeapGrowthCollector } from './heap-growth-collector.ts';

const MB = 1024 * 1024;

test('starts a major collection once the heap has grown by a step, and measures the next step from what it left', () => {
  let used = 40 * MB;
  const calls: NodeJS.GCOptions[] = [];
  const collector = new HeapGrowthCollector(
    16 * MB,
    (options) => calls.push(options),
    () => used,
  );
  used = 55 * MB;
  collector.check();
  assert.equal(calls.length, 0, 'under a step');
  used = 57 * MB;
  collector.check();
  assert.deepEqual(calls, [{ type: 'major', execution: 'async' }]);
  used = 45 * MB;
  collector.check();
  assert.equal(calls.length, 1, 'the look after a collection takes the new base');
  used = 60 * MB;
  collector.check();
  assert.equal(calls.length, 1, '15 MB over the new base');
  used = 61 * MB;
  collector.check();
  assert.equal(collector.collections, 2);
});

test('a heap that shrank on its own lowers the base', () => {
  let used = 50 * MB;
  const calls: NodeJS.GCOptions[] = [];
  const collector = new HeapGrowthCollector(
    16 * MB,
    (options) => calls.push(options),
    () => used,
  );
  used = 30 * MB;
  collector.check();
  used = 47 * MB;
  collector.check();
  assert.equal(calls.length, 1);
});

test('without an exposed gc it does nothing and starts no timer', () => {
  const collector = new HeapGrowthCollector(1, undefined, () => 1e9);
  collector.check();
  collector.start(10)();
  assert.equal(collector.collections, 0);
});
