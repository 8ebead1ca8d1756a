// End-to-end: the index on disk across restarts: a clean one skips reconciliation, one after a crash runs it in the background.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('the index across restarts', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: ['alpha', 'bravo', 'charlie'].map((name) => ({ name, version: '1', size: 20_000 })),
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    // Info: the reconciliation's line is what this test watches.
    hoard = await HoardProcess.start({ config: { logLevel: 'info' } });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  const via = (name: string) => `${hoard.url}/${upstream.origin.replace('http://', '')}/debian/${repo.package(name).poolPath}`;
  /**
   * The log lines of the n-th start (0-based): from its "hoard is serving" to the next. Lines are written in
   * the background, so a process's last ones may arrive only as it exits: positions taken before a restart
   * do not separate two processes, their own "serving" lines do.
   */
  const linesOfStart = (n: number) => {
    const starts = hoard.logs.flatMap((line, i) => (line.text.includes('"msg":"hoard is serving"') ? [i] : []));
    return starts[n] === undefined ? [] : hoard.logs.slice(starts[n], starts[n + 1]);
  };
  const reconciledIn = (n: number) => linesOfStart(n).find((line) => line.text.includes('"msg":"store reconciled"'));

  test('a clean restart serves from the index without reconciling; after kill -9 the background pass drops an entry whose blob is gone', async () => {
    for (const name of ['alpha', 'bravo', 'charlie']) assert.equal((await probe(via(name))).status, 200);
    await hoard.waitForDownloadsSettled();

    await hoard.restart();
    upstream.resetStats();
    const hit = await probe(via('alpha'));
    assert.equal(hit.status, 200);
    assert.equal(sha256(hit.body), repo.package('alpha').sha256);
    assert.equal(upstream.hits(repo.package('alpha').poolPath), 0, 'served from the index kept on disk');
    // Three objects would be reconciled within milliseconds of listening, so its line would come before the
    // request's (log lines are written in the background, in order): wait for that one, then look.
    const requestLogged = () => linesOfStart(1).some((line) => line.text.includes('"method":"GET"'));
    for (let waited = 0; !requestLogged() && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(requestLogged(), hoard.output());
    assert.equal(reconciledIn(1), undefined, `no reconciliation after a clean shutdown:\n${hoard.output()}`);

    await hoard.kill9();
    const bravo = repo.package('bravo').sha256;
    await rm(join(hoard.dataDir, 'blobs', 'sha256', bravo.slice(0, 2), bravo));
    await hoard.restart({ hard: true });
    // Polled: waitForLog would find the line of the very first start (a new index reconciles too).
    for (let waited = 0; reconciledIn(2) === undefined && waited < 30_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    const line = reconciledIn(2);
    assert.ok(line !== undefined, hoard.output());
    const report = JSON.parse(line.text) as { droppedEntries: number; orphanBlobs: number };
    assert.equal(report.droppedEntries, 1);
    assert.equal(report.orphanBlobs, 0);

    upstream.resetStats();
    const again = await probe(via('bravo'));
    assert.equal(again.status, 200);
    assert.equal(sha256(again.body), bravo);
    assert.equal(upstream.hits(repo.package('bravo').poolPath), 1, 'the dropped object is fetched again');
    assert.equal((await probe(via('charlie'))).status, 200);
    assert.equal(upstream.hits(repo.package('charlie').poolPath), 0, 'the others are still hits');
  });
});
