// The registry Upstream: bearer tokens per scope with one retry, basic auth, 429 as an error, digests checked while streaming.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isHoardError } from '../../errors.ts';
import type { FetchInit, Upstream, UpstreamResponse } from '../../upstream/fetcher.ts';
import { TokenCache } from './oci-token-cache.ts';
import { RegistryUpstream, retryAfterSeconds, scopeOf } from './registry-upstream.ts';

interface Seen {
  path: string;
  authorization: string | undefined;
}

type Script = (path: string, init: FetchInit) => { status: number; headers?: Record<string, string>; body?: string };

function scripted(base: string, script: Script): Upstream & { seen: Seen[] } {
  const seen: Seen[] = [];
  return {
    key: base,
    seen,
    fetch(path: string, init: FetchInit): Promise<UpstreamResponse> {
      seen.push({ path, authorization: init.headers?.authorization });
      const answer = script(path, init);
      return Promise.resolve({
        status: answer.status,
        headers: answer.headers ?? {},
        body: Readable.from([Buffer.from(answer.body ?? '')]),
        url: new URL(path, base),
      });
    },
  };
}

const clock = { now: () => 1_000_000 };
const challenge = { 'www-authenticate': 'Bearer realm="http://127.0.0.1:9/token",service="lab",scope="repository:x:pull"' };

function bearerRegistry() {
  let issued = 0;
  const tokenService = scripted('http://127.0.0.1:9', (path) => {
    issued++;
    return { status: 200, body: JSON.stringify({ token: `tok-${issued}-${new URL(path, 'http://x').searchParams.get('scope')}`, expires_in: 300 }) };
  });
  const registry = scripted('http://127.0.0.1:8', (_path, init) =>
    init.headers?.authorization?.startsWith('Bearer tok-') === true ? { status: 200, body: 'ok' } : { status: 401, headers: challenge },
  );
  const tokens = new TokenCache(clock);
  const upstream = new RegistryUpstream({
    name: 'lab',
    inner: registry,
    tokens,
    tokenService: () => tokenService,
    secure: false,
    clock,
    credentials: { username: 'u', password: 'p' },
  });
  return { upstream, registry, tokenService, tokens };
}

