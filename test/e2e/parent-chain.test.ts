// End-to-end: site hoards whose parent is a central hoard in front of the test mirror (real apt-get), registries (skopeo) and image streams, and a loop between two hoards.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AptClient } from '../support/apt-client.ts';
import { updateAndDownloadVerbatim } from '../support/apt-checks.ts';
import { CountingForwardProxy } from '../support/counting-forward-proxy.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess, findFreePort } from '../support/hoard-process.ts';
import { ImageStream } from '../support/image-stream-builder.ts';
import { probe } from '../support/http-probe.ts';
import { DockerRegistry, buildOciLayout, skopeo, type BuiltImage, pushLayout } from '../support/oci-registry.ts';
import { RegistryFront } from '../support/registry-front.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { ThrowawayCa } from '../support/throwaway-ca.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

describe('a parent chain: site hoard -> central hoard -> mirror', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let central: HoardProcess;
  /** Between the sites and the central hoard, counting what the sites ask of it. */
  let wire: CountingForwardProxy;
  const hoards: HoardProcess[] = [];

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'alpha', version: '1.0', size: 3 * 1024 },
        { name: 'bravo', version: '2.0', size: 500 * 1024, depends: 'alpha' },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    central = await HoardProcess.start({ config: { logLevel: 'warn' } });
    hoards.push(central);
    wire = await CountingForwardProxy.start();
  });

  after(async () => {
    for (const h of hoards) await h.cleanup();
    await wire?.close();
    await upstream?.close();
    await repo?.cleanup();
  });

  async function site(parent: string): Promise<HoardProcess> {
    const started = await HoardProcess.start({ config: { logLevel: 'info', upstream: { parent } } });
    hoards.push(started);
    return started;
  }

  async function aptThrough(cache: HoardProcess) {
    const apt = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: cache.url },
    });
    try {
      await updateAndDownloadVerbatim(apt, repo, ['alpha', 'bravo']);
    } finally {
      await apt.cleanup();
    }
  }

  test('apt-get through a site: fetched once upstream (by the central hoard); a second site fetches nothing upstream', async () => {
    const first = await site(central.url);
    await first.waitForLog(/upstream requests go to the parent http:\/\/127\.0\.0\.1:\d+ \(upstream\.parent\)/);
    upstream.resetStats();
    await aptThrough(first);
    for (const p of repo.packages) assert.equal(upstream.hits(p.poolPath), 1, p.name);
    const cold = upstream.totalRequests;
    assert.ok(cold > 0);

    const second = await site(central.url);
    await aptThrough(second);
    assert.equal(upstream.hits(/\/pool\//), repo.packages.length, 'no package fetched upstream again');
    // Only mutable indices may be revalidated (the central cache's own freshness rules); nothing else crosses.
    const again = upstream.requests.slice(cold).filter((r) => !/\/(In)?Release(\.gpg)?$/.test(r.path));
    assert.deepEqual(
      again.map((r) => r.path),
      [],
    );
  });

  test('the site asks its parent in absolute-form and passes the Via chain; its own cache answers a warm run', async () => {
    // The counting proxy stands in for the parent's address, forwarding to it: what the site sends is recorded.
    const recorder = await site(wire.url());
    const viaRecorder = wire.requests.length;
    const answer = await probe(`${upstream.baseUrl}/dists/stable/InRelease`, { proxy: recorder.url, headers: { via: '1.1 lab-proxy' } });
    // The counting proxy forwards absolute-form http targets itself: the mirror answered through it.
    assert.equal(answer.status, 200);
    const sent = wire.requests.slice(viaRecorder);
    assert.equal(sent[0]?.target, `${upstream.baseUrl}/dists/stable/InRelease`);
    assert.match(String(sent[0]?.headers.via), /^1\.1 lab-proxy, 1\.1 hoard-[0-9a-f]+$/);
    const warm = await probe(`${upstream.baseUrl}/pool/main/a/alpha/${basename(repo.package('alpha').poolPath)}`, { proxy: recorder.url });
    assert.equal(warm.status, 200);
    const again = await probe(`${upstream.baseUrl}/pool/main/a/alpha/${basename(repo.package('alpha').poolPath)}`, { proxy: recorder.url });
    assert.equal(again.headers['x-hoard-cache'], 'HIT');
  });

  test('an https mirror through the parent: the site asks in absolute-form https://, the central hoard speaks TLS and checks the certificate', async () => {
    const ca = await ThrowawayCa.create('parent-chain');
    const cert = await ca.issueServerCertificate();
    const tlsUpstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian', tls: { key: cert.keyPem, cert: cert.certPem } });
    try {
      const trusting = await HoardProcess.start({ config: { logLevel: 'warn', tls: { extraCaFiles: [ca.certPath] } } });
      hoards.push(trusting);
      const s = await site(trusting.url);
      const target = `/HTTPS///127.0.0.1:${tlsUpstream.port}/debian/dists/stable/InRelease`;
      const answer = await probe(`${s.url}${target}`);
      assert.equal(answer.status, 200, answer.body.toString());
      assert.deepEqual(answer.body, await readFile(join(repo.root, 'dists/stable/InRelease')));
      assert.equal(tlsUpstream.hits('dists/stable/InRelease'), 1);
      // The parent's trust decides: one that does not know the CA refuses, and the site says so.
      const strict = await HoardProcess.start({ config: { logLevel: 'warn' } });
      hoards.push(strict);
      const refused = await probe(`${(await site(strict.url)).url}${target}`);
      assert.equal(refused.status, 502);
      assert.equal(refused.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_TLS');
      assert.match(
        refused.body.toString(),
        /^HOARD_ERR_UPSTREAM_TLS: parent http:\/\/127\.0\.0\.1:\d+ answered 502: HOARD_ERR_UPSTREAM_TLS: TLS check of https:\/\/127\.0\.0\.1:\d+ failed/,
      );
    } finally {
      await tlsUpstream.close();
      await ca.cleanup();
    }
  });

  test("an https parent (hoard's own TLS listener): the site checks its certificate with tls.extraCaFiles", async () => {
    const httpsPort = await findFreePort();
    const tlsCentral = await HoardProcess.start({ config: { logLevel: 'info', https: { listen: `127.0.0.1:${httpsPort}` } } });
    hoards.push(tlsCentral);
    await tlsCentral.waitForLog(/https listener up/);
    const certFile = join(tlsCentral.dataDir, 'tls', 'hoard.crt');
    const trusting = await HoardProcess.start({
      config: { logLevel: 'warn', upstream: { parent: `https://127.0.0.1:${httpsPort}` }, tls: { extraCaFiles: [certFile] } },
    });
    hoards.push(trusting);
    const answer = await probe(`${upstream.baseUrl}/dists/stable/InRelease`, { proxy: trusting.url });
    assert.equal(answer.status, 200, answer.body.toString());
    // A site that does not trust the parent's certificate refuses to talk to it.
    const wary = await site(`https://127.0.0.1:${httpsPort}`);
    const refused = await probe(`${upstream.baseUrl}/dists/stable/Release`, { proxy: wary.url });
    assert.equal(refused.status, 502);
    assert.equal(refused.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_TLS');
  });

  test('a parent that is down: 502 HOARD_ERR_UPSTREAM_PROXY naming the parent', async () => {
    const closed = await findFreePort();
    const orphan = await site(`http://127.0.0.1:${closed}`);
    const answer = await probe(`${upstream.baseUrl}/dists/stable/InRelease`, { proxy: orphan.url });
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_PROXY');
    assert.match(answer.body.toString(), new RegExp(`parent http://127\\.0\\.0\\.1:${closed} unreachable`));
  });

  test("two hoards that are each other's parent: 508 at once, one request each way, nothing upstream", async () => {
    const [portA, portB] = [await findFreePort(), await findFreePort()];
    const a = await HoardProcess.start({ port: portA, config: { logLevel: 'info', upstream: { parent: `http://127.0.0.1:${portB}` } } });
    hoards.push(a);
    const b = await HoardProcess.start({ port: portB, config: { logLevel: 'info', upstream: { parent: `http://127.0.0.1:${portA}` } } });
    hoards.push(b);
    upstream.resetStats();
    const started = Date.now();
    const answer = await probe(`${upstream.baseUrl}/dists/stable/InRelease`, { proxy: a.url, timeoutMs: 20_000 });
    const elapsed = Date.now() - started;
    assert.equal(answer.status, 508, answer.body.toString());
    assert.equal(answer.headers['x-hoard-error'], 'HOARD_ERR_LOOP_DETECTED');
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.equal(upstream.totalRequests, 0);
    // A asked B, B asked A, A refused: two request lines at A (the client's and B's), one at B.
    const lines = (h: HoardProcess) => h.logs.filter((l) => l.text.includes('dists/stable/InRelease') && l.text.includes('"msg":"request"')).length;
    await a.waitForLog(/"status":508.*"msg":"request"/);
    await new Promise((settle) => setTimeout(settle, 500));
    assert.deepEqual([lines(a), lines(b)], [2, 1], `not one round: ${lines(a)} request lines at A, ${lines(b)} at B\n${a.output()}\n${b.output()}`);
  });
});

describe('OCI through a parent: skopeo pulls from a site hoard whose parent mirrors the registries', () => {
  let registry: DockerRegistry;
  let front: RegistryFront;
  let storage: RegistryFront;
  let bearerFront: RegistryFront;
  let privateFront: RegistryFront;
  let central: HoardProcess;
  let work: string;
  let app: BuiltImage;
  let other: BuiltImage;
  const hoards: HoardProcess[] = [];

  before(async () => {
    work = await makeTempDir('oci-parent');
    registry = await DockerRegistry.start();
    app = await buildOciLayout(join(work, 'app'), '1', 2 * 1024 * 1024);
    other = await buildOciLayout(join(work, 'other'), '1', 1024 * 1024);
    for (const [image, name] of [
      [app, 'team/app'],
      [other, 'team/other'],
    ] as const) {
      await pushLayout(registry, image.dir, `${name}:1`, work);
    }
    front = await RegistryFront.start(registry.url);
    storage = await RegistryFront.start(registry.url, { storage: true });
    bearerFront = await RegistryFront.start(registry.url, { bearer: { username: 'puller', password: 'secret' }, blobRedirect: storage.url });
    privateFront = await RegistryFront.start(registry.url, { bearer: { username: 'puller', password: 'secret' } });
    // The central hoard holds the credentials and follows token realms and blob redirects; the sites know only the URLs.
    central = await HoardProcess.start({
      config: {
        logLevel: 'warn',
        oci: {
          registries: {
            lab: { url: front.url },
            secure: { url: bearerFront.url, username: 'puller', password: 'secret', public: true },
            // Served only to clients that authenticate as one of oci.users: a site does, with its registry credentials.
            private: { url: privateFront.url, username: 'puller', password: 'secret' },
          },
          defaultRegistry: 'lab',
          users: { site: { password: 'site-password' } },
        },
      },
    });
    hoards.push(central);
  });

  after(async () => {
    for (const h of hoards) await h.cleanup();
    await front?.stop();
    await bearerFront?.stop();
    await privateFront?.stop();
    await storage?.stop();
    await registry?.stop();
    if (work !== undefined) await removeDir(work);
  });

  async function site(): Promise<HoardProcess> {
    const started = await HoardProcess.start({
      config: {
        logLevel: 'warn',
        upstream: { parent: central.url },
        oci: { registries: { lab: { url: front.url }, secure: { url: bearerFront.url } }, defaultRegistry: 'lab' },
      },
    });
    hoards.push(started);
    return started;
  }

  async function pull(from: HoardProcess, image: string, into: string, built: BuiltImage = app): Promise<void> {
    const host = from.url.slice('http://'.length);
    const copied = await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/${image}`, `oci:${into}:1`], work);
    assert.equal(copied.exitCode, 0, copied.stderr);
    for (const digest of [...built.layers, built.configDigest, built.manifestDigest]) {
      const file = `blobs/sha256/${digest.slice('sha256:'.length)}`;
      assert.deepEqual(await readFile(join(into, file)), await readFile(join(built.dir, file)), digest);
    }
  }

  test('a site pulls through its parent: each blob crosses the registry once; a second site asks the registry nothing by digest', async () => {
    const first = await site();
    await pull(first, 'team/app:1', join(work, 'first'));
    const blobGets = () => front.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).length;
    assert.equal(blobGets(), app.layers.length + 1, 'layers and config, once each');
    await central.waitForDownloadsSettled();
    const before = front.requests.length;
    const second = await site();
    await pull(second, 'team/app:1', join(work, 'second'));
    // A tag is revalidated by the central hoard when its copy is older than tagMaxAgeSeconds; nothing by digest goes upstream.
    assert.deepEqual(
      front.requests.slice(before).filter((r) => r.path.includes('sha256:')),
      [],
    );
  });

  test('a registry with a token flow and blob redirects: the parent authenticates and follows them, the site sends no credentials', async () => {
    const s = await site();
    await pull(s, 'secure/team/other:1', join(work, 'secure'), other);
    assert.ok(bearerFront.tokenRequests.length >= 1, 'the central hoard fetched a token');
    assert.ok(storage.requests.length >= other.layers.length, 'blob redirects were followed (by the parent)');
    assert.ok(
      bearerFront.requests.filter((r) => r.authorization !== undefined).every((r) => r.authorization?.startsWith('Bearer ')),
      'only the central hoard tokens reached the registry',
    );
  });

  test('a registry the parent serves only to its users: the site presents its registry credentials to the parent', async () => {
    const withCredentials = await HoardProcess.start({
      config: {
        logLevel: 'warn',
        upstream: { parent: central.url },
        oci: { registries: { private: { url: privateFront.url, username: 'site', password: 'site-password', public: true } }, defaultRegistry: 'private' },
      },
    });
    hoards.push(withCredentials);
    await pull(withCredentials, 'team/other:1', join(work, 'private'), other);
    assert.ok(privateFront.tokenRequests.length >= 1, 'the central hoard authenticated upstream with its own credentials');
    // A site without them: the parent answers 401, which the site reports as its upstream refusing it (DENIED).
    const without = await HoardProcess.start({
      config: { logLevel: 'warn', upstream: { parent: central.url }, oci: { registries: { private: { url: privateFront.url } }, defaultRegistry: 'private' } },
    });
    hoards.push(without);
    const host = without.url.slice('http://'.length);
    const refused = await skopeo(['inspect', '--tls-verify=false', '--no-creds', `docker://${host}/team/app:1`], work);
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.stderr, /denied: the upstream registry refused the credentials or token of this mirror/);
  });
});

