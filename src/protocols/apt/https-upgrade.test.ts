// The upgrade table: keys match request-target's canonical http origins; targets are https origins; paths survive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuthority } from '../target-grammar.ts';
import { httpsUpgradeTable, upgradedMirror, upgradedOrigin } from './https-upgrade.ts';

const table = httpsUpgradeTable({
  'Mirror.Example': 'https://mirror.example',
  'mirror.example:8080': 'https://mirror.example:8443/',
  '127.0.0.1:80': 'https://127.0.0.1:443',
});

test('rules are keyed by the same canonical origin that request parsing gives (lower case, port 80 dropped)', () => {
  for (const authority of ['mirror.example', 'MIRROR.EXAMPLE:80', 'mirror.example:8080', '127.0.0.1']) {
    const key = parseAuthority(authority, 'http').key;
    assert.ok(table.has(key), `${authority} -> ${key}`);
  }
  assert.equal(upgradedOrigin(table, 'http://mirror.example').href, 'https://mirror.example/');
  assert.equal(upgradedOrigin(table, 'http://mirror.example:8080').href, 'https://mirror.example:8443/');
  assert.equal(upgradedOrigin(table, 'http://127.0.0.1').href, 'https://127.0.0.1/');
});

test('hosts without a rule are fetched as named', () => {
  assert.equal(upgradedOrigin(table, 'http://other.example').href, 'http://other.example/');
  assert.equal(upgradedOrigin(table, 'http://mirror.example:81').href, 'http://mirror.example:81/');
  assert.equal(upgradedOrigin(table, 'https://other.example:8443').href, 'https://other.example:8443/');
});

test('backend mirror URLs keep their path and take the target port', () => {
  assert.equal(upgradedMirror(table, new URL('http://mirror.example:8080/debian/')).href, 'https://mirror.example:8443/debian/');
  assert.equal(upgradedMirror(table, new URL('http://mirror.example/debian')).href, 'https://mirror.example/debian');
  const untouched = new URL('http://other.example/debian');
  assert.equal(upgradedMirror(table, untouched), untouched);
});
