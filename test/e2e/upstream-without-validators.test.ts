// End-to-end: an upstream that sends neither Last-Modified nor ETag; hoard still gives apt a date to revalidate with.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AptClient } from '../support/apt-client.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';

describe('an upstream without validators', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let apt: AptClient;

  before(async () => {
    repo = await SignedRepo.create({ suite: 'stable', packages: [{ name: 'alpha', version: '1.0', size: 4 * 1024 }] });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian', validators: false });
    // Age 0: every InRelease request goes upstream, so each update is a real revalidation (a 200 every time).
    // Info: the request lines show what hoard answered apt.
    hoard = await HoardProcess.start({ config: { logLevel: 'info', cache: { indexMaxAgeSeconds: 0 } } });
    apt = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: hoard.url },
    });
  });
  after(async () => {
    await apt?.cleanup();
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  /** hoard's answers to apt's InRelease requests, in order (request lines are written in the background). */
  const inReleaseAnswers = () =>
    hoard.logs
      .filter((line) => line.text.startsWith('{'))
      .map((line) => JSON.parse(line.text) as { method?: string; target?: string; status?: number })
      .filter((line) => line.method === 'GET' && line.target?.endsWith('/stable/InRelease') === true)
      .map((line) => line.status);
  const inReleaseLine = (lines: readonly string[]) => lines.find((line) => / stable InRelease/.test(line));
  const inReleaseUrl = () => `${hoard.url}/${upstream.origin.replace('http://', '')}/debian/${repo.distPath('InRelease')}`;

  test('the upstream really sends no validators', async () => {
    const direct = await probe(`${upstream.baseUrl}/${repo.distPath('InRelease')}`);
    assert.equal(direct.status, 200);
    assert.equal(direct.headers['last-modified'], undefined);
    assert.equal(direct.headers.etag, undefined);
  });

  test('apt: Get on the first update, Hit on the second for the unchanged InRelease, Get once it changed', async () => {
    const first = await apt.update();
    assert.equal(first.exitCode, 0, first.stderr);
    assert.ok(inReleaseLine(first.gets), `first update fetched InRelease: ${first.stdout}`);

    const before = upstream.hits(repo.distPath('InRelease'));
    const second = await apt.update();
    assert.equal(second.exitCode, 0, second.stderr);
    // hoard asked the upstream again (and got a whole 200), yet apt's If-Modified-Since got a 304.
    assert.ok(upstream.hits(repo.distPath('InRelease')) > before, 'hoard revalidated upstream');
    assert.ok(inReleaseLine(second.hits), `second update: Hit for InRelease: ${second.stdout}`);
    assert.equal(inReleaseLine(second.gets), undefined, `second update: no Get for InRelease: ${second.stdout}`);
    // apt asked with If-Modified-Since (the date it was given): hoard answered 304.
    for (let waited = 0; inReleaseAnswers().length < 2 && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(inReleaseAnswers(), [200, 304], hoard.output());

    await repo.publish({ add: [{ name: 'alpha', version: '1.1', size: 4 * 1024 }] });
    const third = await apt.update();
    assert.equal(third.exitCode, 0, third.stderr);
    assert.ok(inReleaseLine(third.gets), `after a change: Get for InRelease: ${third.stdout}`);
    const policy = await apt.aptCache(['policy', 'alpha']);
    assert.match(policy.stdout, /Candidate: 1\.1/);
  });

  test('every cached object carries Last-Modified; If-Modified-Since gets 304, If-None-Match takes precedence', async () => {
    const got = await probe(inReleaseUrl());
    assert.equal(got.status, 200);
    const lastModified = got.headers['last-modified'];
    assert.match(lastModified ?? '', /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const pool = await probe(`${hoard.url}/${upstream.origin.replace('http://', '')}/debian/${repo.package('alpha').poolPath}`);
    assert.equal(pool.status, 200);
    assert.ok(pool.headers['last-modified'] !== undefined, 'a package has a Last-Modified too');

    assert.equal((await probe(inReleaseUrl(), { headers: { 'if-modified-since': lastModified as string } })).status, 304);
    const earlier = new Date(Date.parse(lastModified as string) - 1000).toUTCString();
    assert.equal((await probe(inReleaseUrl(), { headers: { 'if-modified-since': earlier } })).status, 200);
    // RFC 9110 13.1.3: with If-None-Match present, If-Modified-Since is ignored.
    const both = { 'if-none-match': '"not-this"', 'if-modified-since': lastModified as string };
    assert.equal((await probe(inReleaseUrl(), { headers: both })).status, 200);
    assert.equal((await probe(inReleaseUrl(), { headers: { ...both, 'if-none-match': got.headers.etag as string } })).status, 304);
  });
});
