// Disk cap and full disk: a small cap evicts least recently used objects but never the one downloading; ENOSPC passes bytes through.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../support/command-runner.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { Scrape } from '../support/prometheus-scrape.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const KiB = 1024;

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('disk cap: eviction by water marks', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];

  before(async () => {
    repo = await SignedRepo.create({ packages: names.map((name) => ({ name, version: '1.0', size: 400 * KiB })) });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    // 1.5 MiB cap: eviction starts above 1.35 MiB and goes down to 0.75 MiB.
    hoard = await HoardProcess.start({ config: { cache: { maxSize: '1536KiB', highWaterPercent: 90, lowWaterPercent: 50 }, logLevel: 'warn' } });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  const get = (name: string) => probe(upstream.url(repo.package(name).poolPath), { proxy: hoard.url, timeoutMs: 20_000 });

  test('filling past the cap evicts the least recently used, never the object being downloaded', async () => {
    for (const name of ['p1', 'p2', 'p3']) {
      const got = await get(name);
      assert.equal(got.status, 200);
      assert.equal(sha256(got.body), repo.package(name).sha256);
    }
    // p1 is read again, so p2 is now the least recently used.
    assert.equal((await get('p1')).headers['x-hoard-cache'], 'HIT');
    // A slow download is in flight while the cap is crossed.
    upstream.misbehave(repo.package('p6').poolPath, faults.rateLimit(400 * KiB), { times: 1 });
    const slow = get('p6');
    await new Promise((resolve) => setTimeout(resolve, 150));
    for (const name of ['p4', 'p5']) assert.equal((await get(name)).status, 200);
    const slowResult = await slow;
    assert.equal(sha256(slowResult.body), repo.package('p6').sha256, 'the download running during eviction arrived whole');
    // Entries go at once, the bytes after a grace period of 2 s (for requests that had just looked them up).
    await waitFor(async () => (await Scrape.from(`${hoard.url}/_hoard/metrics`)).value('hoard_evictions_total', { reason: 'lru' }) >= 2, 'two evictions');
    const metrics = await Scrape.from(`${hoard.url}/_hoard/metrics`);
    assert.ok(metrics.value('hoard_store_bytes') <= 1536 * KiB * 0.9, 'the store is under its high-water mark');
    assert.ok(metrics.value('hoard_evicted_bytes_total', { reason: 'lru' }) >= 800 * KiB);
    // The newest objects stayed, the one downloading during eviction included; p2 (least recently used) went.
    assert.equal((await get('p6')).headers['x-hoard-cache'], 'HIT');
    assert.equal((await get('p5')).headers['x-hoard-cache'], 'HIT');
    assert.equal((await get('p2')).headers['x-hoard-cache'], 'MISS');
  });
});

describe('full disk: pass-through instead of errors', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess | undefined;
  let mountPoint: string | undefined;
  let mounted = false;

  before(async () => {
    mountPoint = await makeTempDir('tmpfs');
    // A real full filesystem: a 3 MiB tmpfs (needs root and mount rights; the unit tests inject ENOSPC otherwise).
    const mount =
      process.platform === 'linux' && process.getuid?.() === 0 ? await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mountPoint]) : undefined;
    mounted = mount?.exitCode === 0;
    repo = await SignedRepo.create({
      packages: [
        { name: 'small', version: '1.0', size: 200 * KiB },
        { name: 'huge', version: '1.0', size: 6 * 1024 * KiB },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    if (mounted) {
      const dataDir = join(mountPoint, 'data');
      await mkdir(dataDir);
      hoard = await HoardProcess.start({ dataDir, config: { logLevel: 'warn' } });
    }
  });
  after(async () => {
    await hoard?.cleanup();
    if (mounted && mountPoint !== undefined) await runCommand('umount', [mountPoint]);
    if (mountPoint !== undefined) await removeDir(mountPoint);
    await upstream?.close();
    await repo?.cleanup();
  });

  test('a package larger than the free space reaches the client whole; health reports the full store; hoard keeps serving', async (t) => {
    if (!mounted || hoard === undefined) {
      t.skip('cannot mount a tmpfs here (not root, or no mount rights); SharedDownload unit tests cover an injected ENOSPC');
      return;
    }
    const h = hoard;
    const get = (name: string) => probe(upstream.url(repo.package(name).poolPath), { proxy: h.url, timeoutMs: 30_000 });
    assert.equal(sha256((await get('small')).body), repo.package('small').sha256);
    const huge = await get('huge');
    assert.equal(huge.status, 200);
    assert.ok(huge.complete, `the body was cut: ${huge.error ?? ''}`);
    assert.equal(sha256(huge.body), repo.package('huge').sha256);
    const health = await fetch(`${h.url}/_hoard/health`);
    assert.equal(health.status, 503);
    assert.match(JSON.stringify(await health.json()), /store full/);
    assert.equal((await Scrape.from(`${h.url}/_hoard/metrics`)).value('hoard_store_full'), 1);
    // Nothing broken was stored: the huge one is fetched again, the small one is still a whole hit.
    const again = await get('small');
    assert.equal(sha256(again.body), repo.package('small').sha256);
    assert.ok(h.running, 'hoard is still running');
    const second = await get('huge');
    assert.equal(sha256(second.body), repo.package('huge').sha256);
  });
});
