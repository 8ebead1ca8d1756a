import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientAccess } from './client-access.ts';

test('client answers stay right when asked again, in both spellings, and past the remembered bound', () => {
  const access = new ClientAccess(['10.0.0.0/8', '::1/128']);
  for (let round = 0; round < 2; round++) {
    assert.equal(access.allows('10.1.2.3'), true);
    assert.equal(access.allows('::ffff:10.1.2.3'), true);
    assert.equal(access.allows('192.168.1.1'), false);
    assert.equal(access.allows('::ffff:192.168.1.1'), false);
    assert.equal(access.allows('::1'), true);
    assert.equal(access.allows(undefined), false);
    assert.equal(access.allows('not an address'), false);
  }
  // More distinct clients than are remembered: the memory starts over and every answer is still the list's.
  for (let i = 0; i < 3000; i++) {
    const a = (i >> 8) & 255;
    const b = i & 255;
    assert.equal(access.allows(`10.${a}.${b}.1`), true);
    assert.equal(access.allows(`172.16.${a}.${b}`), false);
  }
  assert.equal(access.allows('10.1.2.3'), true);
  assert.equal(access.allows('192.168.1.1'), false);
});
