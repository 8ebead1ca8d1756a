// Hostile upstreams against the bounds on a download: a huge Content-Length, an endless body, a padded package, a trickle.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { FakeUpstreamServer, faults, type RequestRecord } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { Scrape } from '../support/prometheus-scrape.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const MB = 1_000_000;
const MiB = 1024 * 1024;

/** Polls `check` every 50 ms for at most `timeoutMs`. */
async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A client that sends its request, takes the response head and the first body bytes, and hangs up. */
function leaveAfterFirstBytes(url: string, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.once('data', () => {
        res.destroy();
        req.destroy();
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no response head from ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** The status code and reason phrase of a response, as apt would print them. */
function statusLine(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      resolve(`${res.statusCode ?? 0} ${res.statusMessage ?? ''}`);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.once('error', reject);
    req.end();
  });
}

describe('hostile upstreams: size and rate bounds on a download', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  /** Through the named backend `evil`, whose one mirror is the fake upstream. */
  const viaHoard = (rootRelative: string) => `${hoard.url}/evil/${rootRelative}`;
  const storedKey = (rootRelative: string) => `backend:evil/${rootRelative}`;

  /** Files in hoard's tmp/ (writes in progress or left behind). */
  const tmpFiles = () => readdir(join(hoard.dataDir, 'tmp'));

  /** Whether the index holds an entry for the key (read from the database; WAL makes it readable while hoard runs). */
  function stored(rootRelative: string): boolean {
    const db = new DatabaseSync(join(hoard.dataDir, 'index.sqlite'), { readOnly: true });
    try {
      return db.prepare('SELECT 1 FROM objects WHERE key = ?').get(storedKey(rootRelative)) !== undefined;
    } finally {
      db.close();
    }
  }

  /** The upstream's record of the last request for a path, once it has finished (hoard hung up, or it ended). */
  const finished = (wirePath: string) =>
    waitFor<RequestRecord>(() => {
      const record = upstream.requestsFor(wirePath).at(-1);
      return record?.outcome === undefined ? undefined : record;
    }, `the upstream's request for ${wirePath} to end`);

  before(async () => {
    repo = await SignedRepo.create({
      packages: [
        { name: 'alpha', version: '1.0', size: 200 * 1024 },
        { name: 'bravo', version: '1.0', size: 100 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'warn',
        keyrings: [repo.keyringPath],
        backends: { evil: { mirrors: [upstream.baseUrl] } },
        // Small bounds, so that each case ends in seconds: 5 MB objects, 1 KiB/s over a 2 s window.
        cache: { maxObjectSize: '5MB' },
        upstream: { minBytesPerSecond: 1024, slowWindowSeconds: 2 },
      },
    });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  test('a Content-Length of 10^15 is refused before any byte is written: the client gets a 502 that says why', async () => {
    const path = 'pool/main/h/huge/huge_1.0_amd64.deb';
    const before = await Scrape.from(`${hoard.url}/_hoard/metrics`);
    upstream.misbehave(path, faults.endless({ contentLength: 10 ** 15, maxBytes: 64 * MiB }), { times: 2 });
    const got = await probe(viaHoard(path), { timeoutMs: 10_000 });
    assert.equal(got.status, 502);
    assert.equal(got.headers['x-hoard-error'], 'HOARD_ERR_OBJECT_TOO_LARGE');
    assert.match(
      got.body.toString(),
      /the upstream object \(1000000000000000 bytes\) is larger than this cache accepts \(cache\.maxObjectSize, 5000000 bytes\)/,
    );
    // apt shows only the status line: the reason is there too.
    const line = await statusLine(viaHoard(path));
    assert.match(line, /^502 Bad Gateway: the upstream object \(1000000000000000 bytes\) is larger than this cache accepts \(cache\.maxObjectSize/);
    // Hoard dropped the upstream connection at once instead of reading the body.
    const record = await finished(upstream.wirePath(path));
    assert.equal(record.outcome, 'client-aborted');
    assert.ok(record.bytesSent < 64 * MiB, `the upstream sent ${record.bytesSent} bytes`);
    // No download was started, so no temporary file was ever opened, and nothing is stored.
    const afterwards = await Scrape.from(`${hoard.url}/_hoard/metrics`);
    for (const outcome of ['ok', 'failed']) {
      assert.equal(afterwards.value('hoard_downloads_total', { outcome }), before.value('hoard_downloads_total', { outcome }), `downloads ${outcome}`);
    }
    assert.deepEqual(await tmpFiles(), []);
    assert.equal(stored(path), false);
    await hoard.waitForLog(/HOARD_ERR_OBJECT_TOO_LARGE.*not fetched/);
  });

  test('an endless chunked body is abandoned at maxObjectSize even after the client left; nothing is stored', async () => {
    const path = 'pool/main/e/endless/endless_1.0_amd64.deb';
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // 64 KiB reach the client, which hangs up; only then does the rest of the body come.
    upstream.misbehave(path, faults.endless({ maxBytes: 256 * MiB, until: released, afterBytes: 64 * 1024 }), { times: 1 });
    assert.equal(await leaveAfterFirstBytes(viaHoard(path)), 200);
    release();
    const record = await finished(upstream.wirePath(path));
    assert.equal(record.outcome, 'client-aborted', 'hoard cut the upstream, which did not end by itself');
    // 5 MB stored at most, plus what the sockets buffered on the way.
    assert.ok(record.bytesSent < 5 * MB + 32 * MiB, `the upstream sent ${record.bytesSent} bytes`);
    await hoard.waitForLog(/HOARD_ERR_OBJECT_TOO_LARGE.*download failed; nothing stored|download failed; nothing stored.*HOARD_ERR_OBJECT_TOO_LARGE/);
    await hoard.waitForDownloadsSettled();
    assert.deepEqual(await tmpFiles(), [], 'the temporary file is deleted');
    assert.equal(stored(path), false);
  });

  test('a package padded past the size its signed Packages lists (no Content-Length) is abandoned at that size; the next fetch is whole', async () => {
    // Hoard learns the package sizes from the signed indices, fetched through it as apt would.
    const inRelease = await probe(viaHoard(repo.distPath('InRelease')));
    assert.equal(inRelease.status, 200);
    const index = repo.indexFiles.find((f) => f.onDisk && f.path.endsWith('.xz')) ?? repo.indexFiles.find((f) => f.onDisk);
    assert.ok(index !== undefined);
    assert.equal((await probe(viaHoard(index.path))).status, 200);
    await hoard.waitForDownloadsSettled();

    const alpha = repo.package('alpha');
    upstream.misbehave(alpha.poolPath, faults.chunked({ appendBytes: 64 * MiB }), { times: 1 });
    const before = await Scrape.from(`${hoard.url}/_hoard/metrics`);
    const padded = await probe(viaHoard(alpha.poolPath), { timeoutMs: 15_000 });
    assert.equal(padded.status, 200);
    assert.equal(padded.complete, false, 'the client sees a cut, never a whole body');
    assert.ok(padded.body.length < alpha.size, `the client got ${padded.body.length} of ${alpha.size} bytes`);
    const record = await finished(upstream.wirePath(alpha.poolPath));
    assert.equal(record.outcome, 'client-aborted', 'hoard cut the upstream before its 64 MiB of padding were sent');
    await hoard.waitForLog(/HOARD_ERR_SIZE_MISMATCH.*index lists|index lists.*HOARD_ERR_SIZE_MISMATCH/);
    await hoard.waitForDownloadsSettled();
    const afterwards = await Scrape.from(`${hoard.url}/_hoard/metrics`);
    assert.equal(
      afterwards.value('hoard_verification_failures_total', { failure: 'size' }) - before.value('hoard_verification_failures_total', { failure: 'size' }),
      1,
    );
    assert.deepEqual(await tmpFiles(), []);
    assert.equal(stored(alpha.poolPath), false);

    const honest = await probe(viaHoard(alpha.poolPath), { timeoutMs: 15_000 });
    assert.ok(honest.complete);
    assert.equal(sha256(honest.body), alpha.sha256);
  });

  test('an upstream trickling one byte every 300 ms is abandoned after the window: the client is cut, nothing stored, the mirror reported', async () => {
    const bravo = repo.package('bravo');
    // rateLimit paces in chunks of a twentieth of the rate, at least one byte: here one byte every 300 ms.
    upstream.misbehave(bravo.poolPath, faults.rateLimit(1000 / 300), { times: 1 });
    const got = await probe(viaHoard(bravo.poolPath), { timeoutMs: 20_000 });
    assert.equal(got.status, 200);
    assert.equal(got.complete, false);
    assert.notEqual(got.error, 'timeout', 'hoard cut the response; the probe did not have to give up');
    assert.ok(got.body.length < 100, `the client got ${got.body.length} bytes`);
    const record = await finished(upstream.wirePath(bravo.poolPath));
    assert.equal(record.outcome, 'client-aborted');
    await hoard.waitForLog(/HOARD_ERR_UPSTREAM_TOO_SLOW/);
    await hoard.waitForDownloadsSettled();
    assert.deepEqual(await tmpFiles(), []);
    assert.equal(stored(bravo.poolPath), false);
    // reportFailure: the mirror's health records why it was abandoned.
    const stats = await (await fetch(`${hoard.url}/_hoard/stats.json`)).text();
    assert.match(stats, /below upstream\.minBytesPerSecond \(1024\)/);
  });
});
