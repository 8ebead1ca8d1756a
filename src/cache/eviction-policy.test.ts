// Table tests of the eviction order: water marks, unreferenced before LRU, busy blobs never chosen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ObjectEntry } from '../storage/metadata-index.ts';
import {
  planEviction,
  planEvictionFrom,
  planGc,
  planGcFrom,
  storedBlobOf,
  storedBlobs,
  unknownReferences,
  waterMarks,
  type ReferenceOracle,
  type StoredBlob,
} from './eviction-policy.ts';

const digest = (n: number) => n.toString(16).padStart(64, '0');

function entry(key: string, d: number, size: number, lastAccessAt: number): ObjectEntry {
  return {
    key,
    protocol: 'apt',
    upstream: 'http://mirror.example',
    path: `/${key}`,
    digest: digest(d),
    size,
    storedAt: 0,
    validatedAt: 0,
    lastAccessAt,
    verification: 'unverified',
  };
}

const blob = (d: number, size: number, lastAccessAt: number, extra: Partial<StoredBlob> = {}): StoredBlob => ({
  digest: digest(d),
  size,
  lastAccessAt,
  referenced: undefined,
  busy: false,
  keys: [`k${d}`],
  ...extra,
});

test('water marks are shares of the cap', () => {
  assert.deepEqual(waterMarks(1000, 95, 85), { maxBytes: 1000, highBytes: 950, lowBytes: 850 });
});

test('nothing is evicted at or below the high-water mark', () => {
  const marks = waterMarks(1000, 90, 50);
  assert.deepEqual(planEviction([blob(1, 500, 1), blob(2, 400, 2)], marks), []);
});

test('above the high mark, least recently used go first until the low mark is reached', () => {
  const marks = waterMarks(1000, 90, 50);
  const plan = planEviction([blob(1, 300, 30), blob(2, 300, 10), blob(3, 300, 20), blob(4, 100, 5)], marks);
  // 1000 used; low mark 500: remove 4 (100, oldest), 2 (300) -> 600, then 3 (300) -> 300.
  assert.deepEqual(
    plan.map((v) => [v.blob.digest, v.reason]),
    [
      [digest(4), 'lru'],
      [digest(2), 'lru'],
      [digest(3), 'lru'],
    ],
  );
});

test('orphans and unreferenced blobs go before any referenced or unknown one, however recent', () => {
  const marks = waterMarks(1000, 90, 80);
  const plan = planEviction([blob(1, 400, 1), blob(2, 300, 999, { referenced: false }), blob(3, 300, 500, { referenced: false, keys: [] })], marks);
  assert.deepEqual(
    plan.map((v) => v.reason),
    ['orphan'],
  );
  const deeper = planEviction(
    [blob(1, 400, 1), blob(2, 300, 999, { referenced: false }), blob(3, 300, 500, { referenced: false, keys: [] })],
    waterMarks(1000, 90, 10),
  );
  assert.deepEqual(
    deeper.map((v) => [v.blob.digest, v.reason]),
    [
      [digest(3), 'orphan'],
      [digest(2), 'unreferenced'],
      [digest(1), 'lru'],
    ],
  );
});

test('a busy blob is never chosen, even when the plan then stops short of the low mark', () => {
  const plan = planEviction([blob(1, 900, 1, { busy: true }), blob(2, 200, 2)], waterMarks(1000, 90, 10));
  assert.deepEqual(
    plan.map((v) => v.blob.digest),
    [digest(2)],
  );
  assert.deepEqual(
    planGc([blob(1, 10, 1, { busy: true, referenced: false }), blob(2, 10, 1, { referenced: false }), blob(3, 10, 1)]).map((v) => v.blob.digest),
    [digest(2)],
  );
});

test('entries sharing a blob fold into one: latest access, and unreferenced only when every name is', () => {
  const oracle: ReferenceOracle = {
    isReferenced: (e) => (e.key === 'a1' || e.key === 'a2' ? false : e.key === 'b1' ? false : e.key === 'b2' ? true : undefined),
  };
  const blobs = storedBlobs(
    [entry('a1', 1, 10, 5), entry('a2', 1, 10, 7), entry('b1', 2, 20, 1), entry('b2', 2, 20, 1), entry('c', 3, 30, 1)],
    [
      { digest: digest(9), size: 99 },
      { digest: digest(3), size: 30 },
    ],
    oracle,
    (d) => d === digest(3),
  );
  const byDigest = new Map(blobs.map((b) => [b.digest, b]));
  assert.equal(blobs.length, 4);
  assert.deepEqual(byDigest.get(digest(1)), { digest: digest(1), size: 10, lastAccessAt: 7, referenced: false, busy: false, keys: ['a1', 'a2'] });
  assert.equal(byDigest.get(digest(2))?.referenced, true);
  assert.equal(byDigest.get(digest(3))?.busy, true);
  assert.deepEqual(byDigest.get(digest(9))?.keys, []);
  assert.equal(storedBlobs([entry('x', 1, 1, 1)], [], unknownReferences, () => false)[0]?.referenced, undefined);
});

test('the streaming plans choose what the plans over a whole list choose, in the same order', async () => {
  const blobArb = fc.record({
    d: fc.integer({ min: 1, max: 10_000 }),
    size: fc.integer({ min: 1, max: 1000 }),
    lastAccessAt: fc.integer({ min: 1, max: 50 }),
    referenced: fc.constantFrom(true, false, undefined),
    busy: fc.boolean(),
    orphan: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(blobArb, { selector: (b) => b.d, maxLength: 40 }), fc.integer({ min: 1, max: 40_000 }), async (specs, cap) => {
      const all = specs.map((s) =>
        s.orphan
          ? blob(s.d, s.size, 0, { referenced: false, busy: s.busy, keys: [] })
          : blob(s.d, s.size, s.lastAccessAt, { referenced: s.referenced, busy: s.busy }),
      );
      const indexed = all.filter((b) => b.keys.length > 0).sort((a, b) => a.lastAccessAt - b.lastAccessAt || (a.digest < b.digest ? -1 : 1));
      const source = {
        usedBytes: all.reduce((n, b) => n + b.size, 0),
        orphans: all.filter((b) => b.keys.length === 0),
        // eslint-disable-next-line @typescript-eslint/require-await
        byAge: async function* () {
          yield* indexed;
        },
      };
      const marks = waterMarks(cap, 80, 50);
      const digests = (victims: { blob: StoredBlob; reason: string }[]) => victims.map((v) => `${v.blob.digest}:${v.reason}`);
      assert.deepEqual(digests(await planEvictionFrom(source, marks)), digests(planEviction(all, marks)));
      assert.deepEqual(digests(await planGcFrom(source)), digests(planGc(all)));
    }),
    { numRuns: 300 },
  );
});

test('storedBlobOf folds entries as storedBlobs does', () => {
  const oracle: ReferenceOracle = { isReferenced: (e) => (e.key === 'listed' ? true : e.key === 'gone' ? false : undefined) };
  const folded = (keys: string[]) =>
    storedBlobOf(
      { digest: digest(1), size: 5, lastAccessAt: 3 },
      keys.map((k) => entry(k, 1, 5, 3)),
      oracle,
      () => false,
    ).referenced;
  assert.equal(folded(['gone', 'gone']), false);
  assert.equal(folded(['gone', 'listed']), true);
  assert.equal(folded(['gone', 'unknown']), undefined);
  assert.equal(folded(['unknown', 'listed']), true);
});
