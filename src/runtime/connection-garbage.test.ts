// Tests of the collection after a crowd of connections leaves: when it runs, once, and never without gc.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionGarbage } from './connection-garbage.ts';

function harness(drop = 10) {
  const calls: NodeJS.GCOptions[] = [];
  const pending: (() => void)[] = [];
  const garbage = new ConnectionGarbage(
    { dropForCollection: drop, delayMs: 1000 },
    (o) => calls.push(o),
    (run) => pending.push(run),
  );
  return { garbage, calls, pending };
}

test('one major collection, later, once the open connections fell by the drop from their peak', () => {
  const { garbage, calls, pending } = harness();
  for (let i = 0; i < 20; i++) garbage.opened();
  for (let i = 0; i < 9; i++) garbage.closed();
  assert.equal(pending.length, 0);
  for (let i = 0; i < 11; i++) garbage.closed();
  assert.equal(pending.length, 1, 'one run scheduled for the whole crowd');
  assert.equal(calls.length, 0, 'not at once');
  pending.shift()?.();
  assert.deepEqual(calls, [{ type: 'major', execution: 'async' }]);
  assert.equal(garbage.collections, 1);
});

test('steady short connections never collect', () => {
  const { garbage, pending } = harness();
  for (let i = 0; i < 10_000; i++) {
    garbage.opened();
    garbage.opened();
    garbage.closed();
    garbage.closed();
  }
  assert.equal(pending.length, 0);
});

test('the peak starts over after a collection', () => {
  const { garbage, pending } = harness();
  for (let i = 0; i < 20; i++) garbage.opened();
  for (let i = 0; i < 10; i++) garbage.closed();
  pending.shift()?.();
  for (let i = 0; i < 9; i++) garbage.closed();
  assert.equal(pending.length, 0);
});

test('without an exposed gc it does nothing', () => {
  const pending: (() => void)[] = [];
  const garbage = new ConnectionGarbage({ dropForCollection: 1 }, undefined, (run) => pending.push(run));
  garbage.opened();
  garbage.closed();
  assert.equal(pending.length, 0);
});
