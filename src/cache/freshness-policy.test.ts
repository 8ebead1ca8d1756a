// Table test of the freshness rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFresh } from './freshness-policy.ts';

test('freshness table', () => {
  const cases: Array<[mutable: boolean, ageMs: number, maxAge: number, fresh: boolean]> = [
    [false, 10 ** 12, 30, true],
    [true, 0, 30, true],
    [true, 29_999, 30, true],
    [true, 30_000, 30, false],
    [true, -5, 30, false],
    [true, 0, 0, false],
  ];
  for (const [mutable, age, maxAgeSeconds, fresh] of cases) {
    assert.equal(isFresh({ mutable, validatedAt: 1_000_000, now: 1_000_000 + age, maxAgeSeconds }), fresh, `mutable=${mutable} age=${age}`);
  }
});
