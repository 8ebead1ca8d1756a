// Table test of the admin pages' Host check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminHostPolicy, machineNames } from './admin-host-policy.ts';

test('IP literals, localhost, the machine names and admin.hosts pass; other names do not', () => {
  const policy = new AdminHostPolicy([...machineNames('Build-7.lab.example'), 'cache.lab.example']);
  const allowed = [
    undefined,
    '127.0.0.1',
    '127.0.0.1:3142',
    '10.1.2.3:80',
    '[::1]',
    '[::1]:3142',
    '[fe80::1]:3142',
    'localhost',
    'LOCALHOST:3142',
    'localhost.',
    'build-7',
    'build-7.lab.example',
    'build-7.local:3142',
    'cache.lab.example:3142',
    'Cache.Lab.Example.',
  ];
  const refused = [
    '',
    'attacker.example',
    'attacker.example:3142',
    'cache.lab.example.attacker.example',
    'sub.cache.lab.example',
    // Spellings of 127.0.0.1 that only a resolver turns into an address: a browser never sends them.
    '2130706433',
    '0x7f000001',
    '127.1',
    '0177.0.0.1',
    '::1',
    '[::1',
    '[localhost]',
    'localhost:99999999',
    'a b',
  ];
  for (const host of allowed) assert.equal(policy.allows(host), true, String(host));
  for (const host of refused) assert.equal(policy.allows(host), false, host);
});

test('machine names: the full name, its first label and the mDNS name', () => {
  assert.deepEqual(machineNames('node1.rack.example.'), ['localhost', 'node1.rack.example', 'node1', 'node1.local']);
  assert.deepEqual(machineNames('solo'), ['localhost', 'solo', 'solo', 'solo.local']);
});
