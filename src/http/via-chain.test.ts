// Tests of the Via chain passed upstream: as it came, or its most recent whole entries when too long.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { viaChain } from './via-chain.ts';

test('a Via within the bound passes as it came; none stays none', () => {
  assert.equal(viaChain(undefined), undefined);
  assert.equal(viaChain('1.1 hoard-aaaaaaaaaaaa, 1.1 squid'), '1.1 hoard-aaaaaaaaaaaa, 1.1 squid');
});

test('a longer one keeps its most recent whole entries, up to 2048 characters', () => {
  const entries = Array.from({ length: 200 }, (_, i) => `1.1 hoard-${String(i).padStart(12, '0')}`);
  const kept = viaChain(entries.join(', '));
  assert.ok(kept !== undefined && kept.length <= 2048);
  const keptEntries = kept.split(', ');
  assert.deepEqual(keptEntries, entries.slice(-keptEntries.length), 'whole entries, the last ones, in order');
  assert.ok(keptEntries.length > 80);
  assert.equal(viaChain('x'.repeat(5000)), undefined, 'one giant entry: nothing worth passing');
});
