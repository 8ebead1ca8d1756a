// The distribution spec's grammar for names, tags and digests, and the endpoints under /v2/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHoardError } from '../../errors.ts';
import { endpointOfPath, endpointPath, grammarCodeOf, isValidName, isValidTag, parseDigest } from './oci-reference.ts';

const sha = 'a'.repeat(64);

test('names: lower-case components joined by separators and slashes, at most 255 characters', () => {
  for (const good of ['debian', 'library/debian', 'org/team/app', 'a.b', 'a_b', 'a__b', 'a---b', 'x0/y-1.z_2']) assert.ok(isValidName(good), good);
  for (const bad of ['', 'Debian', 'a//b', '/a', 'a/', '.a', 'a.', 'a..b', 'a___b', '-a', 'a/../b', 'a b', 'a%2fb', `${'a'.repeat(256)}`])
    assert.ok(!isValidName(bad), bad);
  assert.ok(isValidName('a'.repeat(255)));
});

test('tags: a word character first, then up to 127 of [A-Za-z0-9._-]', () => {
  for (const good of ['1', 'latest', 'v1.2.3-rc_1', '_x', 'A'.repeat(128)]) assert.ok(isValidTag(good), good);
  for (const bad of ['', '.x', '-x', 'a:b', 'a/b', 'A'.repeat(129), '..']) assert.ok(!isValidTag(bad), bad);
});

test('digests: sha256 and sha512 in lower-case hex of their length; others are not verifiable', () => {
  assert.deepEqual(parseDigest(`sha256:${sha}`), { algorithm: 'sha256', hex: sha, text: `sha256:${sha}` });
  assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`)?.algorithm, 'sha512');
  for (const bad of [`sha256:${'A'.repeat(64)}`, `sha256:${sha}0`, 'sha256:', `md5:${sha}`, `sha512:${sha}`, sha])
    assert.equal(parseDigest(bad), undefined, bad);
});

test('endpoints read back from their upstream path', () => {
  assert.deepEqual(endpointOfPath('/v2/library/debian/manifests/12'), { kind: 'manifest', name: 'library/debian', tag: '12' });
  assert.equal(endpointOfPath(`/v2/a/b/manifests/sha256:${sha}`)?.kind, 'manifest');
  assert.deepEqual(endpointOfPath(`/v2/a/blobs/sha256:${sha}`), { kind: 'blob', name: 'a', digest: { algorithm: 'sha256', hex: sha, text: `sha256:${sha}` } });
  assert.deepEqual(endpointOfPath('/v2/a/tags/list'), { kind: 'tags', name: 'a' });
  // A repository may be named like an endpoint word: the endpoint is read from the end.
  assert.deepEqual(endpointOfPath('/v2/manifests/blobs/manifests/1'), { kind: 'manifest', name: 'manifests/blobs', tag: '1' });
  for (const other of ['/v2/', '/v2/a/blobs/uploads', '/v2/_catalog', '/v2/a/referrers/x', '/dists/a', '/v2/A/manifests/1', '/v2/a/blobs/sha256:x']) {
    assert.equal(endpointOfPath(other), undefined, other);
  }
  const endpoint = endpointOfPath('/v2/org/app/manifests/v1');
  assert.ok(endpoint);
  assert.equal(endpointPath(endpoint), '/v2/org/app/manifests/v1');
});

test('grammarCodeOf reads the code from the message of HOARD_ERR_OCI_NAME_INVALID', async () => {
  const { invalid } = await import('./oci-reference.ts');
  for (const code of ['NAME_INVALID', 'MANIFEST_INVALID', 'DIGEST_INVALID'] as const) {
    const error = invalid('why', code);
    assert.ok(isHoardError(error, 'HOARD_ERR_OCI_NAME_INVALID'));
    assert.equal(grammarCodeOf(error), code);
    assert.equal(error.detail, 'why');
  }
});