describe('image streams through a parent', () => {
  let stream: ImageStream;
  let upstream: FakeUpstreamServer;
  const hoards: HoardProcess[] = [];

  before(async () => {
    stream = await ImageStream.create({ squashfsSize: 512 * 1024 });
    upstream = await FakeUpstreamServer.start({ root: stream.root, prefix: '/mirror' });
  });

  after(async () => {
    for (const h of hoards) await h.cleanup();
    await upstream?.close();
    await stream?.cleanup();
  });

  test('sites list the stream with the same URL as the central hoard: fetched upstream once for all of them', async () => {
    const images = { test: { url: `${upstream.baseUrl}/`, keyring: stream.keyring.publicKeyringPath } };
    const central = await HoardProcess.start({ config: { logLevel: 'warn', images } });
    hoards.push(central);
    const sites: HoardProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await HoardProcess.start({ config: { logLevel: 'warn', upstream: { parent: central.url }, images } });
      hoards.push(s);
      sites.push(s);
    }
    const squashfs = stream.file('squashfs');
    for (const s of sites) {
      for (const file of [stream.file('lxd-meta'), squashfs]) {
        const got = await probe(`${s.url}/images/test/${file.path}`);
        assert.equal(got.status, 200, `${file.path}: ${got.body.toString().slice(0, 200)}`);
        assert.equal(createHash('sha256').update(got.body).digest('hex'), file.sha256, file.path);
      }
      await s.waitForDownloadsSettled();
    }
    assert.equal(upstream.hits(squashfs.path, 'GET'), 1, 'one upstream fetch for both sites');
  });
});
