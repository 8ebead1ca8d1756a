// Tests of the redirect rules: host list, path table and query handling of one hop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHoardError } from '../errors.ts';
import { redirectGuard } from './redirect-rules.ts';

const from = new URL('http://127.0.0.1:8080/debian/pool/main/a/alpha.deb');
const refused = (err: unknown) => isHoardError(err, 'HOARD_ERR_REDIRECT_REFUSED');
const isPackage = (path: string) => path.endsWith('.deb') || path.includes('/dists/');

test('a hop to a listed host and a repository path is followed, with its query when keepQuery is set', () => {
  const guard = redirectGuard({ hostAllowed: (h) => h === 'cdn.example', pathAllowed: isPackage, keepQuery: true });
  const next = new URL('http://cdn.example/debian/pool/main/a/alpha.deb?sig=abc');
  assert.equal(guard(next, from).href, next.href);
  const dropping = redirectGuard({ pathAllowed: isPackage, keepQuery: false });
  assert.equal(dropping(next, from).href, 'http://cdn.example/debian/pool/main/a/alpha.deb');
});

test('a host outside allowedHosts or a path outside the table is refused', () => {
  const guard = redirectGuard({ hostAllowed: (h) => h === '127.0.0.1', pathAllowed: isPackage, keepQuery: true });
  assert.throws(() => guard(new URL('http://127.0.0.2:19602/latest/meta-data/?x=1'), from), refused);
  assert.throws(() => guard(new URL('http://127.0.0.2/debian/pool/main/a/alpha.deb'), from), refused);
  assert.throws(() => guard(new URL('http://127.0.0.1/latest/meta-data/iam'), from), refused);
});

test('encoded control bytes, backslashes and bad percent-encoding in the target path are refused', () => {
  const guard = redirectGuard({ pathAllowed: () => true, keepQuery: true });
  for (const path of ['/pool/a%00.deb', '/pool/a%5c..%5cb.deb', '/pool/%zz.deb', '/pool/%2e%2e%2fetc.deb']) {
    assert.throws(() => guard(new URL(`http://cdn.example${path}`), from), refused, path);
  }
});
