// End-to-end: the real apt-get (and skopeo) through hoard whose only way out is a counting forward proxy (upstream.proxy and the standard variables).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { AptClient } from '../support/apt-client.ts';
import { updateAndDownloadVerbatim } from '../support/apt-checks.ts';
import { CountingForwardProxy, SourceGate } from '../support/counting-forward-proxy.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { runCommand } from '../support/command-runner.ts';
import { HoardProcess, findFreePort, repoRoot } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { DockerRegistry, buildOciLayout, skopeo, type BuiltImage, pushLayout } from '../support/oci-registry.ts';
import { RegistryFront } from '../support/registry-front.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';
import { ThrowawayCa } from '../support/throwaway-ca.ts';

/** A client's https GET through a CONNECT tunnel opened by hoard (what curl or apt do with an https source and a proxy). */
async function getThroughTunnel(hoardPort: number, authority: string, path: string, caPem: string): Promise<Buffer> {
  const socket: Socket = connect({ host: '127.0.0.1', port: hoardPort });
  await once(socket, 'connect');
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    head = Buffer.concat([head, chunk]);
  }
  assert.match(head.toString('latin1'), /^HTTP\/1\.1 200 /);
  const tls = tlsConnect({ socket, ca: caPem });
  await once(tls, 'secureConnect');
  return new Promise((resolveBody, reject) => {
    const req = request({ host: '127.0.0.1', path, createConnection: () => tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        tls.destroy();
        resolveBody(Buffer.concat(chunks));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The proxy's connections onward come from this loopback address; the gates let nothing else through. */
const proxySource = '127.0.0.3';

describe('hoard behind an outbound proxy', () => {
  let repo: SignedRepo;
  let ca: ThrowawayCa;
  let upstream: FakeUpstreamServer;
  let tlsUpstream: FakeUpstreamServer;
  let directUpstream: FakeUpstreamServer;
  let gate: SourceGate;
  let tlsGate: SourceGate;
  let proxy: CountingForwardProxy;
  let hoard: HoardProcess;
  const extra: HoardProcess[] = [];

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'alpha', version: '1.0', size: 3 * 1024 },
        { name: 'bravo', version: '2.0', size: 300 * 1024, depends: 'alpha' },
      ],
    });
    ca = await ThrowawayCa.create('outbound-proxy-e2e');
    const cert = await ca.issueServerCertificate();
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    tlsUpstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian', tls: { key: cert.keyPem, cert: cert.certPem } });
    directUpstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    // The mirrors are behind a loopback firewall that lets only the proxy's source address in.
    gate = await SourceGate.start({ host: '127.0.0.1', port: upstream.port }, proxySource);
    tlsGate = await SourceGate.start({ host: '127.0.0.1', port: tlsUpstream.port }, proxySource);
    proxy = await CountingForwardProxy.start({ localAddress: proxySource });
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'info',
        tls: { extraCaFiles: [ca.certPath] },
        // The direct mirror is named by host and port: the gated ones are on other ports of the same address.
        upstream: { proxy: proxy.url(), noProxy: [`127.0.0.1:${directUpstream.port}`] },
        // CONNECT pass-through to the https mirror: the tunnel too has to leave through the proxy.
        connect: { allow: [`127.0.0.1:${tlsGate.port}`] },
      },
    });
  });

  after(async () => {
    for (const h of [hoard, ...extra]) await h?.cleanup();
    await proxy?.close();
    await gate?.close();
    await tlsGate?.close();
    for (const u of [upstream, tlsUpstream, directUpstream]) await u?.close();
    await repo?.cleanup();
    await ca?.cleanup();
  });

  async function startHoard(options: Parameters<typeof HoardProcess.start>[0]): Promise<HoardProcess> {
    const started = await HoardProcess.start(options);
    extra.push(started);
    return started;
  }

  const gated = () => `http://127.0.0.1:${gate.port}/debian`;

  async function aptRun(cacheUrl: string, source: string) {
    const apt = await AptClient.create({
      sources: [{ url: source, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: cacheUrl },
    });
    try {
      await updateAndDownloadVerbatim(apt, repo, ['alpha', 'bravo']);
    } finally {
      await apt.cleanup();
    }
  }

  test('the gate works: a hoard without the proxy cannot reach the mirror', async () => {
    const direct = await startHoard({ config: { logLevel: 'warn' } });
    const refused = gate.refused;
    const answer = await probe(`${gated()}/dists/stable/InRelease`, { proxy: direct.url });
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_UNREACHABLE');
    assert.ok(gate.refused > refused);
  });

  test('apt-get update and download through hoard: every upstream request crosses the proxy once, a warm run crosses nothing', async () => {
    upstream.resetStats();
    const before = proxy.requests.length;
    await aptRun(hoard.url, gated());
    const crossed = proxy.requests.slice(before);
    assert.equal(crossed.length, upstream.totalRequests, 'each upstream request came through the proxy');
    assert.ok(
      crossed.every((r) => r.target.startsWith(`http://127.0.0.1:${gate.port}/debian/`)),
      'absolute-form targets',
    );
    for (const p of repo.packages) assert.equal(upstream.hits(p.poolPath), 1, p.name);
    assert.ok(proxy.bytesDown > 300 * 1024);
    const warm = proxy.requests.length;
    await aptRun(hoard.url, gated());
    assert.deepEqual(
      proxy.requests.slice(warm).filter((r) => r.target.includes('/pool/')),
      [],
      'no package crossed the proxy again',
    );
  });

  test('an https mirror is reached with CONNECT through the proxy, its certificate checked by hoard', async () => {
    const connects = proxy.connects.length;
    const answer = await probe(`${hoard.url}/HTTPS///127.0.0.1:${tlsGate.port}/debian/dists/stable/InRelease`);
    assert.equal(answer.status, 200, answer.body.toString());
    assert.deepEqual(
      proxy.connects.slice(connects).map((c) => c.target),
      [`127.0.0.1:${tlsGate.port}`],
    );
    assert.equal(tlsUpstream.hits('dists/stable/InRelease'), 1);
  });

  test("a client's CONNECT tunnel through hoard is opened through the proxy too", async () => {
    const connects = proxy.connects.length;
    const body = await getThroughTunnel(hoard.port, `127.0.0.1:${tlsGate.port}`, '/debian/dists/stable/InRelease', ca.certPem);
    assert.deepEqual(body, await readFile(`${repo.root}/dists/stable/InRelease`));
    assert.deepEqual(
      proxy.connects.slice(connects).map((c) => c.target),
      [`127.0.0.1:${tlsGate.port}`],
    );
  });

  test('noProxy: the mirror it names is reached directly, the proxy sees nothing of it', async () => {
    const total = proxy.total;
    await aptRun(hoard.url, `http://127.0.0.1:${directUpstream.port}/debian`);
    assert.ok(directUpstream.totalRequests > 0);
    assert.equal(proxy.total, total);
  });

  test('without upstream.proxy, HTTP_PROXY is honoured; upstream.proxy: none overrides it', async () => {
    const env = { HTTP_PROXY: proxy.url(), NO_PROXY: 'localhost' };
    const fromEnv = await startHoard({ config: { logLevel: 'info' }, env });
    const before = proxy.requests.length;
    const answer = await probe(`${gated()}/dists/stable/InRelease`, { proxy: fromEnv.url });
    assert.equal(answer.status, 200);
    const crossed = proxy.requests.length;
    assert.ok(crossed > before);
    await fromEnv.waitForLog(/http:\/\/ upstreams through http:\/\/127\.0\.0\.1:\d+ \(HTTP_PROXY\)/);
    const none = await startHoard({ config: { logLevel: 'warn', upstream: { proxy: 'none' } }, env });
    const direct = await probe(`${gated()}/dists/stable/InRelease`, { proxy: none.url });
    assert.equal(direct.status, 502);
    assert.equal(proxy.requests.length, crossed, 'none: the variable was not used');
  });

  test('a proxy that is down: a clear 502 HOARD_ERR_UPSTREAM_PROXY naming it, and its password in no log line', async () => {
    const closed = await findFreePort();
    const down = await startHoard({ config: { logLevel: 'debug', upstream: { proxy: `http://lab:hunter2-secret@127.0.0.1:${closed}` } } });
    const started = Date.now();
    const answer = await probe(`${gated()}/dists/stable/InRelease`, { proxy: down.url });
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_PROXY');
    assert.match(answer.body.toString(), new RegExp(`proxy http://127\\.0\\.0\\.1:${closed} unreachable \\(ECONNREFUSED\\)`));
    assert.ok(Date.now() - started < 5000, 'no long wait for a refused connection');
    const https = await probe(`${down.url}/HTTPS///127.0.0.1:${tlsGate.port}/debian/dists/stable/InRelease`);
    assert.equal(https.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_PROXY');
    await down.stop();
    assert.doesNotMatch(down.output(), /hunter2/);
  });

  test('hoard config check reads the proxy variables too: a bad one fails the check (exit 78) without repeating its password', async () => {
    const check = (env: Record<string, string>) =>
      runCommand(join(repoRoot, 'node_modules/.bin/node'), ['src/main.ts', 'config', 'check', '--config', '/dev/null'], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      });
    const good = await check({ https_proxy: 'http://lab:pw-secret@proxy.example:3128', no_proxy: '.lab.example' });
    assert.equal(good.exitCode, 0, good.stderr);
    assert.match(good.stdout, /https:\/\/ upstreams through http:\/\/proxy\.example:3128 \(https_proxy\), except what no_proxy names/);
    const bad = await check({ HTTPS_PROXY: 'socks5://lab:pw-secret@proxy.example:1080' });
    assert.equal(bad.exitCode, 78);
    assert.match(bad.stderr, /HOARD_ERR_CONFIG: HTTPS_PROXY: the proxy must be an http:\/\/ URL/);
    assert.doesNotMatch(good.stdout + good.stderr + bad.stdout + bad.stderr, /pw-secret/);
  });

  test('a proxy that refuses: CONNECT answered 403 is HOARD_ERR_UPSTREAM_PROXY', async () => {
    proxy.refuse();
    try {
      // By the name `localhost`: an origin hoard has no tunnel open to yet (the one the earlier tests opened to
      // 127.0.0.1 may still be pooled), so this request needs a CONNECT of its own.
      const answer = await probe(`${hoard.url}/HTTPS///localhost:${tlsGate.port}/debian/dists/stable/Release`);
      assert.equal(answer.status, 502);
      assert.equal(answer.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_PROXY');
      assert.match(answer.body.toString(), /refused CONNECT to https:\/\/localhost:\d+ with 403/);
    } finally {
      proxy.accept();
    }
  });
});

