// The OCI protocol through the seam: /v2/ answered locally, routes and their policies, refusals and JSON errors, response headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { HoardError, isHoardError } from '../../errors.ts';
import { configSchema } from '../../config/config-schema.ts';
import type { BlobStore } from '../../storage/blob-store.ts';
import type { MetadataIndex } from '../../storage/metadata-index.ts';
import type { Upstream } from '../../upstream/fetcher.ts';
import type { Protocol, RequestTarget, UpstreamFactory } from '../protocol.ts';
import { ociProtocolModule, ociResponseHeaders, ociVerifier } from './oci-protocol.ts';
import { ociClientConfigs } from './oci-client-configs.ts';
import { renderOciError, renderOciStatus } from './oci-errors.ts';
import { endpointOfPath } from './oci-reference.ts';

const sha = 'd'.repeat(64);
const built: Array<{ key: string; mirrors: readonly URL[] }> = [];
const factory: UpstreamFactory = {
  origin: () => assert.fail('OCI never builds client-chosen origins'),
  mirrors(key, mirrors): Upstream {
    built.push({ key, mirrors });
    return { key, fetch: () => Promise.reject(new Error('no upstream in this test')) };
  },
};

async function oci(section: Record<string, unknown>): Promise<Protocol> {
  const config = configSchema.parse({ oci: section });
  return ociProtocolModule.create({
    config,
    blobs: {} as BlobStore,
    index: {} as MetadataIndex,
    upstreams: factory,
    logger: pino({ level: 'silent' }),
    clock: { now: () => 0 },
  });
}

const req = (raw: string, method = 'GET', headers: Record<string, string> = {}): RequestTarget => ({ method, raw, headers });
const lab = { registries: { lab: { url: 'http://127.0.0.1:5000' } }, defaultRegistry: 'lab', tagMaxAgeSeconds: 60 };

test('GET /v2/ is answered locally with the API version header; other paths are not', async () => {
  const p = await oci(lab);
  for (const raw of ['/v2/', '/v2', '/v2/?x=1']) {
    const answer = await p.answer?.(req(raw));
    assert.equal(answer?.status, 200, raw);
    assert.equal(answer?.headers?.['docker-distribution-api-version'], 'registry/2.0');
  }
  assert.equal(p.answer?.(req('/v2/a/manifests/1')), undefined);
  assert.equal(p.answer?.(req('/v2/', 'POST')), undefined);
});

