// The dashboard in Debian's Chromium against a hoard that served real apt traffic: its numbers match /_hoard/metrics.
import assert from 'node:assert/strict';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { AptClient } from '../support/apt-client.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess, repoRoot } from '../support/hoard-process.ts';
import { Scrape } from '../support/prometheus-scrape.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const chromiumPath = '/usr/bin/chromium';
const token = 'dashboard-test-token-0123456789';
const hasChromium = await access(chromiumPath).then(
  () => true,
  () => false,
);

describe('dashboard, metrics and health after real apt traffic', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let apt: AptClient;
  let first: Scrape;

  before(async () => {
    repo = await SignedRepo.create({
      packages: [
        { name: 'alpha', version: '1.0', size: 64 * 1024 },
        { name: 'bravo', version: '2.0', size: 300 * 1024, depends: 'alpha' },
        { name: 'charlie', version: '3.0', size: 1024 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    hoard = await HoardProcess.start({ config: { admin: { token }, cache: { maxSize: '1GiB' } } });
    apt = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: hoard.url },
    });
    first = await Scrape.from(`${hoard.url}/_hoard/metrics`);
    assert.equal((await apt.update()).exitCode, 0);
    assert.equal((await apt.download(['bravo', 'charlie'])).exitCode, 0);
    // The second client finds everything cached.
    await apt.clearArchives();
    assert.equal((await apt.download(['bravo', 'charlie'])).exitCode, 0);
  });

  after(async () => {
    await apt?.cleanup();
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  test('metrics parse as Prometheus text and moved with the traffic', async () => {
    const now = await Scrape.from(`${hoard.url}/_hoard/metrics`);
    for (const result of ['hit', 'miss']) {
      assert.ok(now.value('hoard_requests_total', { result }) > first.value('hoard_requests_total', { result }), `${result} did not move`);
    }
    assert.ok(now.value('hoard_requests_total', { result: 'hit' }) >= 3, 'the second download hits for three packages');
    const debBytes = repo.packages.reduce((n, p) => n + p.size, 0);
    assert.ok(now.value('hoard_served_bytes_total', { source: 'cache' }) >= debBytes, 'the second download came from the cache');
    assert.ok(now.value('hoard_upstream_bytes_total') >= debBytes);
    assert.ok(now.histogramCount('hoard_upstream_request_duration_seconds') > 0);
    assert.equal(now.value('hoard_downloads_in_flight'), 0);
    assert.ok(now.value('hoard_store_bytes') >= debBytes);
    assert.ok(now.value('hoard_store_objects') >= 3);
    assert.equal(now.value('hoard_store_max_bytes'), 1024 ** 3);
    assert.equal(now.value('hoard_verification_failures_total'), 0);
    assert.equal(now.families.get('hoard_evictions_total')?.type, 'COUNTER');
  });

  test('health is 200 with the reasons listed, and admin actions need the token', async () => {
    const health = await fetch(`${hoard.url}/_hoard/health`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { status: string; problems: string[]; warnings: string[] };
    assert.deepEqual({ status: body.status, problems: body.problems }, { status: 'ok', problems: [] });
    assert.equal((await fetch(`${hoard.url}/_hoard/actions/gc`, { method: 'POST' })).status, 401);
    assert.equal((await fetch(`${hoard.url}/_hoard/actions/gc`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
    const gc = await fetch(`${hoard.url}/_hoard/actions/gc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"dryRun":true}',
    });
    assert.equal(gc.status, 200);
    assert.equal(((await gc.json()) as { dryRun: boolean }).dryRun, true);
  });

  test(
    'Chromium shows the same numbers as the metrics, loads nothing from elsewhere, and draws the charts',
    { skip: !hasChromium && 'no /usr/bin/chromium' },
    async () => {
      const profile = await makeTempDir('chromium-profile');
      let context: BrowserContext | undefined;
      try {
        context = await chromium.launchPersistentContext(profile, {
          executablePath: chromiumPath,
          headless: true,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
          viewport: { width: 1280, height: 1400 },
        });
        const page = context.pages()[0] ?? (await context.newPage());
        const requested: string[] = [];
        page.on('request', (r) => requested.push(r.url()));
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        // What the Content-Security-Policy blocked (an inline style, a script, a fetch) is reported on the console.
        const blocked: string[] = [];
        page.on('console', (m) => {
          if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
        });
        await page.goto(`${hoard.url}/_hoard/`, { waitUntil: 'load' });
        await page.waitForSelector('#chart-requests .uplot', { timeout: 10_000 });
        await page.waitForSelector('#chart-bytes .uplot', { timeout: 10_000 });
        const pairs: Array<[string, number]> = await page.$$eval('[data-stat]', (els: Array<{ getAttribute(name: string): string | null }>) =>
          els.map((e): [string, number] => [e.getAttribute('data-stat') ?? '', Number(e.getAttribute('data-value'))]),
        );
        const shown: Record<string, number> = Object.fromEntries(pairs);
        const metrics = await Scrape.from(`${hoard.url}/_hoard/metrics`);
        assert.equal(shown['requests.hit'], metrics.value('hoard_requests_total', { result: 'hit' }));
        assert.equal(shown['requests.miss'], metrics.value('hoard_requests_total', { result: 'miss' }));
        assert.equal(shown['requests.revalidated'], metrics.value('hoard_requests_total', { result: 'revalidated' }));
        assert.equal(shown['bytes.servedFromCache'], metrics.value('hoard_served_bytes_total', { source: 'cache' }));
        // The per-protocol table agrees with the protocol label: apt claimed the package requests.
        assert.ok((shown['protocols.apt.requests'] ?? 0) > 0, 'the dashboard shows apt among the protocols');
        assert.equal(shown['protocols.apt.requests'], metrics.value('hoard_requests_total', { protocol: 'apt' }));
        assert.equal(shown['protocols.apt.servedFromCache'], metrics.value('hoard_served_bytes_total', { protocol: 'apt', source: 'cache' }));
        assert.equal(shown['bytes.fetchedUpstream'], metrics.value('hoard_upstream_bytes_total'));
        assert.equal(shown['store.bytes'], metrics.value('hoard_store_bytes'));
        assert.equal(shown['store.objects'], metrics.value('hoard_store_objects'));
        assert.equal(shown['store.maxBytes'], metrics.value('hoard_store_max_bytes'));
        assert.equal(shown['verificationFailures.total'], metrics.value('hoard_verification_failures_total'));
        assert.ok((shown.hitRatio ?? 0) > 0 && (shown.hitRatio ?? 0) < 1);
        // The top packages table lists what apt fetched.
        assert.match((await page.textContent('main')) ?? '', /charlie_3\.0_amd64\.deb/);
        assert.deepEqual(
          requested.filter((u) => !u.startsWith(hoard.url)),
          [],
          'every asset comes from hoard itself',
        );
        assert.deepEqual(errors, []);
        // One refresh (every 5 s) swaps in the server's newer rendering: it too runs under the policy.
        await page.waitForSelector('html[data-refreshed]', { timeout: 10_000 });
        assert.deepEqual(blocked, [], 'nothing was blocked by the Content-Security-Policy');
        const artifacts = join(repoRoot, 'test-artifacts');
        await mkdir(artifacts, { recursive: true });
        await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
      } finally {
        await context?.close();
        await removeDir(profile);
      }
    },
  );
});
