// Table test of Range parsing (RFC 9110 14.1.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRange } from './serve-object.ts';

test('single byte ranges', () => {
  const size = 1000;
  const cases: Array<[string | undefined, ReturnType<typeof parseRange>]> = [
    [undefined, undefined],
    ['bytes=0-99', { start: 0, end: 99 }],
    ['bytes=100-', { start: 100, end: 999 }],
    ['bytes=-10', { start: 990, end: 999 }],
    ['bytes=-5000', { start: 0, end: 999 }],
    ['bytes=990-5000', { start: 990, end: 999 }],
    ['bytes=1000-', 'unsatisfiable'],
    ['bytes=5-4', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=0-1,5-6', undefined],
    ['items=0-1', undefined],
    ['bytes=abc', undefined],
  ];
  for (const [header, expected] of cases) assert.deepEqual(parseRange(header, size), expected, String(header));
});