test('routes: registry upstream key, upstream path, policy by endpoint; no client header goes upstream but the fixed Accept', async () => {
  const p = await oci(lab);
  const tag = p.route(req('/v2/team/app/manifests/1', 'GET', { authorization: 'Bearer client-secret', accept: 'application/x-client' }));
  assert.ok(tag);
  assert.equal(tag.upstream.key, 'oci:lab');
  assert.equal(tag.path, '/v2/team/app/manifests/1');
  assert.deepEqual([tag.policy.mutable, tag.policy.maxAgeSeconds, tag.policy.contentTypeFromUpstream], [true, 60, true]);
  assert.deepEqual(Object.keys(tag.forward ?? {}), ['accept']);
  assert.match(tag.forward?.accept ?? '', /application\/vnd\.oci\.image\.index\.v1\+json.*application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
  const byDigest = p.route(req(`/v2/lab/team/app/manifests/sha256:${sha}`));
  assert.deepEqual([byDigest?.path, byDigest?.policy.mutable, byDigest?.mode], [`/v2/team/app/manifests/sha256:${sha}`, false, 'oci-segment']);
  const blob = p.route(req(`/v2/team/app/blobs/sha256:${sha}?ns=lab`, 'HEAD'));
  assert.deepEqual(
    [blob?.path, blob?.policy.mutable, blob?.forward, blob?.query, blob?.mode],
    [`/v2/team/app/blobs/sha256:${sha}`, false, undefined, undefined, 'oci-ns'],
  );
  assert.equal(p.route(req('/v2/team/app/tags/list'))?.policy.maxAgeSeconds, 60);
  assert.equal(p.route(req('/dists/bookworm/Release')), undefined, 'not under /v2/: apt may claim it');
  assert.equal(p.route(req('http://mirror.example/v2/a/manifests/1')), undefined, 'proxy-mode targets are apt spellings');
});

test('a child hoard asks with the registry URL in absolute-form: routed to the registry configured at that URL', async () => {
  const p = await oci({ ...lab, registries: { ...lab.registries, nested: { url: 'http://127.0.0.1:5000/mirror' } } });
  const manifest = p.route(req('http://127.0.0.1:5000/v2/team/app/manifests/1'));
  assert.deepEqual([manifest?.upstream.key, manifest?.path, manifest?.mode], ['oci:lab', '/v2/team/app/manifests/1', 'oci-absolute']);
  const nested = p.route(req('http://127.0.0.1:5000/mirror/v2/team/app/blobs/sha256:' + 'a'.repeat(64)));
  assert.deepEqual([nested?.upstream.key, nested?.policy.kind], ['oci:nested', 'blob']);
  // The grammar still applies; another port is another registry (apt's to judge).
  assert.throws(
    () => p.route(req('http://127.0.0.1:5000/v2/Team/manifests/1')),
    (err: unknown) => isHoardError(err, 'HOARD_ERR_OCI_NAME_INVALID'),
  );
  assert.equal(p.route(req('http://127.0.0.1:5001/v2/team/app/manifests/1')), undefined);
});

test('oci.enabled: false passes every target (apt decides, as before the mirror)', async () => {
  const p = await oci({ ...lab, enabled: false });
  assert.equal(p.answer?.(req('/v2/')), undefined);
  assert.equal(p.route(req('/v2/team/app/manifests/1')), undefined);
  assert.equal(p.route(req('/v2/team/app/blobs/uploads/', 'POST')), undefined);
});

test('docker.io is known without configuration; other registries by name', async () => {
  built.length = 0;
  const p = await oci({ registries: { 'images.example': { url: 'https://registry.example' } } });
  assert.deepEqual(built.map((b) => b.key).sort(), ['oci:docker.io', 'oci:images.example']);
  assert.equal(p.route(req('/v2/debian/manifests/12'))?.path, '/v2/library/debian/manifests/12');
  assert.equal(p.route(req('/v2/images.example/org/app/manifests/1'))?.upstream.key, 'oci:images.example');
  assert.equal(p.upstreamFor('oci:images.example')?.key, 'oci:images.example');
  assert.equal(p.upstreamFor('http://mirror.example'), undefined);
});

test('pushes and deletes are UNSUPPORTED; bad grammar and unknown names are refused before any upstream request', async () => {
  const p = await oci(lab);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    assert.throws(
      () => p.route(req('/v2/team/app/blobs/uploads/', method)),
      (err) => isHoardError(err, 'HOARD_ERR_OCI_UNSUPPORTED'),
    );
  }
  assert.throws(
    () => p.route(req('/v2/Team/App/manifests/1')),
    (err) => isHoardError(err, 'HOARD_ERR_OCI_NAME_INVALID'),
  );
  assert.throws(
    () => p.route(req('/v2/_catalog')),
    (err) => isHoardError(err, 'HOARD_ERR_OCI_NAME_UNKNOWN'),
  );
  assert.throws(
    () => p.route(req(`/v2/${'a/'.repeat(5000)}manifests/1`)),
    (err) => isHoardError(err, 'HOARD_ERR_TARGET_TOO_LONG'),
  );
});

