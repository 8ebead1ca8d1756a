import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatClient, parseClient } from './serving-channel.ts';
import { servingThreadCount } from './thread-count.ts';

test('a relayed client round-trips through its header, IPv4 and IPv6', () => {
  for (const client of [
    { worker: 1, family: 'IPv4', address: '192.0.2.7', port: 40123 },
    { worker: 3, family: 'IPv6', address: '::ffff:127.0.0.1', port: 1 },
    { worker: 2, family: 'IPv6', address: '2001:db8::1', port: 65535 },
  ]) {
    assert.deepEqual(parseClient(formatClient(client)), client);
  }
});

test('anything else in the header is refused', () => {
  for (const bad of [
    undefined,
    '',
    '1 IPv4 192.0.2.7',
    'x IPv4 192.0.2.7 1',
    '1 IPv5 192.0.2.7 1',
    '1 IPv4 a b c 1',
    '1 IPv4 192.0.2.7 1\r\nx: y',
    ['1 IPv4 192.0.2.7 1'],
  ]) {
    assert.equal(parseClient(bad), undefined, String(bad));
  }
});

test('auto is one serving thread per core in all; a number is taken as it is', () => {
  assert.equal(servingThreadCount('auto', 2), 1);
  assert.equal(servingThreadCount('auto', 8), 7);
  assert.equal(servingThreadCount('auto', 1), 0);
  assert.equal(servingThreadCount(0, 8), 0);
  assert.equal(servingThreadCount(3, 2), 3);
});
