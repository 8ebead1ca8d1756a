// Tests of the outbound keys' validation: upstream.proxy, upstream.noProxy, upstream.parent; credentials never in a message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHoardError } from '../errors.ts';
import { parseConfig } from './config-loader.ts';

const refused = (upstream: Record<string, unknown>, pattern: RegExp) =>
  assert.throws(
    () => parseConfig({ upstream }),
    (err: unknown) => isHoardError(err, 'HOARD_ERR_CONFIG') && pattern.test(err.message) && !err.message.includes('pw-secret'),
  );

test('unset by default: the environment decides', () => {
  const { upstream } = parseConfig({});
  assert.deepEqual([upstream.proxy, upstream.noProxy, upstream.parent], [undefined, undefined, undefined]);
});

test('upstream.proxy: an http:// URL or none; anything else is refused without repeating credentials', () => {
  assert.equal(parseConfig({ upstream: { proxy: 'http://u:p@proxy.example:3128' } }).upstream.proxy, 'http://u:p@proxy.example:3128');
  assert.equal(parseConfig({ upstream: { proxy: 'none' } }).upstream.proxy, 'none');
  refused({ proxy: 'https://u:pw-secret@proxy.example:3128' }, /upstream\.proxy: must be an http:\/\/ proxy URL .*got "https:\/\/\*\*\*@proxy\.example:3128"/);
  refused({ proxy: 'socks5://proxy.example:1080' }, /upstream\.proxy/);
});

test('upstream.parent: an http(s) URL of a hoard, no credentials, no path; not together with upstream.proxy', () => {
  assert.equal(parseConfig({ upstream: { parent: 'http://central.example:3142' } }).upstream.parent, 'http://central.example:3142');
  refused({ parent: 'http://u:pw-secret@central.example:3142' }, /upstream\.parent: must not hold credentials/);
  refused({ parent: 'http://central.example:3142/debian' }, /upstream\.parent: must be scheme:\/\/host:port, without a path/);
  refused({ parent: 'ftp://central.example' }, /upstream\.parent/);
  refused({ parent: 'not a url' }, /upstream\.parent: must be an http:\/\/ or https:\/\/ URL/);
  refused({ parent: 'http://central.example:3142', proxy: 'http://p.example:3128' }, /upstream\.proxy: proxy and parent cannot both be set/);
});

test('upstream.noProxy: a list of entries', () => {
  assert.deepEqual(parseConfig({ upstream: { noProxy: ['.lab.example', '10.0.0.0/8'] } }).upstream.noProxy, ['.lab.example', '10.0.0.0/8']);
  refused({ noProxy: '.lab.example' }, /upstream\.noProxy/);
});
