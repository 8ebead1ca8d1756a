// The image-streams protocol through the seam: which targets it claims, passes or refuses, and the policies of its routes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { configSchema } from '../../config/config-schema.ts';
import { isHoardError } from '../../errors.ts';
import { MemoryBlobStore } from '../../storage/memory-blob-store.ts';
import { MemoryMetadataIndex } from '../../storage/memory-metadata-index.ts';
import type { Upstream } from '../../upstream/fetcher.ts';
import type { Protocol, RequestTarget, UpstreamFactory } from '../protocol.ts';
import { simplestreamsProtocolModule } from './simplestreams-protocol.ts';

const built: Array<{ key: string; mirrors: readonly URL[] }> = [];
const factory: UpstreamFactory = {
  origin: () => assert.fail('image streams never build client-chosen origins'),
  mirrors(key, mirrors): Upstream {
    built.push({ key, mirrors });
    return { key, fetch: () => Promise.reject(new Error('no upstream in this test')) };
  },
};

async function images(root: Record<string, unknown>): Promise<Protocol> {
  return simplestreamsProtocolModule.create({
    config: configSchema.parse(root),
    blobs: new MemoryBlobStore(),
    index: new MemoryMetadataIndex(),
    upstreams: factory,
    logger: pino({ level: 'silent' }),
    clock: { now: () => 0 },
  });
}

const req = (raw: string, method = 'GET'): RequestTarget => ({ method, raw, headers: {} });
const refused = (p: Protocol, raw: string, code: string, method = 'GET') =>
  assert.throws(
    () => p.route(req(raw, method)),
    (err) => isHoardError(err, code as never),
    raw,
  );

test('claims /images/<configured name>/ with the upstream path; policies with the upstream own max age', async () => {
  const p = await images({ images: { ubuntu: { url: 'https://images.example/releases/', maxAgeSeconds: 42 } } });
  assert.deepEqual(built.at(-1), { key: 'image:ubuntu', mirrors: [new URL('https://images.example/releases/')] });
  const index = p.route(req('/images/ubuntu/streams/v1/index.json?x=1'));
  assert.equal(index?.upstream.key, 'image:ubuntu');
  assert.equal(index?.path, '/streams/v1/index.json');
  assert.equal(index?.query, undefined, 'the query is dropped');
  assert.deepEqual([index?.policy.mutable, index?.policy.maxAgeSeconds, index?.policy.protocol], [true, 42, 'simplestreams']);
  const item = p.route(req('/images/ubuntu/server/20260101_05%3A24/root+extra.tar.xz'));
  assert.equal(item?.path, '/server/20260101_05:24/root+extra.tar.xz');
  assert.equal(item?.policy.kind, 'item');
  assert.equal(p.classify('/a/SHA256SUMS', 'image:ubuntu')?.maxAgeSeconds, 42, 'the verifier fetches with the upstream own max age');
  assert.equal(p.upstreamFor('image:ubuntu')?.key, 'image:ubuntu');
  assert.equal(p.upstreamFor('backend:ubuntu'), undefined);
  assert.deepEqual(p.itemName('/server/20260101_05:24/disk.img'), { name: '20260101_05:24/disk.img' });
  assert.equal(p.itemName('/streams/v1/index.json'), undefined);
});

test('refusals: unknown names 404, traversal and bad encodings 400, listings 403, other methods 405; other prefixes pass', async () => {
  const p = await images({ images: { ubuntu: { url: 'http://images.example/' } } });
  refused(p, '/images/debian/streams/v1/index.json', 'HOARD_ERR_UNKNOWN_IMAGE_UPSTREAM');
  refused(p, '/images/ubuntu/a/%2e%2e/%2e%2e/etc/passwd', 'HOARD_ERR_PATH_TRAVERSAL');
  refused(p, '/images/ubuntu/a/../b', 'HOARD_ERR_PATH_TRAVERSAL');
  refused(p, '/images/ubuntu/a/%zz', 'HOARD_ERR_BAD_REQUEST');
  refused(p, '/images/ubuntu/streams/v1/', 'HOARD_ERR_NOT_REPOSITORY_PATH');
  refused(p, '/images/ubuntu/streams/v1/index.json', 'HOARD_ERR_METHOD_NOT_ALLOWED', 'PUT');
  // Proxy-mode targets are apt's, unless under a configured image upstream's URL (what a child hoard asks its parent).
  for (const raw of ['/debian/dists/stable/InRelease', '/imagesx/ubuntu/a', 'http://mirror.example/images/ubuntu/a', '/v2/']) {
    assert.equal(p.route(req(raw)), undefined, raw);
  }
});

test('with no image upstream configured, or an apt backend named images, /images/ stays apt', async () => {
  const none = await images({});
  assert.equal(none.route(req('/images/ubuntu/streams/v1/index.json')), undefined);
  const shared = await images({
    images: { ubuntu: { url: 'http://images.example/' } },
    apt: { backends: { images: { mirrors: ['http://mirror.example/debian'] } } },
  });
  assert.equal(shared.route(req('/images/dists/stable/InRelease')), undefined);
  assert.equal(shared.route(req('/images/ubuntu/streams/v1/index.json'))?.upstream.key, 'image:ubuntu');
});

test('configuration: names, URLs, strict without keyring, and a keyring that is not there are refused with the key named', async () => {
  for (const [images, message] of [
    [{ Ubuntu: { url: 'http://images.example/' } }, /lower-case/],
    [{ ubuntu: { url: 'ftp://images.example/' } }, /http/],
    [{ ubuntu: { url: 'http://images.example/', strict: true } }, /strict needs a keyring/],
    [{ ubuntu: { url: 'http://images.example/', maxAgeSeconds: 0 } }, /./],
  ] as const) {
    assert.throws(() => configSchema.parse({ images }), message);
  }
  await assert.rejects(
    images({ images: { ubuntu: { url: 'http://images.example/', keyring: '/nonexistent/key.gpg' } } }),
    (err) => isHoardError(err, 'HOARD_ERR_CONFIG') && err.message.includes('images.ubuntu.keyring'),
  );
});

test('a child hoard asks with the image upstream URL in absolute-form: routed to the upstream configured at that URL', async () => {
  const p = await images({
    images: { ubuntu: { url: 'https://images.example/releases/' }, daily: { url: 'https://images.example/releases/daily/' } },
  });
  const index = p.route(req('https://images.example/releases/streams/v1/index.json'));
  assert.deepEqual([index?.upstream.key, index?.path, index?.mode], ['image:ubuntu', '/streams/v1/index.json', 'images']);
  // The longest matching URL wins.
  assert.equal(p.route(req('https://images.example/releases/daily/streams/v1/index.json'))?.upstream.key, 'image:daily');
  // The same refusals as the /images/ spelling; another origin is apt's (proxy mode).
  refused(p, 'https://images.example/releases/server/', 'HOARD_ERR_NOT_REPOSITORY_PATH');
  assert.equal(p.route(req('http://images.example/releases/streams/v1/index.json')), undefined);
  assert.equal(p.route(req('https://other.example/releases/streams/v1/index.json')), undefined);
});
