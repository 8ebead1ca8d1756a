// The collector's per-upstream state stays bounded whatever hosts clients name: labels, health table, warnings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../clock.ts';
import { publishDownload, publishRequest, publishUpstream } from '../events.ts';
import { MetricsCollector, maxUpstreamsListed, maxUpstreamsTracked } from './metrics-collector.ts';

const sources = { activeDownloads: () => [], storeUsage: () => ({ bytes: 0, objects: 0, entries: 0, maxBytes: undefined }) };

async function withCollector(configured: string[], run: (c: MetricsCollector, clock: ManualClock) => Promise<void> | void) {
  const clock = new ManualClock();
  const collector = new MetricsCollector(sources, clock, { configuredUpstreams: configured }).start();
  try {
    await run(collector, clock);
  } finally {
    collector.stop();
  }
}

const answered = (upstream: string, status = 200) => publishUpstream({ upstream, url: `${upstream}/x`, method: 'GET', status, durationMs: 1 });
const failed = (upstream: string, error: string) =>
  publishUpstream({ upstream, url: `${upstream}/x`, method: 'GET', durationMs: 1, errorCode: 'HOARD_ERR_UPSTREAM_UNREACHABLE', error });
const refused = (upstream: string) => failed(upstream, `connect ECONNREFUSED ${upstream}`);

