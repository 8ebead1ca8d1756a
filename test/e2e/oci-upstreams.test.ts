// The OCI mirror against real authenticating upstreams (a token server signing JWTs, htpasswd with bcrypt), sha512 digests, and start-up with the upstream down.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runChecked } from '../support/command-runner.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { DockerRegistry, buildOciLayout, loopbackOnlyEnv, skopeo, type BuiltImage, pushLayout } from '../support/oci-registry.ts';
import { RegistryFront } from '../support/registry-front.ts';
import { RegistryTokenServer } from '../support/registry-token-server.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';
import { flipBitInBlob, runHoardVerify } from '../support/store-damage.ts';

const alice = `Basic ${Buffer.from('alice:correct horse').toString('base64')}`;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const digestOf = (algorithm: 'sha256' | 'sha512', bytes: Uint8Array) => `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;

interface OciErrorBody {
  errors: Array<{ code: string; message: string }>;
}

describe('OCI mirror: real authenticating upstreams, sha512, start-up without the upstream', () => {
  let work: string;
  let tokens: RegistryTokenServer;
  let tokenRegistry: DockerRegistry;
  let htpasswdRegistry: DockerRegistry;
  let plainRegistry: DockerRegistry;
  let front: RegistryFront;
  let hoard: HoardProcess;
  let app: BuiltImage;
  let other: BuiltImage;
  let expiring: BuiltImage;

  const push = async (image: BuiltImage, registry: DockerRegistry, name: string, creds?: string) => {
    await pushLayout(registry, image.dir, `${name}:1`, work, { creds });
  };

  const pullThroughHoard = async (at: HoardProcess, reference: string, dest: string, image: BuiltImage) => {
    const copied = await skopeo(
      [
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        '--src-creds',
        'alice:correct horse',
        `docker://${at.url.slice('http://'.length)}/${reference}`,
        `oci:${dest}:1`,
      ],
      work,
    );
    assert.equal(copied.exitCode, 0, copied.stderr);
    for (const digest of [...image.layers, image.configDigest, image.manifestDigest]) {
      assert.equal(digestOf('sha256', await readFile(join(dest, 'blobs/sha256', digest.slice('sha256:'.length)))), digest);
    }
  };

  before(async () => {
    work = await makeTempDir('oci-upstreams');
    tokens = await RegistryTokenServer.start({
      puller: { password: 'pull secret', actions: ['pull'] },
      pusher: { password: 'push secret', actions: ['pull', 'push'] },
    });
    tokenRegistry = await DockerRegistry.start({ extraConfig: () => tokens.registryAuthConfig() });
    // distribution reads only bcrypt htpasswd entries: htpasswd -B (apache2-utils).
    htpasswdRegistry = await DockerRegistry.start({
      extraConfig: async (dir) => {
        const file = join(dir, 'htpasswd');
        await runChecked('htpasswd', ['-Bbc', file, 'pusher', 'push secret'], { env: loopbackOnlyEnv });
        await runChecked('htpasswd', ['-Bb', file, 'puller', 'pull secret'], { env: loopbackOnlyEnv });
        return `auth:\n  htpasswd:\n    realm: hoard-test\n    path: ${file}\n`;
      },
    });
    plainRegistry = await DockerRegistry.start();
    app = await buildOciLayout(join(work, 'app'), '1');
    other = await buildOciLayout(join(work, 'other'), '1');
    expiring = await buildOciLayout(join(work, 'expiring'), '1');
    await push(app, tokenRegistry, 'team/app', 'pusher:push secret');
    await push(other, tokenRegistry, 'team/other', 'pusher:push secret');
    await push(expiring, tokenRegistry, 'team/expiring', 'pusher:push secret');
    await push(app, htpasswdRegistry, 'team/app', 'pusher:push secret');
    await push(app, plainRegistry, 'team/app');
    front = await RegistryFront.start(plainRegistry.url);
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'warn',
        oci: {
          registries: {
            tokened: { url: tokenRegistry.url, username: 'puller', password: 'pull secret' },
            htpasswd: { url: htpasswdRegistry.url, username: 'puller', password: 'pull secret' },
            plain: { url: front.url },
          },
          defaultRegistry: 'plain',
          users: { alice: { password: 'correct horse' } },
        },
      },
    });
  });

  after(async () => {
    await hoard?.cleanup();
    await front?.stop();
    await tokenRegistry?.stop();
    await htpasswdRegistry?.stop();
    await plainRegistry?.stop();
    await tokens?.stop();
    if (work !== undefined) await removeDir(work);
  });

  test('the token registry checks what it is given: the signature, the scope, the expiry; the token server refuses a wrong password', async () => {
    const manifest = `${tokenRegistry.url}/v2/team/app/manifests/1`;
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const challenged = await fetch(manifest, { headers: accept });
    assert.equal(challenged.status, 401);
    assert.match(challenged.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${tokens.url}/token",service="${tokens.service}"`));
    const pull = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
    const good = await fetch(manifest, { headers: { ...accept, authorization: `Bearer ${tokens.sign('puller', pull, 60)}` } });
    assert.equal(good.status, 200);
    assert.equal(good.headers.get('docker-content-digest'), app.manifestDigest);
    const otherScope = await fetch(manifest, {
      headers: { ...accept, authorization: `Bearer ${tokens.sign('puller', [{ type: 'repository', name: 'team/other', actions: ['pull'] }], 60)}` },
    });
    assert.equal(otherScope.status, 401, 'a token for another repository is refused');
    // Past any clock leeway the registry allows.
    const expired = await fetch(manifest, { headers: { ...accept, authorization: `Bearer ${tokens.sign('puller', pull, -3600)}` } });
    assert.equal(expired.status, 401, 'an expired token is refused');
    const [head, payload] = tokens.sign('puller', pull, 60).split('.');
    const forged = `${head ?? ''}.${payload ?? ''}.${Buffer.alloc(64, 7).toString('base64url')}`;
    assert.equal((await fetch(manifest, { headers: { ...accept, authorization: `Bearer ${forged}` } })).status, 401, 'a bad signature is refused');
    const wrong = await fetch(`${tokens.url}/token?service=${tokens.service}&scope=repository:team/app:pull`, {
      headers: { authorization: basic('puller', 'wrong') },
    });
    assert.equal(wrong.status, 401);
  });

  test('skopeo pulls through hoard from the token registry: one token per repository scope from the real token server, reused across the pull', async () => {
    const before = tokens.requests.length;
    await pullThroughHoard(hoard, 'tokened/team/app:1', join(work, 'pulled-tokened'), app);
    const asked = tokens.requests.slice(before);
    assert.deepEqual(asked, [{ scopes: ['repository:team/app:pull'], service: tokens.service, user: 'puller', status: 200 }]);
    const otherRepo = await fetch(`${hoard.url}/v2/tokened/team/other/manifests/1`, { headers: { authorization: alice } });
    assert.equal(otherRepo.status, 200);
    assert.equal(otherRepo.headers.get('docker-content-digest'), other.manifestDigest);
    await otherRepo.arrayBuffer();
    assert.deepEqual(
      tokens.requests.slice(before).map((r) => r.scopes.join(' ')),
      ['repository:team/app:pull', 'repository:team/other:pull'],
    );
  });

  test("a token is asked again once its expires_in has passed, and the registry's own expiry check never trips hoard", async () => {
    // Tokens of 6 s: hoard keeps one until 5 s before its expiry, so 1 s here.
    tokens.expiresInSeconds = 6;
    try {
      const before = tokens.requests.length;
      const manifest = await fetch(`${hoard.url}/v2/tokened/team/expiring/manifests/1`, { headers: { authorization: alice } });
      assert.equal(manifest.status, 200);
      await manifest.arrayBuffer();
      await new Promise((r) => setTimeout(r, 1500));
      const layer = await fetch(`${hoard.url}/v2/tokened/team/expiring/blobs/${expiring.layers[1] as string}`, { headers: { authorization: alice } });
      assert.equal(layer.status, 200);
      assert.equal(digestOf('sha256', new Uint8Array(await layer.arrayBuffer())), expiring.layers[1]);
      const asked = tokens.requests.slice(before);
      assert.deepEqual(
        asked.map((r) => `${r.status} ${r.scopes.join(' ')}`),
        ['200 repository:team/expiring:pull', '200 repository:team/expiring:pull'],
      );
    } finally {
      tokens.expiresInSeconds = 300;
    }
  });

  test('skopeo pulls through hoard from the htpasswd (bcrypt) registry: hoard answers its Basic challenge with its own credentials', async () => {
    const anonymous = await fetch(`${htpasswdRegistry.url}/v2/team/app/manifests/1`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm="hoard-test"/);
    await pullThroughHoard(hoard, 'htpasswd/team/app:1', join(work, 'pulled-htpasswd'), app);
  });

  test('a wrong password is DENIED as JSON, for the token registry and for the htpasswd registry', async () => {
    const before = tokens.requests.length;
    const wrong = await HoardProcess.start({
      config: {
        logLevel: 'error',
        oci: {
          registries: {
            tokened: { url: tokenRegistry.url, username: 'puller', password: 'not the password', public: true },
            htpasswd: { url: htpasswdRegistry.url, username: 'puller', password: 'not the password', public: true },
          },
          defaultRegistry: 'tokened',
        },
      },
    });
    try {
      for (const path of ['/v2/tokened/team/app/manifests/1', '/v2/htpasswd/team/app/manifests/1']) {
        const res = await fetch(`${wrong.url}${path}`);
        assert.equal(res.status, 403, path);
        assert.equal(((await res.json()) as OciErrorBody).errors[0]?.code, 'DENIED', path);
      }
      assert.ok(
        tokens.requests.slice(before).some((r) => r.user === 'puller' && r.status === 401),
        'the token server refused the wrong password',
      );
      assert.ok(tokens.requests.slice(before).every((r) => r.status === 401));
      const stats = (await (await fetch(`${wrong.url}/_hoard/stats.json`)).json()) as { namedUpstreams: Array<{ upstream: string; errors: number }> };
      const errorsOf = (key: string) => stats.namedUpstreams.find((u) => u.upstream === key)?.errors;
      assert.equal(errorsOf('oci:tokened'), 1, 'the refusal is an upstream error of that registry');
      assert.equal(errorsOf('oci:htpasswd'), 1);
    } finally {
      await wrong.cleanup();
    }
  });

  test("a layer fetched with a private registry's credentials is not served under a public registry's name: that registry is asked", async () => {
    // The expiring image's layer is only in the token registry, and hoard has it stored from there (the expiry test).
    const layer = expiring.layers[1] as string;
    const authed = await fetch(`${hoard.url}/v2/tokened/team/expiring/blobs/${layer}`, { headers: { authorization: alice } });
    assert.equal(authed.status, 200);
    await authed.arrayBuffer();
    const path = `/v2/team/app/blobs/${layer}`;
    const anonymous = await fetch(`${hoard.url}${path}`);
    assert.equal(anonymous.status, 404, 'the public registry does not have it');
    assert.equal(((await anonymous.json()) as OciErrorBody).errors[0]?.code, 'BLOB_UNKNOWN');
    assert.equal(front.requests.filter((r) => r.path === path).length, 1, 'asked the public registry, not served from the store');
    // A layer the public registry has is shared by digest as before: no request upstream for it.
    const shared = app.layers[1] as string;
    const seen = front.requests.length;
    const sharedAnswer = await fetch(`${hoard.url}/v2/team/app/blobs/${shared}`);
    assert.equal(sharedAnswer.status, 200);
    await sharedAnswer.arrayBuffer();
    assert.ok(front.requests.length - seen <= 1);
  });

  test('the dashboard, stats.json and the metrics show pulls, hits and bytes saved per registry', async () => {
    // A second pull of the htpasswd image: every blob a hit of that registry.
    await pullThroughHoard(hoard, 'htpasswd/team/app:1', join(work, 'pulled-htpasswd-again'), app);
    const stats = (await (await fetch(`${hoard.url}/_hoard/stats.json`)).json()) as {
      namedUpstreams: Array<{ upstream: string; requests: number; hits: number; hitRatio: number; servedFromCache: number; saved: number; errors: number }>;
    };
    const figuresOf = (key: string) => stats.namedUpstreams.find((u) => u.upstream === key);
    const basicFigures = figuresOf('oci:htpasswd');
    assert.ok(basicFigures !== undefined && basicFigures.requests >= 8, JSON.stringify(stats.namedUpstreams));
    assert.ok(basicFigures.hits > 0 && basicFigures.hitRatio > 0 && basicFigures.servedFromCache > 1024 * 1024, JSON.stringify(basicFigures));
    assert.ok(basicFigures.saved > 1024 * 1024, 'the second pull did not cross the registry link again');
    assert.ok((figuresOf('oci:tokened')?.requests ?? 0) > 0);
    assert.ok(
      stats.namedUpstreams.every((u) => !u.upstream.includes('://')),
      'token realms and hosts clients name are not named upstreams',
    );
    const page = await (await fetch(`${hoard.url}/_hoard/`)).text();
    assert.match(page, /data-named-upstream="oci:htpasswd"/);
    const metrics = await (await fetch(`${hoard.url}/_hoard/metrics`)).text();
    assert.match(metrics, /^hoard_named_upstream_requests_total\{upstream="oci:htpasswd",result="hit"\} [1-9]/m);
    assert.match(metrics, /^hoard_named_upstream_served_bytes_total\{upstream="oci:htpasswd",source="cache"\} [1-9]/m);
    assert.match(metrics, /^hoard_named_upstream_fetched_bytes_total\{upstream="oci:htpasswd"\} [1-9]/m);
  });

  test('a blob addressed by a sha512 digest in the real registry is verified while it streams, stored once, and a corrupted one is refused', async () => {
    const bytes = Buffer.from(`sha512 blob ${Date.now()}\n`.repeat(4096));
    const digest = digestOf('sha512', bytes);
    // OCI distribution spec v1.1, "Pushing a blob monolithically": POST an upload, then PUT it with ?digest=.
    const started = await fetch(`${plainRegistry.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202);
    const location = new URL(started.headers.get('location') ?? '', plainRegistry.url);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201, await put.text());
    const direct = await fetch(`${plainRegistry.url}/v2/team/app/blobs/${digest}`);
    assert.equal(direct.status, 200, 'the registry serves the blob by its sha512 digest');
    assert.deepEqual(Buffer.from(await direct.arrayBuffer()), bytes);

    const path = `/v2/team/app/blobs/${digest}`;
    front.corrupt.add(digest);
    const corrupted = await fetch(`${hoard.url}${path}`);
    await assert.rejects(corrupted.arrayBuffer(), 'the body is cut before its end');
    await hoard.waitForDownloadsSettled();
    front.corrupt.delete(digest);
    const gets = () => front.requests.filter((r) => r.path === path && r.method === 'GET').length;
    const first = await fetch(`${hoard.url}${path}`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('docker-content-digest'), digest);
    assert.deepEqual(Buffer.from(await first.arrayBuffer()), bytes);
    assert.equal(gets(), 2, 'nothing of the corrupted download was stored: asked again');
    await hoard.waitForDownloadsSettled();
    const second = await fetch(`${hoard.url}${path}`);
    assert.deepEqual(Buffer.from(await second.arrayBuffer()), bytes);
    assert.equal(gets(), 2, 'served from the store');
  });

  test('hoard verify covers OCI objects: a flipped byte in a stored layer is found, and the layer is fetched again on next use', async () => {
    const verifying = await HoardProcess.start({ config: { logLevel: 'error', oci: { registries: { plain: { url: front.url } }, defaultRegistry: 'plain' } } });
    try {
      await pullThroughHoard(verifying, 'team/app:1', join(work, 'pulled-before-verify'), app);
      await verifying.waitForDownloadsSettled();
      await verifying.stop();
      const layer = app.layers[1] as string;
      const hex = layer.slice('sha256:'.length);
      await flipBitInBlob(verifying.dataDir, hex);
      const verify = await runHoardVerify(verifying);
      assert.equal(verify.exitCode, 1, verify.stdout + verify.stderr);
      assert.match(verify.stdout, new RegExp(`DAMAGED ${hex}.*oci:plain/v2/team/app/blobs/${layer}`));
      await verifying.restart();
      const path = `/v2/team/app/blobs/${layer}`;
      const before = front.requests.filter((r) => r.path === path && r.method === 'GET').length;
      const again = await fetch(`${verifying.url}${path}`);
      assert.equal(digestOf('sha256', new Uint8Array(await again.arrayBuffer())), layer);
      assert.equal(front.requests.filter((r) => r.path === path && r.method === 'GET').length, before + 1, 'fetched again from the registry');
    } finally {
      await verifying.cleanup();
    }
  });

  test('hoard starts with its upstream down and serves what it cached: tags (with a Warning once old), digests, a whole skopeo pull', async () => {
    const dataDir = join(work, 'restart-data');
    const downFront = await RegistryFront.start(plainRegistry.url);
    const config = {
      logLevel: 'error',
      oci: { registries: { plain: { url: downFront.url } }, defaultRegistry: 'plain', tagMaxAgeSeconds: 1, users: {} },
    };
    const restarted = await HoardProcess.start({ dataDir, config });
    try {
      await pullThroughHoard(restarted, 'team/app:1', join(work, 'pulled-before-restart'), app);
      await restarted.waitForDownloadsSettled();
      await restarted.stop();
      // The upstream is gone (its port closed) before hoard starts again.
      await downFront.stop();
      await restarted.restart();
      // Past the tag's max age (1 s): the tag cannot be revalidated, the cached one is served.
      await new Promise((r) => setTimeout(r, 1200));
      const tag = await fetch(`${restarted.url}/v2/team/app/manifests/1`);
      assert.equal(tag.status, 200);
      assert.equal(tag.headers.get('docker-content-digest'), app.manifestDigest);
      assert.match(tag.headers.get('warning') ?? '', /^111 /);
      await tag.arrayBuffer();
      const byDigest = await fetch(`${restarted.url}/v2/team/app/manifests/${app.manifestDigest}`);
      assert.equal(byDigest.status, 200);
      assert.equal(digestOf('sha256', new Uint8Array(await byDigest.arrayBuffer())), app.manifestDigest);
      await pullThroughHoard(restarted, 'team/app:1', join(work, 'pulled-after-restart'), app);
      const pulledByDigest = await skopeo(
        [
          'copy',
          '--src-tls-verify=false',
          '--src-no-creds',
          `docker://${restarted.url.slice('http://'.length)}/team/app@${app.manifestDigest}`,
          `oci:${join(work, 'pulled-by-digest')}:1`,
        ],
        work,
      );
      assert.equal(pulledByDigest.exitCode, 0, pulledByDigest.stderr);
    } finally {
      await restarted.cleanup();
      await downFront.stop().catch(() => undefined);
    }
  });
});
