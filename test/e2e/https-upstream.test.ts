// End-to-end: HTTPS repositories through hoard (HTTPS/// in prefix and proxy mode, https backends, the upgrade rule, CONNECT) with a throwaway CA.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { AptClient, type AptRoute } from '../support/apt-client.ts';
import { updateAndDownloadVerbatim } from '../support/apt-checks.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { ThrowawayCa } from '../support/throwaway-ca.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const packages = ['alpha', 'bravo'];

describe('HTTPS repositories through hoard', () => {
  let repo: SignedRepo;
  let ca: ThrowawayCa;
  let otherCa: ThrowawayCa;
  /** The https repository, certificate from `ca`. */
  let tlsUpstream: FakeUpstreamServer;
  /** The same repository over plain http: the upgrade rule must never reach it. */
  let plainUpstream: FakeUpstreamServer;
  /** Trusts `ca` for every https upstream; upgrades plainUpstream's host:port to tlsUpstream; allows CONNECT to tlsUpstream. */
  let hoard: HoardProcess;
  /** Trusts only the system store, plus `ca` for the `secure` backend and `otherCa` for the `wrongca` backend. */
  let strictHoard: HoardProcess;

  before(async () => {
    [repo, ca, otherCa] = await Promise.all([
      SignedRepo.create({
        suite: 'stable',
        packages: [
          { name: 'alpha', version: '1.0', size: 3 * 1024 },
          { name: 'bravo', version: '2.1-3', size: 200 * 1024, depends: 'alpha' },
        ],
      }),
      ThrowawayCa.create('right'),
      ThrowawayCa.create('wrong'),
    ]);
    const cert = await ca.issueServerCertificate();
    tlsUpstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian', tls: { key: cert.keyPem, cert: cert.certPem } });
    plainUpstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    const cache = { indexMaxAgeSeconds: 3600 };
    [hoard, strictHoard] = await Promise.all([
      HoardProcess.start({
        config: {
          logLevel: 'info',
          cache,
          tls: { extraCaFiles: [ca.certPath] },
          httpsUpgrade: { [`127.0.0.1:${plainUpstream.port}`]: tlsUpstream.origin },
          connect: { allow: [`127.0.0.1:${tlsUpstream.port}`] },
        },
      }),
      HoardProcess.start({
        config: {
          logLevel: 'warn',
          cache,
          backends: {
            secure: { mirrors: [tlsUpstream.baseUrl], caFile: ca.certPath },
            wrongca: { mirrors: [tlsUpstream.baseUrl], caFile: otherCa.certPath },
          },
          httpsUpgrade: { [`127.0.0.1:${plainUpstream.port}`]: tlsUpstream.origin },
        },
      }),
    ]);
  });

  after(async () => {
    await Promise.all([hoard?.cleanup(), strictHoard?.cleanup()]);
    await Promise.all([tlsUpstream?.close(), plainUpstream?.close()]);
    await Promise.all([repo?.cleanup(), ca?.cleanup(), otherCa?.cleanup()]);
  });

  /** A fresh apt (no lists, no archives) that updates and downloads every package, checking the bytes. */
  async function aptRun(url: string, route: AptRoute, options: Record<string, string> = {}) {
    const apt = await AptClient.create({ sources: [{ url, suite: repo.suite, keyringPath: repo.keyringPath }], route, options, timeoutMs: 30_000 });
    try {
      await updateAndDownloadVerbatim(apt, repo, packages);
    } finally {
      await apt.cleanup();
    }
  }

  const direct: AptRoute = { kind: 'direct' };
  const pool = (name: string) => repo.package(name).poolPath;

  test('prefix-style http://cache/HTTPS///host:port/debian: fetched over TLS once, then a warm run sends nothing upstream', async () => {
    const source = `${hoard.url}/HTTPS///127.0.0.1:${tlsUpstream.port}/debian`;
    tlsUpstream.resetStats();
    await aptRun(source, direct);
    for (const name of packages) assert.equal(tlsUpstream.hits(pool(name)), 1, `${name} upstream requests`);
    assert.ok(tlsUpstream.hits('dists/stable/InRelease') >= 1);

    tlsUpstream.resetStats();
    await aptRun(source, direct);
    assert.equal(tlsUpstream.totalRequests, 0, `warm run went upstream: ${tlsUpstream.requests.map((r) => r.path).join(', ')}`);
  });

  test('proxy mode with http://HTTPS///host:port/debian sources: the same cache entries, and a miss is fetched over TLS', async () => {
    const proxy: AptRoute = { kind: 'proxy', proxyUrl: hoard.url };
    const source = `http://HTTPS///127.0.0.1:${tlsUpstream.port}/debian`;
    tlsUpstream.resetStats();
    await aptRun(source, proxy);
    assert.equal(tlsUpstream.totalRequests, 0, 'objects cached through the prefix spelling are served to the proxy spelling');

    // apt asks InRelease only; Release is a file nobody has fetched yet.
    const miss = await probe(`${source}/dists/stable/Release`, { proxy: hoard.url });
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['x-hoard-cache'], 'MISS');
    assert.equal(tlsUpstream.hits('dists/stable/Release'), 1);
    const hit = await probe(`${source}/dists/stable/Release`, { proxy: hoard.url });
    assert.equal(hit.headers['x-hoard-cache'], 'HIT');
    assert.equal(sha256(hit.body), sha256(miss.body));
  });

  test('an https backend with its own caFile: cold run over TLS, warm run with no upstream traffic', async () => {
    const source = `${strictHoard.url}/secure`;
    tlsUpstream.resetStats();
    await aptRun(source, direct);
    for (const name of packages) assert.equal(tlsUpstream.hits(pool(name)), 1, `${name} upstream requests`);
    tlsUpstream.resetStats();
    await aptRun(source, direct);
    assert.equal(tlsUpstream.totalRequests, 0);
  });

  test('a certificate no trusted CA vouches for: 502 HOARD_ERR_UPSTREAM_TLS with a clear line, apt fails, nothing stored', async () => {
    tlsUpstream.resetStats();
    const targets = [
      // HTTPS/// origin: this hoard trusts only the system store for origins.
      `${strictHoard.url}/HTTPS///127.0.0.1:${tlsUpstream.port}/debian/dists/stable/InRelease`,
      // A backend whose caFile is another CA.
      `${strictHoard.url}/wrongca/dists/stable/InRelease`,
      `${strictHoard.url}/wrongca/${pool('alpha')}`,
    ];
    for (const url of targets) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const r = await probe(url);
        assert.equal(r.status, 502, url);
        assert.equal(r.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_TLS', url);
        const line = r.body.toString();
        assert.match(
          line,
          /^HOARD_ERR_UPSTREAM_TLS: TLS check of https:\/\/127\.0\.0\.1:\d+ failed: .+\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); .*tls\.extraCaFiles/,
          line,
        );
        assert.equal(line.split('\n').length, 2, 'one line');
      }
    }

    const apt = await AptClient.create({
      sources: [{ url: `${strictHoard.url}/wrongca`, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: direct,
      timeoutMs: 30_000,
    });
    try {
      const update = await apt.update();
      // apt update only warns about an index it could not fetch; the reason reaches the operator in the status line.
      assert.match(update.warnings.join('\n'), /Failed to fetch .*502 +Bad Gateway: TLS check of https:\/\/127\.0\.0\.1:\d+ failed/, update.stderr);
      const download = await apt.download(['alpha']);
      assert.notEqual(download.exitCode, 0, 'apt must not find packages from a repository it could not verify');
    } finally {
      await apt.cleanup();
    }
    // The handshake failed before any HTTP request: the upstream served nothing, so nothing could be stored.
    assert.equal(tlsUpstream.totalRequests, 0);
  });

  test('the upgrade rule on a hoard that does not trust the CA: 502, never a fallback to plain http', async () => {
    plainUpstream.resetStats();
    const r = await probe(`${plainUpstream.baseUrl}/dists/stable/InRelease`, { proxy: strictHoard.url });
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_TLS');
    assert.equal(plainUpstream.totalRequests, 0, 'nothing crossed the network in clear text');
  });

  test('the upgrade rule: http sources unchanged, every upstream request goes over TLS', async () => {
    plainUpstream.resetStats();
    tlsUpstream.resetStats();
    await aptRun(plainUpstream.baseUrl, { kind: 'proxy', proxyUrl: hoard.url });
    assert.equal(plainUpstream.totalRequests, 0, 'the http upstream was contacted');
    // The http spelling is its own cache key: what was not already in the store by digest (the verified
    // index names the same bytes under the HTTPS/// spelling) came from the TLS server, at most once.
    for (const name of packages) assert.ok(tlsUpstream.hits(pool(name)) <= 1, `${name} fetched at most once over TLS`);
    assert.ok(tlsUpstream.hits('dists/stable/InRelease') >= 1);

    // Prefix mode names the same http origin, so it reaches the same (upgraded) cache entries.
    tlsUpstream.resetStats();
    await aptRun(plainUpstream.baseUrl, { kind: 'prefix', cacheUrl: hoard.url });
    assert.equal(tlsUpstream.totalRequests + plainUpstream.totalRequests, 0);
  });

  test('CONNECT to a listed host:port is tunnelled end to end (apt over TLS through hoard) and logged', async () => {
    tlsUpstream.resetStats();
    // apt speaks TLS to the repository itself, through a CONNECT tunnel; hoard sees only ciphertext.
    await aptRun(tlsUpstream.baseUrl, { kind: 'proxy', proxyUrl: hoard.url }, { 'Acquire::https::CaInfo': ca.certPath });
    for (const name of packages) assert.equal(tlsUpstream.hits(pool(name)), 1, `${name} through the tunnel`);
    await hoard.waitForLog(/"method":"CONNECT".*"result":"passthrough"/);
    await hoard.waitForLog(/tunnel open/);

    // A raw tunnel: CONNECT, 200, then a TLS handshake and a request over it.
    const body = await throughTunnel(hoard.port, `127.0.0.1:${tlsUpstream.port}`, `/debian/${pool('alpha')}`, ca.certPem);
    assert.equal(sha256(body), repo.package('alpha').sha256);
  });

  test('CONNECT to an unlisted host:port is refused with a one-line 403 that says how to allow or rewrite it', async () => {
    const answer = await rawConnect(hoard.port, `127.0.0.1:${plainUpstream.port}`);
    assert.match(answer, /^HTTP\/1\.1 403 /);
    assert.match(answer, /x-hoard-error: HOARD_ERR_CONNECT_REFUSED/i);
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    assert.equal(body.split('\n').length, 2, 'one line');
    assert.match(body, /^HOARD_ERR_CONNECT_REFUSED: no tunnel to /);
    // apt prints the status line of a refused CONNECT, not the body: the way out is there too.
    assert.match(head.split('\r\n')[0] ?? '', /^HTTP\/1\.1 403 Forbidden: no tunnel to .*connect\.allow$/);
    assert.match(body, new RegExp(`http://HTTPS///127\\.0\\.0\\.1:${plainUpstream.port}/`));
    assert.match(body, new RegExp(`"127\\.0\\.0\\.1:${plainUpstream.port}" to connect\\.allow`));
    // A hoard with no connect.allow refuses even the destination the other one allows.
    assert.match(await rawConnect(strictHoard.port, `127.0.0.1:${tlsUpstream.port}`), /^HTTP\/1\.1 403 /);
    assert.equal(plainUpstream.totalRequests, 0);

    // What an apt user sees when their https source goes to a hoard that does not tunnel it.
    const apt = await AptClient.create({
      sources: [{ url: tlsUpstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: strictHoard.url },
      options: { 'Acquire::https::CaInfo': ca.certPath },
      timeoutMs: 30_000,
    });
    try {
      const update = await apt.update();
      assert.match(
        update.warnings.join('\n'),
        /Failed to fetch https:.*403 Forbidden: no tunnel to 127\.0\.0\.1:\d+; to cache it, use http:\/\/HTTPS\/\/\/127\.0\.0\.1:\d+\/<path> sources/,
        update.stderr,
      );
    } finally {
      await apt.cleanup();
    }
  });
});

