// End-to-end: the real apt-get through hoard in proxy, prefix and backend mode against a signed repository on loopback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AptClient } from '../support/apt-client.ts';
import { updateAndDownloadVerbatim } from '../support/apt-checks.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { request } from 'node:http';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const packages = ['alpha', 'bravo', 'charlie', 'delta'];

describe('apt-get through hoard', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'alpha', version: '1.0', size: 3 * 1024 },
        { name: 'bravo', version: '2.1-3', size: 60 * 1024, depends: 'alpha' },
        { name: 'charlie', version: '1:0.9~rc1+dfsg', size: 400 * 1024 },
        { name: 'delta', version: '5', size: 2 * 1024 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    hoard = await HoardProcess.start({ config: { logLevel: 'warn', cache: { indexMaxAgeSeconds: 1 } } });
  });

  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  async function runApt(route: 'proxy' | 'prefix') {
    const apt = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: route === 'proxy' ? { kind: 'proxy', proxyUrl: hoard.url } : { kind: 'prefix', cacheUrl: hoard.url },
    });
    try {
      await updateAndDownloadVerbatim(apt, repo, packages);
    } finally {
      await apt.cleanup();
    }
  }

  test('proxy mode: a cold run fetches each package upstream once; a warm run with fresh apt state fetches none', async () => {
    upstream.resetStats();
    await runApt('proxy');
    for (const p of repo.packages) assert.equal(upstream.hits(p.poolPath), 1, `${p.name} upstream requests`);
    upstream.resetStats();
    await runApt('proxy');
    for (const p of repo.packages) assert.equal(upstream.hits(p.poolPath), 0, `${p.name} fetched again`);
  });

  test('prefix mode reaches the same cached objects: no package crosses upstream again', async () => {
    upstream.resetStats();
    await runApt('prefix');
    for (const p of repo.packages) assert.equal(upstream.hits(p.poolPath), 0, `${p.name} fetched again`);
  });

  test('a new generation upstream is seen by apt once the index age has passed', async () => {
    await repo.publish({ add: [{ name: 'alpha', version: '1.1', size: 3 * 1024 }] });
    await new Promise((r) => setTimeout(r, 1200));
    const apt = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: hoard.url },
    });
    try {
      assert.equal((await apt.update()).exitCode, 0);
      const policy = await apt.aptCache(['policy', 'alpha']);
      assert.match(policy.stdout, /Candidate: 1\.1/);
      const download = await apt.download(['alpha']);
      assert.equal(download.exitCode, 0, download.stderr);
      assert.equal(sha256(await readFile(download.debs[0]!)), repo.package('alpha').sha256);
    } finally {
      await apt.cleanup();
    }
  });

  test('16 concurrent clients on one uncached file: one upstream request, identical bytes, first bytes before the upstream finished', async () => {
    await repo.publish({ add: [{ name: 'big', version: '1', size: 6 * 1024 * 1024 }] });
    const big = repo.package('big');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    upstream.misbehave(big.poolPath, faults.holdUntil(held, { afterBytes: 1024 * 1024 }), { times: 1 });
    upstream.resetStats();
    let released = false;
    const url = `${upstream.baseUrl}/${big.poolPath}`;
    const clients = Array.from({ length: 16 }, () => fetchThroughProxy(hoard.url, url, () => !released));
    // Bounded wait until every client has its first bytes; the upstream is still holding back the rest.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && clients.some((c) => !c.firstBytes)) await new Promise((r) => setTimeout(r, 20));
    released = true;
    release();
    const results = await Promise.all(clients.map((c) => c.done));
    assert.equal(upstream.hits(big.poolPath), 1, 'upstream requests');
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.firstBytesWhileHeld, true, 'first bytes arrived while the upstream was still sending');
      assert.equal(sha256(r.body), big.sha256);
    }
  });

  test('upstream cuts the connection half-way: the client sees an error, nothing is stored, the next request succeeds', async () => {
    await repo.publish({ add: [{ name: 'cut', version: '1', size: 1024 * 1024 }] });
    const cut = repo.package('cut');
    upstream.misbehave(cut.poolPath, faults.cutAfter(300 * 1024), { times: 1 });
    const url = `${upstream.baseUrl}/${cut.poolPath}`;
    const broken = await probe(url, { proxy: hoard.url });
    assert.equal(broken.complete, false, 'the cut body must not look whole');
    const again = await probe(url, { proxy: hoard.url });
    assert.equal(again.status, 200);
    assert.ok(again.complete);
    assert.equal(sha256(again.body), cut.sha256);
    assert.equal(again.headers['x-hoard-cache'], 'MISS');
  });

  test('a restart, even after SIGKILL, keeps every complete object and serves it without upstream traffic', async () => {
    const delta = repo.package('delta');
    // Complete means stored: the index entry follows the end of the response by the fsyncs.
    await hoard.waitForDownloadsSettled();
    await hoard.restart({ hard: true });
    upstream.resetStats();
    const r = await probe(`${upstream.baseUrl}/${delta.poolPath}`, { proxy: hoard.url });
    assert.equal(r.status, 200);
    assert.equal(sha256(r.body), delta.sha256);
    assert.equal(r.headers['x-hoard-cache'], 'HIT');
    assert.equal(upstream.totalRequests, 0);
  });
});