describe('an OCI pull through hoard behind an outbound proxy', () => {
  let registry: DockerRegistry;
  let storage: RegistryFront;
  let bearerFront: RegistryFront;
  let proxy: CountingForwardProxy;
  let hoard: HoardProcess;
  let work: string;
  let app: BuiltImage;

  before(async () => {
    work = await makeTempDir('oci-proxy');
    registry = await DockerRegistry.start();
    app = await buildOciLayout(join(work, 'app'), '1', 1024 * 1024);
    await pushLayout(registry, app.dir, 'team/app:1', work);
    storage = await RegistryFront.start(registry.url, { storage: true });
    bearerFront = await RegistryFront.start(registry.url, { bearer: { username: 'puller', password: 'secret' }, blobRedirect: storage.url });
    proxy = await CountingForwardProxy.start();
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'warn',
        upstream: { proxy: proxy.url() },
        oci: { registries: { secure: { url: bearerFront.url, username: 'puller', password: 'secret', public: true } }, defaultRegistry: 'secure' },
      },
    });
  });

  after(async () => {
    await hoard?.cleanup();
    await proxy?.close();
    await bearerFront?.stop();
    await storage?.stop();
    await registry?.stop();
    if (work !== undefined) await removeDir(work);
  });

  test('manifests, the token realm and the blob redirects all cross the proxy, nothing reaches the registry another way', async () => {
    const host = hoard.url.slice('http://'.length);
    const into = join(work, 'pulled');
    const copied = await skopeo(
      ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/team/app:1`, `oci:${into}:1`],
      work,
    );
    assert.equal(copied.exitCode, 0, copied.stderr);
    for (const digest of [...app.layers, app.configDigest]) {
      const file = `blobs/sha256/${digest.slice('sha256:'.length)}`;
      assert.deepEqual(await readFile(join(into, file)), await readFile(join(app.dir, file)), digest);
    }
    const targets = proxy.requests.map((r) => r.target);
    const at = (origin: string) => targets.filter((t) => t.startsWith(`${origin}/`));
    assert.ok(
      at(bearerFront.url).some((t) => t.includes('/v2/team/app/manifests/1')),
      'the manifest',
    );
    assert.ok(
      at(bearerFront.url).some((t) => t.startsWith(`${bearerFront.url}/token?`)),
      'the token realm',
    );
    assert.equal(at(storage.url).length, storage.requests.length, 'every blob redirect hop');
    assert.ok(storage.requests.length >= app.layers.length);
    // Nothing reached the registry's fronts but through the proxy.
    assert.equal(at(bearerFront.url).length, bearerFront.requests.length + bearerFront.tokenRequests.length);
  });
});