test('a CA file that cannot be used stops start-up with a message naming the key', async () => {
  await assert.rejects(
    HoardProcess.start({
      config: { backends: { private: { mirrors: ['https://mirror.example/debian'], caFile: '/nonexistent/hoard-test-ca.pem' } } },
      startTimeoutMs: 10_000,
    }),
    (err: Error) => /backends\.private\.caFile: cannot read CA file \/nonexistent\/hoard-test-ca\.pem/.test(err.message) && /code 78/.test(err.message),
  );
});

/** Sends a CONNECT and returns everything hoard answers until it closes the connection. */
async function rawConnect(port: number, target: string): Promise<string> {
  return new Promise((resolveAnswer, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer to CONNECT')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => resolveAnswer(Buffer.concat(chunks).toString()));
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  });
}

/** Opens a tunnel through hoard, verifies the destination's certificate against `caPem` and GETs `path` over it. */
async function throughTunnel(port: number, target: string, path: string, caPem: string): Promise<Buffer> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  const head = await new Promise<string>((resolveHead, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolveHead(seen);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  assert.match(head, /^HTTP\/1\.1 200 Connection Established\r\n\r\n$/);
  const tls = tlsConnect({ socket, ca: caPem, servername: 'localhost' });
  await new Promise<void>((resolveSecure, reject) => {
    tls.once('secureConnect', resolveSecure);
    tls.once('error', reject);
  });
  tls.write(`GET ${path} HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of tls) chunks.push(chunk as Buffer);
  const response = Buffer.concat(chunks);
  const split = response.indexOf('\r\n\r\n');
  assert.match(response.subarray(0, split).toString(), /^HTTP\/1\.1 200 /);
  return response.subarray(split + 4);
}