async function upstreamLabels(c: MetricsCollector): Promise<Set<string>> {
  const text = await c.registry.metrics();
  return new Set([...text.matchAll(/^hoard_upstream_request_duration_seconds_count\{[^}]*upstream="([^"]*)"/gm)].map((m) => m[1] as string));
}

test('configured upstreams and the first hosts that answered are labelled; the rest are "other"', async () => {
  await withCollector(['http://mirror.example'], async (c) => {
    refused('http://mirror.example');
    for (let i = 0; i < 3000; i++) refused(`http://dead${i}.example`);
    for (let i = 0; i < maxUpstreamsTracked + 50; i++) answered(`http://live${i}.example`, i % 2 === 0 ? 200 : 503);
    answered('http://live0.example');
    const labels = await upstreamLabels(c);
    assert.ok(labels.has('http://mirror.example'), 'a configured upstream is labelled even when it never answered');
    assert.ok(labels.has('other'));
    assert.ok(labels.has('http://live0.example') && labels.has(`http://live${maxUpstreamsTracked - 1}.example`));
    assert.ok(!labels.has(`http://live${maxUpstreamsTracked}.example`), 'past the bound a host that answered is "other"');
    assert.ok(![...labels].some((l) => l.includes('dead')), 'a host that never answered takes no label');
    assert.equal(labels.size, 1 + maxUpstreamsTracked + 1);
    const text = await c.registry.metrics();
    assert.match(text, /^hoard_upstream_up\{upstream="http:\/\/mirror\.example"\} 0$/m);
    assert.doesNotMatch(text, /hoard_upstream_up\{upstream="other"\}/);
    const count = [...text.matchAll(/^hoard_upstream_request_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(count, 1 + 3000 + maxUpstreamsTracked + 50 + 1, 'every exchange is counted under some label');
  });
});

test('the health table keeps configured upstreams and a bounded set of others; dead hosts go before working ones', async () => {
  await withCollector(['http://mirror.example'], (c, clock) => {
    answered('http://mirror.example');
    answered('http://working.example');
    for (let i = 0; i < 5000; i++) {
      clock.advance(1);
      refused(`http://dead${i}.example`);
    }
    const s = c.snapshot();
    assert.equal(s.upstreams.length, 1 + maxUpstreamsTracked);
    assert.deepEqual(s.upstreamCounts, { tracked: 1 + maxUpstreamsTracked, failing: maxUpstreamsTracked - 1, forgotten: 5000 + 1 - maxUpstreamsTracked });
    const names = s.upstreams.map((u) => u.upstream);
    assert.ok(names.includes('http://mirror.example') && names.includes('http://working.example'), 'the flood of dead hosts pushed out no working one');
    assert.equal(s.upstreams[0]?.upstream, 'http://dead4999.example', 'the worst (failing, most recent failure) first');
    const warnings = c.warnings();
    assert.equal(warnings.length, maxUpstreamsListed + 1);
    assert.match(warnings.at(-1) ?? '', new RegExp(`^${maxUpstreamsTracked - 1 - maxUpstreamsListed} more upstreams failing`));
  });
});

test('a configured upstream that fails comes first in the warnings', async () => {
  await withCollector(['http://mirror.example'], (c, clock) => {
    refused('http://mirror.example');
    for (let i = 0; i < 100; i++) {
      clock.advance(1);
      refused(`http://dead${i}.example`);
    }
    assert.match(c.warnings()[0] ?? '', /^upstream http:\/\/mirror\.example failing/);
    assert.equal(c.snapshot().upstreams.filter((u) => u.configured).length, 1);
  });
});

test('a long error is clipped before it is kept', async () => {
  await withCollector([], (c) => {
    failed('http://a.example', 'x'.repeat(5000));
    assert.ok((c.snapshot().upstreams[0]?.lastError?.length ?? 0) <= 300);
  });
});

test('requests are counted per protocol: a label bounded to the installed protocols, figures and top items per protocol', async () => {
  const clock = new ManualClock();
  const c = new MetricsCollector(sources, clock, { protocols: ['apt', 'oci'] }).start();
  try {
    const request = (protocol: string | undefined, result: string, bytes: number, item?: string) =>
      publishRequest({ client: '127.0.0.1', method: 'GET', target: '/x', result, status: 200, bytes, durationMs: 1, protocol, item });
    request('apt', 'hit', 100, 'hello_1_all.deb');
    request('apt', 'miss', 50, 'hello_1_all.deb');
    request('oci', 'hit', 7);
    request('made-up', 'hit', 1);
    request(undefined, 'refused', 0);
    const s = c.snapshot();
    assert.deepEqual(s.protocols.apt, { requests: 2, hitRatio: 0.5, servedFromCache: 100, servedFromUpstream: 50 });
    assert.deepEqual(s.protocols.oci, { requests: 1, hitRatio: 1, servedFromCache: 7, servedFromUpstream: 0 });
    // A name no installed protocol has cannot open a series of its own.
    assert.equal(s.protocols['made-up'], undefined);
    assert.equal(s.protocols.none?.requests, 2);
    assert.deepEqual(s.topPackages, [{ name: 'hello_1_all.deb', protocol: 'apt', requests: 2, bytes: 150 }]);
    const text = await c.registry.metrics();
    assert.match(text, /^hoard_requests_total\{protocol="apt",result="hit"\} 1$/m);
    assert.match(text, /^hoard_requests_total\{protocol="oci",result="hit"\} 1$/m);
    assert.match(text, /^hoard_served_bytes_total\{protocol="apt",source="upstream"\} 50$/m);
    assert.doesNotMatch(text, /protocol="made-up"/);
  } finally {
    c.stop();
  }
});

test('an OCI registry is a named upstream under its key: pulls, hit ratio, bytes from cache, upstream errors; origins are not', async () => {
  const clock = new ManualClock();
  // A token realm's mirror set names an origin: it gets no series of its own.
  const c = new MetricsCollector(sources, clock, { protocols: ['oci'], namedUpstreams: ['oci:lab', 'oci-token:http://auth.example'] }).start();
  try {
    const request = (upstream: string, result: string, bytes: number, errorCode?: string) =>
      publishRequest({ client: '127.0.0.1', method: 'GET', target: '/v2/x', result, status: 200, bytes, durationMs: 1, protocol: 'oci', upstream, errorCode });
    request('oci:lab', 'miss', 100);
    request('oci:lab', 'hit', 100);
    request('oci:lab', 'hit', 100);
    request('oci:lab', 'error', 0, 'HOARD_ERR_UPSTREAM_RATE_LIMITED');
    request('oci:lab', 'upstream-status', 0);
    request('oci:lab', 'refused', 0, 'HOARD_ERR_UPSTREAM_AUTH');
    // Neither a client's bad request nor a name the registry does not have is the registry's error.
    request('oci:lab', 'refused', 0, 'HOARD_ERR_BAD_REQUEST');
    request('oci:lab', 'not-found', 0);
    // A registry's key first seen after the collector started counts from then on.
    request('oci:images.example', 'hit', 5);
    request('http://client-chosen.example', 'hit', 1);
    const figures = c.snapshot().namedUpstreams;
    const lab = figures.find((f) => f.upstream === 'oci:lab');
    assert.deepEqual(
      lab && {
        requests: lab.requests,
        hits: lab.hits,
        hitRatio: lab.hitRatio,
        servedFromCache: lab.servedFromCache,
        servedFromUpstream: lab.servedFromUpstream,
        errors: lab.errors,
      },
      { requests: 8, hits: 2, hitRatio: 2 / 3, servedFromCache: 200, servedFromUpstream: 100, errors: 3 },
    );
    assert.equal(figures.find((f) => f.upstream === 'oci:images.example')?.requests, 1);
    assert.deepEqual(figures.map((f) => f.upstream).sort(), ['oci:images.example', 'oci:lab'], 'hosts clients name and token realms open no figures');
    const text = await c.registry.metrics();
    assert.match(text, /^hoard_named_upstream_requests_total\{upstream="oci:lab",result="hit"\} 2$/m);
    assert.match(text, /^hoard_named_upstream_requests_total\{upstream="oci:lab",result="upstream-status"\} 1$/m);
    assert.match(text, /^hoard_named_upstream_served_bytes_total\{upstream="oci:lab",source="cache"\} 200$/m);
    assert.doesNotMatch(text, /client-chosen|auth\.example/);
  } finally {
    c.stop();
  }
});

test('named upstreams (image streams, backends) get figures and series of their own; origins do not', async () => {
  const downloads = [{ key: 'image:ubuntu/streams/v1/x.squashfs', written: 10, expected: 100, relaying: false }];
  const clock = new ManualClock();
  const c = new MetricsCollector({ ...sources, activeDownloads: () => downloads }, clock, { namedUpstreams: ['image:ubuntu', 'image:idle'] }).start();
  try {
    const request = (upstream: string, result: string, bytes: number) =>
      publishRequest({ client: '127.0.0.1', method: 'GET', target: '/x', result, status: 200, bytes, durationMs: 1, upstream, protocol: 'simplestreams' });
    request('image:ubuntu', 'miss', 1000);
    request('image:ubuntu', 'hit', 1000);
    request('image:ubuntu', 'hit', 1000);
    request('http://mirror.example', 'hit', 5);
    publishDownload({ key: 'image:ubuntu/a/b.img', phase: 'end', bytes: 1000 });
    const figures = c.snapshot().namedUpstreams;
    assert.deepEqual(
      figures.map((f) => f.upstream),
      ['image:ubuntu', 'image:idle'],
    );
    assert.deepEqual(figures[0], {
      upstream: 'image:ubuntu',
      requests: 3,
      hits: 2,
      hitRatio: 2 / 3,
      servedFromCache: 2000,
      servedFromUpstream: 1000,
      fetchedUpstream: 1000,
      saved: 2000,
      downloadsInFlight: 1,
      errors: 0,
    });
    const text = await c.registry.metrics();
    assert.match(text, /^hoard_named_upstream_requests_total\{upstream="image:ubuntu",result="hit"\} 2$/m);
    assert.match(text, /^hoard_named_upstream_requests_total\{upstream="image:idle",result="hit"\} 0$/m);
    assert.match(text, /^hoard_named_upstream_downloads_in_flight\{upstream="image:ubuntu"\} 1$/m);
    assert.match(text, /^hoard_named_upstream_fetched_bytes_total\{upstream="image:ubuntu"\} 1000$/m);
    assert.doesNotMatch(text, /upstream="http:\/\/mirror\.example",result=/);
  } finally {
    c.stop();
  }
});
