// The OCI mirror end to end: Debian's docker-registry upstream, skopeo pulling through hoard, counted and lying fronts, a token flow.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeFile } from 'node:fs/promises';
import { clientConfig } from '../../src/cli/client-config.ts';
import { mkdir } from 'node:fs/promises';
import { ContainerdDaemon } from '../support/containerd-daemon.ts';
import { DockerDaemon } from '../support/docker-daemon.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { DockerRegistry, buildOciIndexLayout, buildOciLayout, skopeo, type BuiltImage, type BuiltIndex, pushLayout } from '../support/oci-registry.ts';
import { RegistryFront } from '../support/registry-front.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const alice = `Basic ${Buffer.from('alice:correct horse').toString('base64')}`;
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface OciErrorBody {
  errors: Array<{ code: string; message: string }>;
}

describe('OCI pull-through mirror', () => {
  let registry: DockerRegistry;
  let front: RegistryFront;
  let bearerFront: RegistryFront;
  let storage: RegistryFront;
  let hoard: HoardProcess;
  let work: string;
  let app: BuiltImage;
  let other: BuiltImage;
  let bad: BuiltImage;
  let five: BuiltImage;
  let multi: BuiltIndex;
  let hoardHost: string;

  const push = async (image: BuiltImage, name: string) => {
    await pushLayout(registry, image.dir, `${name}:1`, work);
  };
  const get = (path: string, init: RequestInit = {}) => fetch(`${hoard.url}${path}`, init);

  before(async () => {
    work = await makeTempDir('oci-e2e');
    registry = await DockerRegistry.start();
    app = await buildOciLayout(join(work, 'app'), '1');
    other = await buildOciLayout(join(work, 'other'), '1', 4 * 1024 * 1024);
    bad = await buildOciLayout(join(work, 'bad'), '1');
    five = await buildOciLayout(join(work, 'five'), '1', 2 * 1024 * 1024);
    await push(app, 'team/app');
    await push(other, 'team/other');
    await push(bad, 'team/bad');
    await push(five, 'team/five');
    multi = await buildOciIndexLayout(join(work, 'multi'), '1', ['amd64', 'arm64']);
    await pushLayout(registry, multi.dir, 'team/multi:1', work, { all: true });
    front = await RegistryFront.start(registry.url);
    // The bearer registry sends blob GETs to "object storage" on another port, as large registries do.
    storage = await RegistryFront.start(registry.url, { storage: true });
    bearerFront = await RegistryFront.start(registry.url, { bearer: { username: 'puller', password: 'secret' }, blobRedirect: storage.url });
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'warn',
        oci: {
          // docker.io here is the loopback registry too: the podman client config names docker.io, and nothing leaves the machine.
          registries: { lab: { url: front.url }, 'docker.io': { url: front.url }, secure: { url: bearerFront.url, username: 'puller', password: 'secret' } },
          defaultRegistry: 'lab',
          users: { alice: { password: 'correct horse' } },
        },
      },
    });
    hoardHost = hoard.url.slice('http://'.length);
  });

  after(async () => {
    await hoard?.cleanup();
    await front?.stop();
    await bearerFront?.stop();
    await storage?.stop();
    await registry?.stop();
    if (work !== undefined) await removeDir(work);
  });

  test('GET /v2/ answers 200 with the API version header (401 with a challenge until a user authenticates, as a private registry is configured), without asking any upstream', async () => {
    const before = front.requests.length;
    const anonymous = await get('/v2/');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.equal(((await anonymous.json()) as OciErrorBody).errors[0]?.code, 'UNAUTHORIZED');
    const res = await get('/v2/', { headers: { authorization: alice } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal(front.requests.length, before);
  });

  test('skopeo inspect and copy through hoard get the upstream image byte for byte; a second pull asks nothing by digest upstream', async () => {
    const inspected = await skopeo(['inspect', '--tls-verify=false', '--no-creds', `docker://${hoardHost}/team/app:1`], work);
    assert.equal(inspected.exitCode, 0, inspected.stderr);
    const info = JSON.parse(inspected.stdout) as { Digest: string; Layers: string[] };
    assert.equal(info.Digest, app.manifestDigest);
    assert.deepEqual(info.Layers, app.layers);

    const first = join(work, 'pulled-1');
    const copied = await skopeo(
      ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${hoardHost}/team/app:1`, `oci:${first}:1`],
      work,
    );
    assert.equal(copied.exitCode, 0, copied.stderr);
    for (const digest of [...app.layers, app.configDigest, app.manifestDigest]) {
      const file = `blobs/sha256/${digest.slice('sha256:'.length)}`;
      const pulled = await readFile(join(first, file));
      assert.equal(sha256(pulled), digest);
      assert.deepEqual(pulled, await readFile(join(app.dir, file)));
    }
    await hoard.waitForDownloadsSettled();

    const seen = front.requests.length;
    const second = join(work, 'pulled-2');
    const again = await skopeo(
      ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${hoardHost}/team/app:1`, `oci:${second}:1`],
      work,
    );
    assert.equal(again.exitCode, 0, again.stderr);
    const upstreamAsked = front.requests.slice(seen);
    assert.deepEqual(
      upstreamAsked.filter((r) => /\/(blobs|manifests)\/sha256:/.test(r.path)),
      [],
      'no blob or manifest by digest upstream',
    );
    assert.deepEqual(upstreamAsked, [], 'the tag is fresh too: nothing at all upstream');
  });

  test("podman's registries.conf from `hoard client-config podman` makes skopeo pull docker.io images through hoard", async () => {
    const conf = join(work, 'registries.conf');
    await writeFile(conf, clientConfig('podman', hoard.url));
    const seen = front.requests.length;
    const inspected = await skopeo(['--registries-conf', conf, 'inspect', '--no-tags', '--no-creds', 'docker://docker.io/team/app:1'], work);
    assert.equal(inspected.exitCode, 0, inspected.stderr);
    assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, app.manifestDigest);
    // Through the docker.io registry entry (a leading segment), so fetched once more upstream under that registry's key.
    assert.ok(front.requests.slice(seen).some((r) => r.path === '/v2/team/app/manifests/1'));
  });

  test("containerd's ctr pulls docker.io images through hoard with the hosts.toml of `hoard client-config containerd` (?ns=)", async () => {
    const hosts = join(work, 'certs.d');
    await mkdir(join(hosts, 'docker.io'), { recursive: true });
    await writeFile(join(hosts, 'docker.io', 'hosts.toml'), clientConfig('containerd', hoard.url));
    const containerd = await ContainerdDaemon.start();
    try {
      const seen = front.requests.length;
      const pulled = await containerd.ctr(['images', 'pull', '--hosts-dir', hosts, '--snapshotter', 'native', 'docker.io/team/app:1']);
      assert.equal(pulled.exitCode, 0, pulled.stderr + pulled.stdout);
      const listed = await containerd.ctr(['images', 'ls']);
      assert.match(listed.stdout, new RegExp(`docker.io/team/app:1\\s+\\S+\\s+${app.manifestDigest}`));
      // The tag went through the docker.io entry (?ns=docker.io); its blobs were already cached by digest.
      assert.deepEqual(
        front.requests.slice(seen).filter((r) => r.path.includes('/blobs/')),
        [],
      );
    } finally {
      await containerd.stop();
    }
  });

  test('dockerd with registry-mirrors (`hoard client-config docker-mirror`) pulls Docker Hub names through hoard', async () => {
    const mirrors = (JSON.parse(clientConfig('docker-mirror', hoard.url)) as { 'registry-mirrors': string[] })['registry-mirrors'];
    const docker = await DockerDaemon.start(mirrors[0] ?? '');
    try {
      const pulled = await docker.docker(['pull', 'team/app:1']);
      assert.equal(pulled.exitCode, 0, pulled.stderr + pulled.stdout);
      const inspected = await docker.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', 'team/app:1']);
      assert.deepEqual(JSON.parse(inspected.stdout), [`team/app@${app.manifestDigest}`]);
    } finally {
      await docker.stop();
    }
  });

  test('answers carry Docker-Content-Digest, Content-Type, Content-Length and ETag; Range works on blobs', async () => {
    const head = await get('/v2/team/app/manifests/1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('docker-content-digest'), app.manifestDigest);
    assert.equal(head.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
    assert.ok(Number(head.headers.get('content-length')) > 0);
    assert.match(head.headers.get('etag') ?? '', /^"[a-f0-9]{32}"$/);
    const layer = app.layers[1] as string;
    const blob = await get(`/v2/team/app/blobs/${layer}`, { headers: { range: 'bytes=0-99' } });
    assert.equal(blob.status, 206);
    assert.equal((await blob.arrayBuffer()).byteLength, 100);
    assert.equal(blob.headers.get('docker-content-digest'), layer);
    assert.ok(blob.headers.get('etag'));
    const byDigest = await get(`/v2/team/app/manifests/${app.manifestDigest}`);
    assert.equal(sha256(new Uint8Array(await byDigest.arrayBuffer())), app.manifestDigest);
    assert.equal(byDigest.headers.get('docker-content-digest'), app.manifestDigest);
  });

  test('the three registry choice rules: ?ns=, a leading registry segment, the default registry', async () => {
    for (const path of ['/v2/team/app/manifests/1', '/v2/lab/team/app/manifests/1', '/v2/team/app/manifests/1?ns=lab']) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('docker-content-digest'), app.manifestDigest, path);
      await res.arrayBuffer();
    }
    const seen = front.requests.length;
    const unknownNs = await get('/v2/team/app/manifests/1?ns=elsewhere.example');
    assert.equal(unknownNs.status, 404);
    assert.equal(((await unknownNs.json()) as OciErrorBody).errors[0]?.code, 'NAME_UNKNOWN');
    assert.equal(front.requests.length, seen, 'no upstream request for a registry not mirrored');
    // An unknown leading segment is part of the name on the default registry: asked upstream, unknown there.
    const unknownSegment = await get('/v2/nosuch.example/app/manifests/1');
    assert.equal(unknownSegment.status, 404);
    assert.equal(unknownSegment.headers.get('content-type'), 'application/json');
    assert.equal(((await unknownSegment.json()) as OciErrorBody).errors[0]?.code, 'MANIFEST_UNKNOWN');
    assert.ok(front.requests.some((r) => r.path === '/v2/nosuch.example/app/manifests/1'));
    const unknownBlob = await get(`/v2/team/app/blobs/sha256:${'0'.repeat(64)}`);
    assert.equal(unknownBlob.status, 404);
    assert.equal(((await unknownBlob.json()) as OciErrorBody).errors[0]?.code, 'BLOB_UNKNOWN');
  });

  test('tags/list is passed through', async () => {
    const res = await get('/v2/team/app/tags/list');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'team/app', tags: ['1'] });
  });

  test('tags/list pages: n and last go upstream, the Link comes back pointing at hoard in the spelling asked, a page is never served for another query', async () => {
    for (const tag of ['t1', 't2', 't3', 't4', 't5']) {
      await pushLayout(registry, app.dir, `team/paged:${tag}`, work);
    }
    const page = async (path: string) => {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      // A list (a page, or the whole list the cache keeps) is read whole before it is answered: it carries the digest of its bytes.
      assert.match(res.headers.get('docker-content-digest') ?? '', /^sha256:[a-f0-9]{64}$/);
      return { tags: ((await res.json()) as { tags: string[] }).tags, link: res.headers.get('link') };
    };
    assert.deepEqual(await page('/v2/team/paged/tags/list?n=2'), { tags: ['t1', 't2'], link: '</v2/team/paged/tags/list?n=2&last=t2>; rel="next"' });
    assert.deepEqual(await page('/v2/team/paged/tags/list?n=2&last=t2'), { tags: ['t3', 't4'], link: '</v2/team/paged/tags/list?n=2&last=t4>; rel="next"' });
    assert.deepEqual(await page('/v2/team/paged/tags/list?n=2&last=t4'), { tags: ['t5'], link: null });
    assert.ok(
      front.requests.some((r) => r.path === '/v2/team/paged/tags/list' && r.query === '?n=2&last=t2'),
      'the page went upstream with its query',
    );
    // The whole list (cached) and the pages never stand for one another.
    assert.deepEqual((await page('/v2/team/paged/tags/list')).tags.sort(), ['t1', 't2', 't3', 't4', 't5']);
    assert.deepEqual((await page('/v2/team/paged/tags/list?n=1')).tags, ['t1']);
    assert.deepEqual((await page('/v2/team/paged/tags/list?n=3&last=t1')).tags, ['t2', 't3', 't4']);
    assert.equal((await page('/v2/team/paged/tags/list')).tags.length, 5);
    // The next page is spelt as the client asked: with the registry segment, or containerd's ns.
    assert.equal((await page('/v2/lab/team/paged/tags/list?n=2')).link, '</v2/lab/team/paged/tags/list?n=2&last=t2>; rel="next"');
    assert.equal((await page('/v2/team/paged/tags/list?n=2&ns=lab')).link, '</v2/team/paged/tags/list?n=2&last=t2&ns=lab>; rel="next"');
    const seen = front.requests.length;
    for (const [query, code] of [
      ['n=abc', 'PAGINATION_NUMBER_INVALID'],
      ['n=-1', 'PAGINATION_NUMBER_INVALID'],
      ['n=99999999', 'PAGINATION_NUMBER_INVALID'],
      ['n=2&last=-x', 'MANIFEST_INVALID'],
    ] as const) {
      const res = await get(`/v2/team/paged/tags/list?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(((await res.json()) as OciErrorBody).errors[0]?.code, code, query);
    }
    assert.equal(front.requests.length, seen, 'refused before any upstream request');
    // A page of a private registry is refused to an anonymous client like anything else of it.
    const anonymous = await get('/v2/secure/team/app/tags/list?n=1');
    assert.equal(anonymous.status, 401);
  });

  test('16 concurrent fetches of a cold blob make one upstream request, and every client gets the right bytes', async () => {
    const layer = other.layers[1] as string;
    const path = `/v2/team/other/blobs/${layer}`;
    const bodies = await Promise.all(
      Array.from({ length: 16 }, () => get(path).then(async (r) => ({ status: r.status, bytes: new Uint8Array(await r.arrayBuffer()) }))),
    );
    for (const body of bodies) {
      assert.equal(body.status, 200);
      assert.equal(sha256(body.bytes), layer);
    }
    const asked = front.requests.filter((r) => r.path === path && r.method === 'GET').length;
    assert.equal(asked, 1, `${JSON.stringify(front.requests.filter((r) => r.path === path))}\n${hoard.output().slice(-3000)}`);
  });

  test('a two-architecture image index passes through byte-identical with its media type; skopeo --all and containerd pull it', async () => {
    const head = await get('/v2/team/multi/manifests/1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    assert.equal(head.headers.get('docker-content-digest'), multi.indexDigest);
    const dest = join(work, 'multi-pulled');
    const copied = await skopeo(
      ['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${hoardHost}/team/multi:1`, `oci:${dest}:1`],
      work,
    );
    assert.equal(copied.exitCode, 0, copied.stderr);
    for (const image of Object.values(multi.images)) {
      for (const digest of [image.manifestDigest, image.configDigest, ...image.layers]) {
        assert.equal(sha256(await readFile(join(dest, 'blobs/sha256', digest.slice('sha256:'.length)))), digest);
      }
    }
    assert.equal(sha256(await readFile(join(dest, 'blobs/sha256', multi.indexDigest.slice('sha256:'.length)))), multi.indexDigest);
    const containerd = await ContainerdDaemon.start();
    try {
      // hoard addressed as the registry itself (its default rule), one architecture of the index.
      const pulled = await containerd.ctr([
        'images',
        'pull',
        '--plain-http',
        '--platform',
        'linux/arm64',
        '--snapshotter',
        'native',
        `${hoardHost}/team/multi:1`,
      ]);
      assert.equal(pulled.exitCode, 0, pulled.stderr + pulled.stdout);
      assert.match((await containerd.ctr(['images', 'ls'])).stdout, new RegExp(multi.indexDigest));
    } finally {
      await containerd.stop();
    }
  });

  test('five concurrent cold skopeo pulls of one image make one upstream GET per blob and manifest', async () => {
    const seen = front.requests.length;
    const pulls = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        skopeo(
          ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${hoardHost}/team/five:1`, `oci:${join(work, `five-${i}`)}:1`],
          work,
        ),
      ),
    );
    for (const pulled of pulls) assert.equal(pulled.exitCode, 0, pulled.stderr);
    for (let i = 0; i < 5; i++) {
      for (const layer of five.layers) assert.equal(sha256(await readFile(join(work, `five-${i}`, 'blobs/sha256', layer.slice('sha256:'.length)))), layer);
    }
    const gets = front.requests.slice(seen).filter((r) => r.method === 'GET');
    for (const digest of [...five.layers, five.configDigest]) assert.equal(gets.filter((r) => r.path === `/v2/team/five/blobs/${digest}`).length, 1, digest);
    assert.equal(gets.filter((r) => r.path === '/v2/team/five/manifests/1').length, 1);
  });

  test('a corrupted upstream blob is refused, never stored; the client gets an error', async () => {
    const layer = bad.layers[1] as string;
    const path = `/v2/team/bad/blobs/${layer}`;
    front.corrupt.add(layer);
    const res = await get(path);
    await assert.rejects(res.arrayBuffer(), 'the body is cut before its end');
    const pulled = await skopeo(
      ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${hoardHost}/team/bad:1`, `oci:${join(work, 'pulled-bad')}:1`],
      work,
    );
    assert.notEqual(pulled.exitCode, 0);
    await hoard.waitForDownloadsSettled();
    front.corrupt.delete(layer);
    const before = front.requests.filter((r) => r.path === path && r.method === 'GET').length;
    const good = await get(path);
    assert.equal(sha256(new Uint8Array(await good.arrayBuffer())), layer);
    assert.equal(front.requests.filter((r) => r.path === path && r.method === 'GET').length, before + 1, 'nothing was stored: asked again');
  });

  test('pushes and deletes get 405 UNSUPPORTED, bad names 400 NAME_INVALID, as JSON, with no upstream request', async () => {
    const seen = front.requests.length;
    for (const [method, path] of [
      ['POST', '/v2/team/app/blobs/uploads/'],
      ['PUT', '/v2/team/app/manifests/2'],
      ['PATCH', '/v2/team/app/blobs/uploads/abc'],
      ['DELETE', `/v2/team/app/manifests/${app.manifestDigest}`],
    ] as const) {
      const res = await get(path, { method, body: method === 'DELETE' ? null : 'x' });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(((await res.json()) as OciErrorBody).errors[0]?.code, 'UNSUPPORTED');
    }
    const badName = await get('/v2/Team/App/manifests/1');
    assert.equal(badName.status, 400);
    assert.equal(((await badName.json()) as OciErrorBody).errors[0]?.code, 'NAME_INVALID');
    const badTag = await get('/v2/team/app/manifests/-x');
    assert.equal(((await badTag.json()) as OciErrorBody).errors[0]?.code, 'MANIFEST_INVALID');
    const badDigest = await get('/v2/team/app/blobs/sha256:xyz');
    assert.equal(((await badDigest.json()) as OciErrorBody).errors[0]?.code, 'DIGEST_INVALID');
    assert.equal(front.requests.length, seen);
  });

  test('token flow: a token per scope from the realm with hoard credentials, reused; a 401 gets one new token and one retry', async () => {
    const inspected = await skopeo(['inspect', '--tls-verify=false', '--creds', 'alice:correct horse', `docker://${hoardHost}/secure/team/app:1`], work);
    assert.equal(inspected.exitCode, 0, inspected.stderr);
    assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, app.manifestDigest);
    const basic = `Basic ${Buffer.from('puller:secret').toString('base64')}`;
    assert.deepEqual(bearerFront.tokenRequests, [{ scope: 'repository:team/app:pull', service: 'front', authorization: basic }]);
    // Another object of the same repository: the cached token goes up front.
    const config = await get(`/v2/secure/team/app/blobs/${app.configDigest}`, { headers: { authorization: alice } });
    assert.equal(config.status, 200);
    await config.arrayBuffer();
    assert.equal(bearerFront.tokenRequests.length, 1);
    assert.ok(
      bearerFront.requests.every((r) => r.authorization !== alice),
      "a client's Authorization never goes upstream",
    );
    // Another repository is another scope.
    const otherRepo = await get('/v2/secure/team/other/manifests/1', { headers: { authorization: alice } });
    assert.equal(otherRepo.status, 200);
    await otherRepo.arrayBuffer();
    assert.equal(bearerFront.tokenRequests.length, 2);
    assert.equal(bearerFront.tokenRequests[1]?.scope, 'repository:team/other:pull');
    // The upstream forgets its tokens: one 401, one new token, one retry (for a blob not cached yet: a cached one,
    // whichever registry it came from, is served by its digest without asking).
    bearerFront.revokeTokens();
    const seen = bearerFront.requests.length;
    const layer = await get(`/v2/secure/team/other/blobs/${other.layers[0] as string}`, { headers: { authorization: alice } });
    assert.equal(layer.status, 200);
    assert.equal(sha256(new Uint8Array(await layer.arrayBuffer())), other.layers[0]);
    assert.equal(bearerFront.tokenRequests.length, 3);
    assert.equal(bearerFront.requests.length - seen, 2);
  });

  test('tags: a 429 or a down upstream serves the cached tag with a Warning, digests need no upstream, 429 passes Retry-After on; a moved tag is seen after the max age', async () => {
    await push(bad, 'team/moving');
    const short = await HoardProcess.start({
      config: { logLevel: 'error', oci: { registries: { lab: { url: front.url } }, defaultRegistry: 'lab', tagMaxAgeSeconds: 1 } },
    });
    const at = (path: string, init: RequestInit = {}) => fetch(`${short.url}${path}`, init);
    try {
      const first = await at('/v2/team/moving/manifests/1');
      assert.equal(first.headers.get('docker-content-digest'), bad.manifestDigest);
      await first.arrayBuffer();
      const layer = await at(`/v2/team/moving/blobs/${bad.layers[0] as string}`);
      assert.equal(layer.status, 200);
      await layer.arrayBuffer();
      await short.waitForDownloadsSettled();
      // Past the tag's max age (1 s); bounded wait.
      await new Promise((r) => setTimeout(r, 1200));
      front.override = () => ({ status: 429, headers: { 'retry-after': '7' } });
      const limited = await at('/v2/team/moving/manifests/1');
      assert.equal(limited.status, 200);
      assert.match(limited.headers.get('warning') ?? '', /^111 /);
      assert.equal(limited.headers.get('docker-content-digest'), bad.manifestDigest);
      await limited.arrayBuffer();
      const uncached = await at('/v2/team/app/manifests/1');
      assert.equal(uncached.status, 429);
      assert.equal(uncached.headers.get('retry-after'), '7');
      assert.equal(((await uncached.json()) as OciErrorBody).errors[0]?.code, 'TOOMANYREQUESTS');
      front.override = () => 'down';
      const stale = await at('/v2/team/moving/manifests/1');
      assert.equal(stale.status, 200);
      assert.match(stale.headers.get('warning') ?? '', /^111 /);
      await stale.arrayBuffer();
      const seen = front.requests.length;
      const byDigest = await at(`/v2/team/moving/manifests/${bad.manifestDigest}`);
      assert.equal(byDigest.status, 200, 'a manifest by digest is the bytes of the cached tag: no upstream needed');
      await byDigest.arrayBuffer();
      const blob = await at(`/v2/team/moving/blobs/${bad.layers[0] as string}`);
      assert.equal(sha256(new Uint8Array(await blob.arrayBuffer())), bad.layers[0]);
      assert.equal(front.requests.length, seen);
      front.override = undefined;
      // Past the max age, an unchanged tag costs one HEAD upstream, no GET.
      const beforeHead = front.requests.length;
      const unchanged = await at('/v2/team/moving/manifests/1');
      assert.equal(unchanged.headers.get('x-hoard-cache'), 'REVALIDATED');
      await unchanged.arrayBuffer();
      assert.deepEqual(
        front.requests.slice(beforeHead).map((r) => `${r.method} ${r.path}`),
        ['HEAD /v2/team/moving/manifests/1'],
      );
      // The tag moves upstream: seen once the cached one is older than the max age.
      await push(other, 'team/moving');
      await new Promise((r) => setTimeout(r, 1200));
      const moved = await at('/v2/team/moving/manifests/1');
      assert.equal(moved.headers.get('docker-content-digest'), other.manifestDigest);
      await moved.arrayBuffer();
    } finally {
      front.override = undefined;
      await short.cleanup();
    }
  });

  test('blob redirects to storage on another origin are followed with their query and without any credential', () => {
    const blobs = storage.requests.filter((r) => r.path.startsWith('/bucket/'));
    assert.ok(blobs.length >= 1, 'the token-flow test fetched a blob from storage (the others were already cached by digest)');
    for (const r of blobs) {
      assert.equal(r.authorization, undefined, `${r.path} got a credential`);
      assert.equal(r.query, '?X-Signature=s1gn3d&expires=1');
    }
  });

  test('an anonymous client cannot pull a private image through hoard, even once it is cached', async () => {
    const seen = bearerFront.requests.length;
    const pulled = await skopeo(
      [
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        '--src-no-creds',
        `docker://${hoardHost}/secure/team/app:1`,
        `oci:${join(work, 'pulled-private')}:1`,
      ],
      work,
    );
    assert.notEqual(pulled.exitCode, 0);
    for (const path of ['/v2/secure/team/app/manifests/1', `/v2/secure/team/app/blobs/${app.configDigest}`, `/v2/team/app/manifests/1?ns=secure`]) {
      for (const authorization of [undefined, `Basic ${Buffer.from('alice:wrong').toString('base64')}`]) {
        const res = await get(path, authorization === undefined ? {} : { headers: { authorization } });
        assert.equal(res.status, 401, path);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
        assert.equal(((await res.json()) as OciErrorBody).errors[0]?.code, 'UNAUTHORIZED');
      }
    }
    assert.equal(bearerFront.requests.length, seen, 'refused before any upstream request');
    // The public registry stays open to the same anonymous client (it went on after the /v2/ challenge).
    const open = await skopeo(['inspect', '--tls-verify=false', '--no-creds', `docker://${hoardHost}/team/app:1`], work);
    assert.equal(open.exitCode, 0, open.stderr);
  });

  test('a registry refusing hoard (no valid token) is DENIED as JSON', async () => {
    const denied = await HoardProcess.start({
      config: {
        logLevel: 'error',
        oci: { registries: { secure: { url: bearerFront.url, username: 'puller', password: 'wrong', public: true } }, defaultRegistry: 'secure' },
      },
    });
    try {
      const res = await fetch(`${denied.url}/v2/team/app/manifests/1`);
      assert.equal(res.status, 403);
      assert.equal(((await res.json()) as OciErrorBody).errors[0]?.code, 'DENIED');
    } finally {
      await denied.cleanup();
    }
  });
});
