// Host canonicalisation: every other spelling of an IPv4 address is refused; IPv6 literals get one spelling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHoardError } from '../errors.ts';
import { canonicalHost } from './host-canonical.ts';
import { parseAuthority } from './target-grammar.ts';

test('names and canonical dotted quads pass unchanged', () => {
  for (const host of ['mirror.example', 'localhost', 'a-1.mirror.example', '127.0.0.1', '0.0.0.0', '192.0.2.255', '10.0.0.10', 'x1.example']) {
    assert.equal(canonicalHost(host), host);
  }
  assert.equal(canonicalHost(undefined), undefined);
});

test('octal, hex, short and integer spellings of IPv4, and leading zeros, are refused with 400', () => {
  const spellings = [
    '0177.0.0.1',
    '127.1',
    '127.0.1',
    '2130706433',
    '0x7f000001',
    '0x7f.0.0.1',
    '127.0.0.01',
    '127.000.0.1',
    '00.0.0.0',
    '256.0.0.1',
    '1.2.3.4.5',
    '127.0.0.1.',
    'mirror.0x1',
    'mirror.1',
    '0x',
  ];
  for (const host of spellings) {
    assert.throws(
      () => canonicalHost(host),
      (err: unknown) => isHoardError(err, 'HOARD_ERR_BAD_REQUEST') && err.message.includes('canonical IPv4'),
      host,
    );
  }
});

test('IPv6 literals are compressed; IPv4-mapped ones become the IPv4 address they reach', () => {
  assert.equal(canonicalHost('[::1]'), '[::1]');
  assert.equal(canonicalHost('[0:0:0:0:0:0:0:1]'), '[::1]');
  assert.equal(canonicalHost('[2001:db8:0::1]'), '[2001:db8::1]');
  assert.equal(canonicalHost('[::ffff:127.0.0.1]'), '127.0.0.1');
  assert.equal(canonicalHost('[::ffff:7f00:1]'), '127.0.0.1');
  assert.equal(canonicalHost('[::ffff:169.254.169.254]'), '169.254.169.254');
  assert.equal(canonicalHost('[not:an:address:zz]'), '[not:an:address:zz]');
});

test('parseAuthority applies it: one cache key per address, non-canonical spellings refused', () => {
  assert.equal(parseAuthority('[::ffff:127.0.0.1]:8080', 'http').key, 'http://127.0.0.1:8080');
  assert.equal(parseAuthority('[0::1]', 'https').key, 'https://[::1]');
  for (const authority of ['127.1', '0177.0.0.1:80', '2130706433', '0x7f000001:8080']) {
    assert.throws(
      () => parseAuthority(authority, 'http'),
      (err: unknown) => isHoardError(err, 'HOARD_ERR_BAD_REQUEST'),
      authority,
    );
  }
});