test('a registry with credentials, not public, is served only to configured users; its routes are never remembered', async () => {
  const section = {
    registries: { priv: { url: 'http://127.0.0.1:5001', username: 'u', password: 'p' }, open: { url: 'http://127.0.0.1:5002' } },
    defaultRegistry: 'open',
    users: { alice: { password: 'correct horse' } },
  };
  const p = await oci(section);
  const alice = `Basic ${Buffer.from('alice:correct horse').toString('base64')}`;
  const wrong = `Basic ${Buffer.from('alice:wrong password').toString('base64')}`;
  const blob = `/v2/priv/team/app/blobs/sha256:${sha}`;
  for (const headers of [{}, { authorization: wrong }, { authorization: 'Bearer x' }]) {
    assert.throws(
      () => p.route(req(blob, 'GET', headers)),
      (err) => isHoardError(err, 'HOARD_ERR_OCI_UNAUTHORIZED'),
    );
    assert.equal((await p.answer?.(req('/v2/', 'GET', headers)))?.status, 401);
  }
  const allowed = p.route(req(blob, 'GET', { authorization: alice }));
  assert.equal(allowed?.upstream.key, 'oci:priv');
  assert.deepEqual(allowed?.forward, {}, 'a forward marks the route as this request alone');
  assert.equal((await p.answer?.(req('/v2/', 'GET', { authorization: alice })))?.status, 200);
  // The Docker daemon is not challenged (it would skip the mirror), unless it sent wrong credentials; the paths still are.
  assert.equal((await p.answer?.(req('/v2/', 'GET', { 'user-agent': 'docker/20.10.24 go/go1.19.8' })))?.status, 200);
  assert.equal((await p.answer?.(req('/v2/', 'GET', { 'user-agent': 'docker/20.10.24', authorization: wrong })))?.status, 401);
  assert.throws(
    () => p.route(req(blob, 'GET', { 'user-agent': 'docker/20.10.24' })),
    (err) => isHoardError(err, 'HOARD_ERR_OCI_UNAUTHORIZED'),
  );
  assert.equal(p.route(req(`/v2/team/app/blobs/sha256:${sha}`))?.upstream.key, 'oci:open', 'public registries need nothing');
  const rendered = renderOciError(new HoardError('HOARD_ERR_OCI_UNAUTHORIZED', 'x'), 401);
  assert.match(rendered.headers?.['www-authenticate'] ?? '', /^Basic realm=/);
  await oci({ ...section, registries: { priv: { ...section.registries.priv, public: true } }, users: {}, defaultRegistry: 'priv' });
  await assert.rejects(oci({ ...section, users: {} }), /has credentials, so only oci.users may pull from it/);
});