describe('named backends fail over between mirrors', () => {
  test('the first mirror down and the second answering 5xx: the third serves', async () => {
    const repo = await SignedRepo.create({ suite: 'stable', packages: [{ name: 'alpha', version: '1', size: 10_000 }] });
    const broken = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    const good = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    broken.misbehave(/./, faults.status(503));
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    const closedPort = 1;
    const hoard = await HoardProcess.start({
      config: { logLevel: 'warn', backends: { deb: { mirrors: [`http://127.0.0.1:${closedPort}/debian`, broken.baseUrl, good.baseUrl] } } },
    });
    try {
      const apt = await AptClient.create({
        sources: [{ url: `${hoard.url}/deb`, suite: repo.suite, keyringPath: repo.keyringPath }],
        route: { kind: 'direct' },
      });
      try {
        const update = await apt.update();
        assert.equal(update.exitCode, 0, update.stderr);
        assert.deepEqual(update.warnings, [], update.stdout + update.stderr + hoard.output());
        const download = await apt.download(['alpha']);
        assert.equal(download.exitCode, 0, download.stderr);
        assert.equal(sha256(await readFile(download.debs[0]!)), repo.package('alpha').sha256);
      } finally {
        await apt.cleanup();
      }
      assert.ok(broken.totalRequests > 0, 'the 5xx mirror was tried');
      assert.equal(good.hits(repo.package('alpha').poolPath), 1);
    } finally {
      await hoard.cleanup();
      await broken.close();
      await good.close();
      await repo.cleanup();
    }
  });
});

interface ProxyFetch {
  firstBytes: boolean;
  done: Promise<{ status: number; body: Buffer; firstBytesWhileHeld: boolean }>;
}

/** A GET through the proxy that notes whether its first body bytes came while `stillHeld()` was true. */
function fetchThroughProxy(proxy: string, url: string, stillHeld: () => boolean): ProxyFetch {
  const state: ProxyFetch = { firstBytes: false, done: Promise.resolve({ status: 0, body: Buffer.alloc(0), firstBytesWhileHeld: false }) };
  const p = new URL(proxy);
  state.done = new Promise((resolve, reject) => {
    const req = request({ host: p.hostname, port: p.port, path: url, method: 'GET', timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      let whileHeld = false;
      res.on('data', (c: Buffer) => {
        if (!state.firstBytes) {
          state.firstBytes = true;
          whileHeld = stillHeld();
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), firstBytesWhileHeld: whileHeld }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
  return state;
}

describe('resilience of the core', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'small', version: '1', size: 5000 },
        { name: 'killed', version: '1', size: 3 * 1024 * 1024 },
        { name: 'shared', version: '1', size: 3 * 1024 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    hoard = await HoardProcess.start({ config: { logLevel: 'warn', cache: { indexMaxAgeSeconds: 0 } } });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  test('a client that hangs up does not stop the download for the others', async () => {
    const p = repo.package('shared');
    let release!: () => void;
    upstream.misbehave(p.poolPath, faults.holdUntil(new Promise<void>((r) => (release = r)), { afterBytes: 256 * 1024 }), { times: 1 });
    const url = `${upstream.baseUrl}/${p.poolPath}`;
    const quitter = probe(url, { proxy: hoard.url, timeoutMs: 300 });
    const stayer = probe(url, { proxy: hoard.url, timeoutMs: 20_000 });
    assert.equal((await quitter).complete, false);
    release();
    const r = await stayer;
    assert.equal(sha256(r.body), p.sha256);
    assert.equal(upstream.hits(p.poolPath), 1);
  });

  test('SIGKILL mid-download: after restart no partial object is served and the file is fetched again whole', async () => {
    const p = repo.package('killed');
    let release!: () => void;
    upstream.misbehave(p.poolPath, faults.holdUntil(new Promise<void>((r) => (release = r)), { afterBytes: 1024 * 1024 }), { times: 1 });
    const url = `${upstream.baseUrl}/${p.poolPath}`;
    const doomed = probe(url, { proxy: hoard.url, timeoutMs: 20_000 });
    await upstream.waitForRequest(p.poolPath, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    await hoard.restart({ hard: true });
    release();
    assert.equal((await doomed).complete, false);
    assert.deepEqual(await readdir(join(hoard.dataDir, 'tmp')), [], 'no partial download survives a restart');
    const again = await probe(url, { proxy: hoard.url, timeoutMs: 20_000 });
    assert.equal(again.status, 200);
    assert.equal(again.headers['x-hoard-cache'], 'MISS');
    assert.equal(sha256(again.body), p.sha256);
  });

  test('an unreachable upstream: the cached index is served with a Warning header', async () => {
    const path = `${upstream.baseUrl}/${repo.distPath('InRelease')}`;
    const first = await probe(path, { proxy: hoard.url });
    assert.equal(first.status, 200);
    upstream.misbehave(/InRelease$/, faults.drop());
    const stale = await probe(path, { proxy: hoard.url });
    assert.equal(stale.status, 200);
    assert.deepEqual(stale.body, first.body);
    assert.match(String(stale.headers.warning), /^111 hoard "Revalidation Failed/);
    assert.equal(stale.headers['x-hoard-cache'], 'STALE');
    upstream.clearFaults();
  });
});
