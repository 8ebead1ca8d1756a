// What image metadata lists, and which paths are metadata: the parsers and the path table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { indexProductsPaths, productsFileItems, sha256SumsEntries } from './stream-files.ts';
import { streamPathKind, streamPolicy } from './stream-path-class.ts';

const hex = (c: string) => c.repeat(64);

test('products files: every item with a path and a sha256, malformed ones and climbing paths skipped', () => {
  const items = productsFileItems({
    format: 'products:1.0',
    products: {
      a: {
        versions: {
          '20260101_05:24': {
            items: {
              good: { path: 'images/a/20260101_05:24/rootfs.squashfs', sha256: hex('A'), size: 10 },
              md5only: { path: 'images/a/x', md5: 'abc' },
              climbing: { path: '../etc/passwd', sha256: hex('b') },
              badsize: { path: 'images/a/y', sha256: hex('c'), size: -1 },
            },
          },
        },
      },
      broken: { versions: 'nope' },
    },
  });
  assert.deepEqual(items, [
    { path: '/images/a/20260101_05:24/rootfs.squashfs', sha256: hex('a'), size: 10 },
    { path: '/images/a/y', sha256: hex('c'), size: undefined },
  ]);
  assert.deepEqual(productsFileItems('not an object'), []);
  assert.deepEqual(indexProductsPaths({ index: { x: { path: 'streams/v1/com.example:x.json' }, y: { path: 42 } } }), ['/streams/v1/com.example:x.json']);
});

test('SHA256SUMS: text and binary markers, ./ prefixes, + in names; other lines skipped', () => {
  const text = [`${hex('a')}  disk.img`, `${hex('B')} *root+extra.tar.xz`, `${hex('c')} *./sub/file`, 'garbage', `${hex('d')} *../escape`, ''].join('\n');
  assert.deepEqual(sha256SumsEntries(text, '/cloud/current/'), [
    { path: '/cloud/current/disk.img', sha256: hex('a') },
    { path: '/cloud/current/root+extra.tar.xz', sha256: hex('b') },
    { path: '/cloud/current/sub/file', sha256: hex('c') },
  ]);
});

test('the path table: metadata and items carry the upstream max age (items fall back on it only when unlisted), listings not served', () => {
  const cases: Array<[string, string | undefined]> = [
    ['/streams/v1/index.json', 'stream-index'],
    ['/streams/v1/index.sjson', 'stream-index'],
    ['/streams/v1/com.example:images.json', 'products'],
    ['/maas/streams/v1/com.example:maas.sjson', 'products'],
    ['/cloud/current/SHA256SUMS', 'sums'],
    ['/cloud/current/SHA256SUMS.gpg', 'signature'],
    ['/cloud/current/SHA512SUMS', 'signature'],
    ['/cloud/current/disk.img', 'item'],
    ['/cloud/config.json', 'item'],
    ['/cloud/current/', undefined],
  ];
  for (const [path, kind] of cases) assert.equal(streamPathKind(path), kind, path);
  assert.deepEqual(streamPolicy('/streams/v1/index.json', 42), {
    protocol: 'simplestreams',
    mutable: true,
    kind: 'stream-index',
    contentType: 'application/json',
    maxAgeSeconds: 42,
  });
  assert.deepEqual([streamPolicy('/cloud/current/disk.img', 42)?.kind, streamPolicy('/cloud/current/disk.img', 42)?.maxAgeSeconds], ['item', 42]);
});
