// The three rules that pick a registry for a /v2/ request, in their order, and the refusals before any upstream request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHoardError } from '../../errors.ts';
import { grammarCodeOf } from './oci-reference.ts';
import { chooseRegistry } from './oci-registry-choice.ts';

const rules = { registries: new Set(['docker.io', 'images.example', 'lab']), defaultRegistry: 'docker.io' };
const sha = 'c'.repeat(64);

test('containerd ?ns= names the registry; the whole path is the repository', () => {
  const chosen = chooseRegistry('org/app/manifests/1', '?ns=images.example', rules);
  assert.equal(chosen.registry, 'images.example');
  assert.equal(chosen.rule, 'ns');
  assert.deepEqual(chosen.endpoint, { kind: 'manifest', name: 'org/app', tag: '1' });
  // ns wins over a leading segment that names a registry too.
  assert.equal(chooseRegistry('lab/app/manifests/1', '?ns=images.example', rules).endpoint.name, 'lab/app');
  // docker.io by ns: one-segment names get library/ as Docker writes them.
  assert.equal(chooseRegistry('debian/manifests/12', '?ns=docker.io', rules).endpoint.name, 'library/debian');
});

test('an ns naming a registry not mirrored is NAME_UNKNOWN, never the default registry', () => {
  assert.throws(
    () => chooseRegistry('org/app/manifests/1', '?ns=quay.example', rules),
    (err) => isHoardError(err, 'HOARD_ERR_OCI_NAME_UNKNOWN'),
  );
});

test('a leading segment naming a configured registry', () => {
  const chosen = chooseRegistry(`images.example/org/app/blobs/sha256:${sha}`, '', rules);
  assert.equal(chosen.registry, 'images.example');
  assert.equal(chosen.rule, 'segment');
  assert.equal(chosen.endpoint.kind, 'blob');
  assert.equal(chosen.endpoint.name, 'org/app');
  assert.equal(chooseRegistry('docker.io/debian/manifests/12', '', rules).endpoint.name, 'library/debian');
  assert.equal(chooseRegistry('lab/team/app/tags/list', '', rules).endpoint.name, 'team/app');
});

test('else the default registry, with library/ for one-segment names on docker.io', () => {
  const chosen = chooseRegistry('debian/manifests/12', '', rules);
  assert.deepEqual([chosen.registry, chosen.rule, chosen.endpoint.name], ['docker.io', 'default', 'library/debian']);
  // An unknown leading segment is part of the name on the default registry.
  assert.deepEqual(
    [chooseRegistry('quay.example/org/app/manifests/1', '', rules).registry, chooseRegistry('quay.example/org/app/manifests/1', '', rules).endpoint.name],
    ['docker.io', 'quay.example/org/app'],
  );
  // The registry name alone is a repository of that name on the default registry, not an empty name.
  assert.equal(chooseRegistry('lab/manifests/1', '', rules).endpoint.name, 'library/lab');
  const labDefault = { ...rules, defaultRegistry: 'lab' };
  assert.equal(chooseRegistry('app/manifests/1', '', labDefault).endpoint.name, 'app');
});

test('no default registry: a name no rule accepts is NAME_UNKNOWN', () => {
  assert.throws(
    () => chooseRegistry('app/manifests/1', '', { ...rules, defaultRegistry: '' }),
    (err) => isHoardError(err, 'HOARD_ERR_OCI_NAME_UNKNOWN'),
  );
});

test('bad names, tags and digests are refused with their OCI code', () => {
  const code = (rest: string) => {
    try {
      chooseRegistry(rest, '', rules);
    } catch (err) {
      assert.ok(isHoardError(err, 'HOARD_ERR_OCI_NAME_INVALID'), String(err));
      return grammarCodeOf(err);
    }
    return 'accepted';
  };
  assert.equal(code('Bad/manifests/1'), 'NAME_INVALID');
  assert.equal(code('a//b/manifests/1'), 'NAME_INVALID');
  assert.equal(code('a/%2E%2E/b/manifests/1'), 'NAME_INVALID');
  assert.equal(code('a/manifests/.hidden'), 'MANIFEST_INVALID');
  assert.equal(code('a/manifests/sha256:abc'), 'MANIFEST_INVALID');
  assert.equal(code('a/blobs/latest'), 'DIGEST_INVALID');
  assert.equal(code('a/manifests/1'), 'accepted');
});

test('paths that are not pull endpoints are NAME_UNKNOWN', () => {
  for (const rest of ['_catalog', 'a/blobs/uploads', 'a/blobs/uploads/123', 'a/referrers/x', 'a']) {
    assert.throws(
      () => chooseRegistry(rest, '', rules),
      (err) => isHoardError(err, 'HOARD_ERR_OCI_NAME_UNKNOWN'),
      rest,
    );
  }
});
