// 5,000 client-chosen upstream hosts change /_hoard/metrics, /_hoard/health and the dashboard by kilobytes, not megabytes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HoardProcess, findFreePort } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { Scrape } from '../support/prometheus-scrape.ts';

const hostCount = 5000;
const concurrency = 16;

describe('per-host state under many client-chosen hosts', () => {
  let hoard: HoardProcess;
  let closedPort: number;

  before(async () => {
    // Distinct IP literals across 127.0.0.0/8 on a port nothing listens on: every request reaches the upstream
    // path and fails at once with a refused connection, without a DNS query leaving the machine.
    closedPort = await findFreePort();
    hoard = await HoardProcess.start({ config: { logLevel: 'error', upstream: { connectTimeoutMs: 2000 } } });
  });
  after(async () => {
    await hoard?.cleanup();
  });

  test('metrics and health stay within a few kilobytes of their size before', async () => {
    const size = async (path: string) => (await probe(`${hoard.url}${path}`, { timeoutMs: 30_000 })).body.length;
    // One failing host first, so the fixed series (the `other` label, the first failure) exist in "before".
    const address = (i: number) => `127.${1 + Math.floor(i / 65_536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
    const target = (i: number) => `${hoard.url}/${address(i)}:${closedPort}/debian/dists/x/InRelease`;
    assert.equal((await probe(target(hostCount))).status, 502);
    const sizes = async () => ({
      metrics: await size('/_hoard/metrics'),
      health: await size('/_hoard/health'),
      stats: await size('/_hoard/stats.json'),
      dashboard: await size('/_hoard/'),
    });
    const before = await sizes();
    const rssBefore = (await Scrape.from(`${hoard.url}/_hoard/metrics`)).value('hoard_process_resident_memory_bytes');

    let next = 0;
    const statuses = new Map<number, number>();
    const worker = async () => {
      while (next < hostCount) {
        const i = next++;
        const r = await probe(target(i), { timeoutMs: 10_000 });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    assert.deepEqual([...statuses], [[502, hostCount]], 'every host was tried upstream and failed');

    const now = await sizes();
    const grew = {
      metrics: now.metrics - before.metrics,
      health: now.health - before.health,
      stats: now.stats - before.stats,
      dashboard: now.dashboard - before.dashboard,
    };
    const rssAfter = (await Scrape.from(`${hoard.url}/_hoard/metrics`)).value('hoard_process_resident_memory_bytes');
    // Reported, not asserted: what else hoard keeps per host (mirror health, origins, connection pools) is bounded elsewhere.
    process.stdout.write(`# sizes before ${JSON.stringify(before)}, after ${JSON.stringify(now)}; RSS ${Math.round((rssAfter - rssBefore) / 1e6)} MB more\n`);
    assert.ok(grew.metrics < 64 * 1024, `metrics grew by ${grew.metrics} bytes`);
    assert.ok(grew.health < 64 * 1024, `health grew by ${grew.health} bytes`);
    assert.ok(grew.stats < 64 * 1024, `stats.json grew by ${grew.stats} bytes`);
    assert.ok(grew.dashboard < 64 * 1024, `the dashboard grew by ${grew.dashboard} bytes`);

    const text = await (await fetch(`${hoard.url}/_hoard/metrics`)).text();
    const metrics = new Scrape(text);
    // The text-format parser keeps no labels of histogram series: they are read off the _count lines.
    const labels = new Set([...text.matchAll(/^hoard_upstream_request_duration_seconds_count\{[^}]*upstream="([^"]*)"/gm)].map((m) => m[1]));
    assert.ok(labels.has('other'), 'the hosts beyond the bound are counted under upstream="other"');
    assert.ok(labels.size <= 65, `${labels.size} upstream labels`);
    assert.ok(metrics.histogramCount('hoard_upstream_request_duration_seconds') >= hostCount, 'no exchange went uncounted');

    type Health = { upstreamCounts: { failing: number }; upstreams: unknown[]; warnings: string[] };
    const health = (await (await fetch(`${hoard.url}/_hoard/health`)).json()) as Health;
    assert.ok(health.upstreams.length <= 16);
    assert.ok(health.warnings.length <= 16);
    assert.ok(health.upstreamCounts.failing > 0);
  });
});