test('Bearer: a 401 fetches a token for the scope, retries once; the token is reused until it expires', async () => {
  const { upstream, registry, tokenService } = bearerRegistry();
  const r1 = await upstream.fetch('/v2/a/manifests/1', { method: 'GET' });
  assert.equal(r1.status, 200);
  r1.body.destroy();
  assert.equal(tokenService.seen.length, 1);
  const tokenUrl = new URL(tokenService.seen[0]?.path ?? '', 'http://x');
  assert.equal(tokenUrl.searchParams.get('scope'), 'repository:a:pull');
  assert.equal(tokenUrl.searchParams.get('service'), 'lab');
  assert.equal(tokenService.seen[0]?.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
  assert.deepEqual(
    registry.seen.map((s) => s.authorization),
    [undefined, 'Bearer tok-1-repository:a:pull'],
  );
  // Same scope: the cached token goes up front, no token request.
  (await upstream.fetch('/v2/a/blobs/sha256:' + 'e'.repeat(64), { method: 'HEAD' })).body.destroy();
  assert.equal(tokenService.seen.length, 1);
  assert.equal(registry.seen[2]?.authorization, 'Bearer tok-1-repository:a:pull');
  // Another repository is another scope: its own token.
  (await upstream.fetch('/v2/b/manifests/1', { method: 'HEAD' })).body.destroy();
  assert.equal(tokenService.seen.length, 2);
});

test('Bearer: concurrent requests of one scope share one token request', async () => {
  const { upstream, tokenService } = bearerRegistry();
  const answers = await Promise.all(Array.from({ length: 8 }, () => upstream.fetch('/v2/a/manifests/1', { method: 'HEAD' })));
  for (const a of answers) {
    assert.equal(a.status, 200);
    a.body.destroy();
  }
  assert.equal(tokenService.seen.length, 1);
});

test('Bearer: a token refused after the retry is DENIED (HOARD_ERR_UPSTREAM_AUTH), and forgotten', async () => {
  const tokenService = scripted('http://127.0.0.1:9', () => ({ status: 200, body: '{"token":"bad"}' }));
  const registry = scripted('http://127.0.0.1:8', () => ({ status: 401, headers: challenge }));
  const tokens = new TokenCache(clock);
  const upstream = new RegistryUpstream({ name: 'lab', inner: registry, tokens, tokenService: () => tokenService, secure: false, clock });
  await assert.rejects(upstream.fetch('/v2/a/manifests/1', { method: 'GET' }), (err) => isHoardError(err, 'HOARD_ERR_UPSTREAM_AUTH'));
  assert.equal(registry.seen.length, 2, 'one retry, no more');
  assert.equal(tokens.size, 0);
  assert.equal(tokenService.seen[0]?.authorization, undefined, 'anonymous: no credentials to the token service');
});

test('a token service failure or an unusable answer is HOARD_ERR_UPSTREAM_AUTH', async () => {
  for (const answer of [
    { status: 500, body: '' },
    { status: 200, body: 'not json' },
  ]) {
    const tokenService = scripted('http://127.0.0.1:9', () => answer);
    const registry = scripted('http://127.0.0.1:8', () => ({ status: 401, headers: challenge }));
    const upstream = new RegistryUpstream({
      name: 'lab',
      inner: registry,
      tokens: new TokenCache(clock),
      tokenService: () => tokenService,
      secure: false,
      clock,
    });
    await assert.rejects(upstream.fetch('/v2/a/manifests/1', { method: 'GET' }), (err) => isHoardError(err, 'HOARD_ERR_UPSTREAM_AUTH'));
  }
});

test('credentials never go to a cleartext token realm of an https registry', async () => {
  const tokenService = scripted('http://127.0.0.1:9', () => ({ status: 200, body: '{"token":"t"}' }));
  const registry = scripted('https://registry.example', (_p, init) =>
    init.headers?.authorization === 'Bearer t' ? { status: 200 } : { status: 401, headers: challenge },
  );
  const upstream = new RegistryUpstream({
    name: 'r',
    inner: registry,
    tokens: new TokenCache(clock),
    tokenService: () => tokenService,
    secure: true,
    clock,
    credentials: { username: 'u', password: 'p' },
  });
  (await upstream.fetch('/v2/a/manifests/1', { method: 'HEAD' })).body.destroy();
  assert.equal(tokenService.seen[0]?.authorization, undefined);
});

test('Basic: the 401 challenge is answered with the configured credentials, then sent up front', async () => {
  const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
  const registry = scripted('http://127.0.0.1:8', (_p, init) =>
    init.headers?.authorization === basic ? { status: 200 } : { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } },
  );
  const upstream = new RegistryUpstream({
    name: 'b',
    inner: registry,
    tokens: new TokenCache(clock),
    tokenService: () => assert.fail('no token service'),
    secure: false,
    clock,
    credentials: { username: 'u', password: 'p' },
  });
  (await upstream.fetch('/v2/a/manifests/1', { method: 'HEAD' })).body.destroy();
  (await upstream.fetch('/v2/a/manifests/2', { method: 'HEAD' })).body.destroy();
  assert.deepEqual(
    registry.seen.map((s) => s.authorization),
    [undefined, basic, basic],
  );
});

test('a 401 without credentials to answer it is HOARD_ERR_UPSTREAM_AUTH, with no retry', async () => {
  const registry = scripted('http://127.0.0.1:8', () => ({ status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } }));
  const upstream = new RegistryUpstream({
    name: 'b',
    inner: registry,
    tokens: new TokenCache(clock),
    tokenService: () => assert.fail('no token service'),
    secure: false,
    clock,
  });
  await assert.rejects(upstream.fetch('/v2/a/manifests/1', { method: 'GET' }), (err) => isHoardError(err, 'HOARD_ERR_UPSTREAM_AUTH'));
  assert.equal(registry.seen.length, 1);
});

test('429 is HOARD_ERR_UPSTREAM_RATE_LIMITED with the upstream Retry-After (bounded)', async () => {
  for (const [header, expected] of [
    ['120', 120],
    ['999999', 3600],
    [undefined, undefined],
    ['soon', undefined],
  ] as const) {
    const registry = scripted('http://127.0.0.1:8', () => ({ status: 429, headers: header === undefined ? {} : { 'retry-after': header } }));
    const upstream = new RegistryUpstream({
      name: 'r',
      inner: registry,
      tokens: new TokenCache(clock),
      tokenService: () => assert.fail('no'),
      secure: false,
      clock,
    });
    await assert.rejects(
      upstream.fetch('/v2/a/manifests/1', { method: 'GET' }),
      (err) => isHoardError(err, 'HOARD_ERR_UPSTREAM_RATE_LIMITED') && err.retryAfterSeconds === expected,
    );
  }
  assert.equal(retryAfterSeconds(new Date(61_000).toUTCString(), 1_000), 60);
});

