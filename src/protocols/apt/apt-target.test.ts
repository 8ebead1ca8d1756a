// Table tests of apt-cacher-ng style target parsing: the ways of naming an upstream, and refusal of bad targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHoardError } from '../../errors.ts';
import { parseRequestTarget } from './apt-target.ts';

const rules = { backends: new Set(['debian', 'ubuntu']), maxTargetLength: 4096 };

test('proxy, prefix, backend and HTTPS/// spellings', () => {
  const cases: Array<[string, string, string, string]> = [
    ['http://Mirror.Example/debian/dists/x/InRelease', 'http://mirror.example', '/debian/dists/x/InRelease', 'proxy'],
    ['http://mirror.example:80/debian/pool/a.deb', 'http://mirror.example', '/debian/pool/a.deb', 'proxy'],
    ['http://127.0.0.1:8080/repo/dists/x/Release', 'http://127.0.0.1:8080', '/repo/dists/x/Release', 'proxy'],
    ['/mirror.example/debian/pool/a.deb', 'http://mirror.example', '/debian/pool/a.deb', 'prefix'],
    ['/127.0.0.1:8080/debian//pool/a.deb', 'http://127.0.0.1:8080', '/debian/pool/a.deb', 'prefix'],
    ['/localhost:81/x/dists/s/Release', 'http://localhost:81', '/x/dists/s/Release', 'prefix'],
    ['/debian/dists/bookworm/InRelease', 'backend:debian', '/dists/bookworm/InRelease', 'backend'],
    ['/HTTPS///mirror.example/debian/pool/a.deb', 'https://mirror.example', '/debian/pool/a.deb', 'prefix'],
    ['http://HTTPS///mirror.example:8443/debian/pool/a.deb', 'https://mirror.example:8443', '/debian/pool/a.deb', 'proxy'],
    ['/mirror.example/debian/pool/p/pkg_1%3a2.0_all.deb', 'http://mirror.example', '/debian/pool/p/pkg_1:2.0_all.deb', 'prefix'],
    ['/mirror.example/repo/./Packages.gz', 'http://mirror.example', '/repo/Packages.gz', 'prefix'],
    ['/mirror.example/debian/dists/x/Release?foo=1', 'http://mirror.example', '/debian/dists/x/Release', 'prefix'],
  ];
  for (const [raw, key, path, mode] of cases) {
    const parsed = parseRequestTarget(raw, rules);
    assert.equal(parsed.upstream.key, key, raw);
    assert.equal(parsed.path, path, raw);
    assert.equal(parsed.mode, mode, raw);
  }
});

test('bad targets are refused with the right code', () => {
  const cases: Array<[string, string]> = [
    ['/mirror.example/debian/../../etc/passwd', 'HOARD_ERR_PATH_TRAVERSAL'],
    ['/mirror.example/debian/%2e%2e/%2E%2E/etc/passwd', 'HOARD_ERR_PATH_TRAVERSAL'],
    ['/mirror.example/debian/pool/a%00.deb', 'HOARD_ERR_PATH_TRAVERSAL'],
    ['/mirror.example/debian/pool/a%5c..%5cb.deb', 'HOARD_ERR_PATH_TRAVERSAL'],
    ['/mirror.example/debian/pool/%zz.deb', 'HOARD_ERR_BAD_REQUEST'],
    ['http://user:pw@mirror.example/debian/pool/a.deb', 'HOARD_ERR_BAD_REQUEST'],
    ['http://mirror.example:99999/x', 'HOARD_ERR_BAD_REQUEST'],
    ['http://bad_host!/x', 'HOARD_ERR_BAD_REQUEST'],
    ['*', 'HOARD_ERR_BAD_REQUEST'],
    ['/nosuchbackend/dists/x/InRelease', 'HOARD_ERR_UNKNOWN_BACKEND'],
    [`/mirror.example/${'a'.repeat(5000)}`, 'HOARD_ERR_TARGET_TOO_LONG'],
  ];
  for (const [raw, code] of cases) {
    assert.throws(
      () => parseRequestTarget(raw, rules),
      (err: unknown) => isHoardError(err) && err.code === code,
      raw.slice(0, 80),
    );
  }
});
