// `hoard import` stores .debs a cached index knows (by hash); `hoard warm` pre-fetches packages and dependencies through the cache.
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AptClient } from '../support/apt-client.ts';
import { runCommand } from '../support/command-runner.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess, repoRoot } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const token = 'import-warm-test-token-0123456789';

describe('hoard import and hoard warm', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let work: string;
  const cli = (args: string[]) =>
    runCommand(join(repoRoot, 'node_modules/.bin/node'), ['src/main.ts', ...args, '--url', hoard.url], {
      cwd: repoRoot,
      env: { ...process.env, HOARD_ADMIN_TOKEN: token, HOARD_CONFIG: '/dev/null' },
      timeoutMs: 60_000,
    });

  before(async () => {
    repo = await SignedRepo.create({
      packages: [
        { name: 'alpha', version: '1.0', size: 20 * 1024 },
        { name: 'bravo', version: '1.0', size: 30 * 1024, depends: 'alpha (>= 1.0)' },
        { name: 'charlie', version: '1.0', size: 40 * 1024 },
        { name: 'delta', version: '1.0', size: 50 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    hoard = await HoardProcess.start({ config: { admin: { token } } });
    work = await makeTempDir('import-warm');
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
    await removeDir(work);
  });

  test('import: after apt update through the cache, known .debs are stored by hash and then served as hits', async () => {
    const apt = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: hoard.url },
    });
    try {
      assert.equal((await apt.update()).exitCode, 0);
    } finally {
      await apt.cleanup();
    }
    const archives = join(work, 'archives');
    await runCommand('mkdir', ['-p', join(archives, 'partial')]);
    await copyFile(repo.package('charlie').filePath, join(archives, 'charlie_1.0_amd64.deb'));
    await writeFile(join(archives, 'stranger_1.0_amd64.deb'), 'not in any index');
    const result = await cli(['import', archives]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /"stored":1/);
    assert.match(result.stdout, /"unknown":1/);
    assert.match(result.stderr, /imported: 1 stored/);
    upstream.resetStats();
    const got = await probe(upstream.url(repo.package('charlie').poolPath), { proxy: hoard.url });
    assert.equal(got.headers['x-hoard-cache'], 'HIT');
    assert.equal(upstream.hits(repo.package('charlie').poolPath), 0);
  });

  test('warm: the named package and its dependencies are fetched once, and then hit', async () => {
    const sources = join(work, 'sources.list');
    await writeFile(sources, `# warmed by the test\ndeb ${upstream.baseUrl} ${repo.suite} main\n`);
    upstream.resetStats();
    const result = await cli(['warm', '--sources', sources, '--packages', 'bravo']);
    assert.equal(result.exitCode, 0, result.stderr + result.stdout);
    assert.match(result.stderr, /warmed 2 of 2 files/);
    assert.equal(upstream.hits(repo.package('alpha').poolPath), 1, 'the dependency too');
    assert.equal(upstream.hits(repo.package('bravo').poolPath), 1);
    assert.equal(upstream.hits(repo.package('delta').poolPath), 0);
    const got = await probe(upstream.url(repo.package('alpha').poolPath), { proxy: hoard.url });
    assert.equal(got.headers['x-hoard-cache'], 'HIT');
  });
});
