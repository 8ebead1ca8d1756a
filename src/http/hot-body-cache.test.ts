// Tests of HotBodyCache: bounded by total and per-body size, bodies not used since the last pass leave first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HotBodyCache } from './hot-body-cache.ts';

const body = (n: number) => new Uint8Array(n);

test('keeps bodies up to the entry bound, evicting past the total a body not used since it was stored', () => {
  const cache = new HotBodyCache({ maxBytes: 300, maxEntryBytes: 150 });
  assert.equal(cache.accepts(150), true);
  assert.equal(cache.accepts(151), false);
  cache.set('"a"', body(100));
  cache.set('"b"', body(100));
  cache.set('"big"', body(200));
  assert.equal(cache.get('"big"'), undefined, 'a body over the entry bound is not kept');
  assert.ok(cache.get('"a"'), 'a is used, so b is now the oldest');
  cache.set('"c"', body(150));
  assert.equal(cache.get('"b"'), undefined);
  assert.ok(cache.get('"a"'));
  assert.ok(cache.get('"c"'));
  assert.equal(cache.bytes, 250);
});

test('setting a key twice keeps the first body and counts it once', () => {
  const cache = new HotBodyCache({ maxBytes: 1000, maxEntryBytes: 1000 });
  const first = body(10);
  cache.set('"x"', first);
  cache.set('"x"', body(10));
  assert.equal(cache.get('"x"'), first);
  assert.equal(cache.bytes, 10);
});

test('a body used again is spared once, then leaves if it is not used again', () => {
  const cache = new HotBodyCache({ maxBytes: 200, maxEntryBytes: 100 });
  cache.set('"a"', body(100));
  cache.set('"b"', body(100));
  cache.get('"a"');
  cache.set('"c"', body(100));
  assert.equal(cache.get('"b"'), undefined, 'b was never used: it goes');
  assert.ok(cache.get('"c"'));
  cache.set('"d"', body(100));
  assert.ok(cache.get('"d"'));
  assert.equal(cache.bytes, 200);
  assert.equal(cache.get('"a"'), undefined, 'a had its second chance when c came, and was not used since');
  assert.ok(cache.get('"c"'), 'c was used after it came: spared');
});
