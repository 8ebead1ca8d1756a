// Tests of absolute-form targets under configured bases (what a child hoard sends its parent).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { absoluteTarget, underBase } from './proxy-form-target.ts';

const bases: [string, URL][] = [
  ['lab', new URL('http://127.0.0.1:5000')],
  ['hub', new URL('https://images.example')],
  ['nested', new URL('https://images.example/mirror/team')],
];

test('absolute-form targets parse; origin-form, other schemes and credentials do not', () => {
  assert.equal(absoluteTarget('https://images.example/v2/a/manifests/1')?.host, 'images.example');
  assert.equal(absoluteTarget('/v2/a/manifests/1'), undefined);
  assert.equal(absoluteTarget('ftp://images.example/v2/'), undefined);
  assert.equal(absoluteTarget('https://u:p@images.example/v2/'), undefined);
});

test('a target falls under the base with the same origin and the longest matching path', () => {
  const at = (raw: string) => underBase(absoluteTarget(raw) as URL, bases, 'v2/');
  assert.deepEqual(at('http://127.0.0.1:5000/v2/team/app/manifests/1?x=1'), { key: 'lab', rest: 'team/app/manifests/1', query: '?x=1' });
  assert.deepEqual(at('https://images.example/v2/library/debian/blobs/sha256:ab'), { key: 'hub', rest: 'library/debian/blobs/sha256:ab', query: '' });
  assert.equal(at('https://images.example/mirror/team/v2/x/tags/list')?.key, 'nested');
  // Same host, other scheme or port: not the same registry.
  assert.equal(at('http://images.example/v2/a/manifests/1'), undefined);
  assert.equal(at('http://127.0.0.1:5001/v2/a/manifests/1'), undefined);
  assert.equal(at('https://images.example/v3/a'), undefined);
});