test('errors render as the spec JSON with their codes', () => {
  const body = (error: HoardError, status: number) => JSON.parse(renderOciError(error, status).body) as { errors: Array<{ code: string; message: string }> };
  assert.equal(body(new HoardError('HOARD_ERR_OCI_NAME_INVALID', 'NAME_INVALID: x', { detail: 'x' }), 400).errors[0]?.code, 'NAME_INVALID');
  assert.equal(body(new HoardError('HOARD_ERR_OCI_NAME_INVALID', 'DIGEST_INVALID: x', { detail: 'x' }), 400).errors[0]?.code, 'DIGEST_INVALID');
  assert.equal(body(new HoardError('HOARD_ERR_OCI_NAME_UNKNOWN', 'x'), 404).errors[0]?.code, 'NAME_UNKNOWN');
  assert.equal(body(new HoardError('HOARD_ERR_METHOD_NOT_ALLOWED', 'x'), 405).errors[0]?.code, 'UNSUPPORTED');
  assert.equal(body(new HoardError('HOARD_ERR_UPSTREAM_AUTH', 'x'), 403).errors[0]?.code, 'DENIED');
  assert.equal(body(new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', 'x'), 502).errors[0]?.code, 'UNKNOWN');
  const limited = renderOciError(new HoardError('HOARD_ERR_UPSTREAM_RATE_LIMITED', 'x', { retryAfterSeconds: 30 }), 429);
  assert.equal(limited.contentType, 'application/json');
  assert.equal(limited.headers?.['retry-after'], '30');
  assert.equal((JSON.parse(limited.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'TOOMANYREQUESTS');
  const code = (path: string, status: number) =>
    (JSON.parse(renderOciStatus(endpointOfPath(path), status, 'r').body) as { errors: Array<{ code: string }> }).errors[0]?.code;
  assert.equal(code('/v2/a/manifests/1', 404), 'MANIFEST_UNKNOWN');
  assert.equal(code(`/v2/a/blobs/sha256:${sha}`, 404), 'BLOB_UNKNOWN');
  assert.equal(code('/v2/a/tags/list', 404), 'NAME_UNKNOWN');
  assert.equal(code('/v2/a/manifests/1', 403), 'DENIED');
});

test('Docker-Content-Digest and ETag: the asked digest at once; by tag, the bytes once known', () => {
  const object = { size: 3, lastModified: undefined, etag: undefined, contentType: 'x', complete: false, stream: () => assert.fail('no') };
  const byDigest = ociResponseHeaders(endpointOfPath(`/v2/a/blobs/sha256:${sha}`), object);
  assert.equal(byDigest['docker-content-digest'], `sha256:${sha}`);
  assert.equal(byDigest.etag, `"${sha.slice(0, 32)}"`);
  assert.equal(ociResponseHeaders(endpointOfPath('/v2/a/manifests/1'), { ...object, digest: sha, etag: '"e"' })['docker-content-digest'], `sha256:${sha}`);
  assert.equal(
    ociResponseHeaders(endpointOfPath('/v2/a/manifests/1'), { ...object, digest: sha, etag: '"e"' }).etag,
    undefined,
    'the object gives its own ETag',
  );
});

test('the verifier expects the sha256 of a digest reference and holds manifests by tag and tag lists until whole', async () => {
  assert.deepEqual(await ociVerifier.expect('oci:lab', `/v2/a/blobs/sha256:${sha}`), { sha256: sha, verification: 'hash-verified' });
  assert.equal((await ociVerifier.expect('oci:lab', '/v2/a/manifests/1'))?.awaitAdmission, true);
  assert.equal((await ociVerifier.expect('oci:lab', '/v2/a/tags/list'))?.awaitAdmission, true, 'a tag list too, so that its answer carries its digest');
});

test('dashboard items: manifests by tag or digest', async () => {
  const p = await oci(lab);
  assert.deepEqual(p.itemName('/v2/team/app/manifests/1'), { name: 'team/app:1' });
  assert.deepEqual(p.itemName(`/v2/team/app/manifests/sha256:${sha}`), { name: `team/app@sha256:${sha}` });
  assert.equal(p.itemName(`/v2/team/app/blobs/sha256:${sha}`), undefined);
});

test('client configs: docker-mirror JSON, containerd hosts.toml, podman registries.conf, k3s registries.yaml, per configured registry', () => {
  const url = 'http://cache.example:3142';
  const none = { config: () => configSchema.parse({}) };
  assert.deepEqual(JSON.parse(ociClientConfigs['docker-mirror']?.(url, undefined, none) ?? ''), { 'registry-mirrors': [url] });
  assert.match(ociClientConfigs.containerd?.(url, undefined, none) ?? '', /\[host\."http:\/\/cache\.example:3142"\]\n {2}capabilities = \["pull", "resolve"\]/);
  assert.match(ociClientConfigs.podman?.(url, undefined, none) ?? '', /location = "cache\.example:3142\/docker\.io"\ninsecure = true/);
  const several = {
    config: () =>
      configSchema.parse({
        oci: {
          registries: {
            'images.example': { url: 'https://images.example' },
            'registry.lab:5000': { url: 'http://registry.lab:5000', username: 'puller', password: 'secret' },
            lab: { url: 'http://127.0.0.1:5000' },
          },
          users: { alice: { password: 'correct horse' } },
        },
      }),
  };
  const containerd = ociClientConfigs.containerd?.(url, undefined, several) ?? '';
  for (const name of ['docker.io', 'images.example', 'registry.lab:5000'])
    assert.ok(containerd.includes(`#   /etc/containerd/certs.d/${name}/hosts.toml`), name);
  assert.match(containerd, /Not listed: lab /);
  const podman = ociClientConfigs.podman?.(url, undefined, several) ?? '';
  assert.deepEqual(
    [...podman.matchAll(/^prefix = "(.+)"$/gm)].map((m) => m[1]),
    ['docker.io', 'images.example', 'registry.lab:5000'],
  );
  assert.match(podman, /location = "cache\.example:3142\/registry\.lab:5000"\ninsecure = true/);
  const k3s = parseYaml(ociClientConfigs.k3s?.(url, undefined, several) ?? '') as { mirrors: Record<string, { endpoint: string[] }>; configs?: unknown };
  assert.deepEqual(k3s, {
    mirrors: { 'docker.io': { endpoint: [url] }, 'images.example': { endpoint: [url] }, 'registry.lab:5000': { endpoint: [url] } },
  });
  assert.match(ociClientConfigs.k3s?.(url, undefined, several) ?? '', /# registry\.lab:5000 is served only to oci\.users/);
});