async function drain(response: UpstreamResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

test('bodies are checked against Docker-Content-Digest and sha512 digests in the path; a mismatch errors the stream', async () => {
  const body = 'manifest bytes';
  const good = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const registry = scripted('http://127.0.0.1:8', (path) => ({
    status: 200,
    body,
    headers: { 'docker-content-digest': path.endsWith('/good') ? good : `sha256:${'0'.repeat(64)}` },
  }));
  const upstream = new RegistryUpstream({
    name: 'r',
    inner: registry,
    tokens: new TokenCache(clock),
    tokenService: () => assert.fail('no'),
    secure: false,
    clock,
  });
  assert.equal(await drain(await upstream.fetch('/v2/a/manifests/good', { method: 'GET' })), body);
  await assert.rejects(drain(await upstream.fetch('/v2/a/manifests/bad', { method: 'GET' })), (err) => isHoardError(err, 'HOARD_ERR_DIGEST_MISMATCH'));
  const sha512 = createHash('sha512').update(body).digest('hex');
  const plain = scripted('http://127.0.0.1:8', () => ({ status: 200, body }));
  const upstream2 = new RegistryUpstream({
    name: 'r',
    inner: plain,
    tokens: new TokenCache(clock),
    tokenService: () => assert.fail('no'),
    secure: false,
    clock,
  });
  assert.equal(await drain(await upstream2.fetch(`/v2/a/blobs/sha512:${sha512}`, { method: 'GET' })), body);
  await assert.rejects(drain(await upstream2.fetch(`/v2/a/blobs/sha512:${'1'.repeat(128)}`, { method: 'GET' })), (err) =>
    isHoardError(err, 'HOARD_ERR_DIGEST_MISMATCH'),
  );
});

test('the pull scope of a path', () => {
  assert.equal(scopeOf('/v2/org/app/manifests/1'), 'repository:org/app:pull');
  assert.equal(scopeOf('/v2/'), undefined);
});

test('a tag is revalidated with a HEAD: the same digest makes a 304 without a GET, another one a GET', async () => {
  const digest = `sha256:${'f'.repeat(64)}`;
  const methods: string[] = [];
  const registry = scripted('http://127.0.0.1:8', (_path, init) => {
    methods.push(init.method);
    return { status: 200, headers: { 'docker-content-digest': digest, etag: `"${digest}"` }, body: init.method === 'GET' ? 'manifest' : '' };
  });
  const upstream = new RegistryUpstream({
    name: 'r',
    inner: registry,
    tokens: new TokenCache(clock),
    tokenService: () => assert.fail('no'),
    secure: false,
    clock,
  });
  const same = await upstream.fetch('/v2/a/manifests/1', { method: 'GET', headers: { 'if-none-match': `"${digest}"` } });
  assert.equal(same.status, 304);
  assert.deepEqual(methods, ['HEAD']);
  const moved = await upstream.fetch('/v2/a/manifests/1', { method: 'GET', headers: { 'if-none-match': `"sha256:${'0'.repeat(64)}"` } });
  assert.equal(moved.status, 200);
  moved.body.destroy();
  assert.deepEqual(methods, ['HEAD', 'HEAD', 'GET']);
  // By digest, or without a stored validator: a plain GET.
  (await upstream.fetch(`/v2/a/manifests/${digest}`, { method: 'GET', headers: { 'if-none-match': `"${digest}"` } })).body.destroy();
  (await upstream.fetch('/v2/a/manifests/1', { method: 'GET' })).body.destroy();
  assert.deepEqual(methods, ['HEAD', 'HEAD', 'GET', 'GET', 'GET']);
});

test('only application/json and application/vnd.* media types pass from the registry; others become octet-stream', async () => {
  for (const [given, served] of [
    ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.manifest.v1+json'],
    ['application/json; charset=utf-8', 'application/json; charset=utf-8'],
    ['text/html', 'application/octet-stream'],
    ['application/xhtml+xml', 'application/octet-stream'],
    ['image/svg+xml', 'application/octet-stream'],
  ] as const) {
    const registry = scripted('http://127.0.0.1:8', () => ({ status: 200, headers: { 'content-type': given }, body: '{}' }));
    const upstream = new RegistryUpstream({
      name: 'r',
      inner: registry,
      tokens: new TokenCache(clock),
      tokenService: () => assert.fail('no'),
      secure: false,
      clock,
    });
    const response = await upstream.fetch('/v2/a/manifests/1', { method: 'GET' });
    response.body.destroy();
    assert.equal(response.headers['content-type'], served, given);
  }
});
