// End-to-end: a store and a config file written by hoard 0.1.0 (test/fixtures) still open and serve after an upgrade, with no re-download.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { runCommand } from '../support/command-runner.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import type { FaultRule } from '../support/fake-upstream-server.ts';
import { HoardProcess, repoRoot } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const fixture = join(repoRoot, 'test/fixtures/store-v0.1.0');
const configFixture = join(repoRoot, 'test/fixtures/hoard-v0.1.0.yaml');
/** The Last-Modified of every file of the fixture's repository (its generation date). */
const repoDate = new Date('2026-11-30T00:00:00Z');
/** Ten years: no stored index is due for revalidation, so every object must come from the store. */
const neverStale = 10 * 365 * 24 * 3600;

interface FixtureObject {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly immutable: boolean;
}
interface Manifest {
  readonly backend: string;
  readonly objects: readonly FixtureObject[];
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The environment without HOARD_* variables: only the files and flags a test names may count. */
function withoutHoardEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HOARD_'))), ...extra };
}

describe('a store written by hoard 0.1.0, after the upgrade', () => {
  let manifest: Manifest;
  let work: string;
  let upstream: FakeUpstreamServer;
  let failing: FaultRule | undefined;
  let hoard: HoardProcess;
  const configFor = (indexMaxAgeSeconds: number) => ({
    logLevel: 'info',
    keyrings: [join(fixture, 'keyring.gpg')],
    backends: { [manifest.backend]: { mirrors: [upstream.baseUrl] } },
    cache: { indexMaxAgeSeconds },
  });
  const get = (object: FixtureObject) => probe(`${hoard.url}/${manifest.backend}/${object.path}`);
  const immutable = () => manifest.objects.filter((o) => o.immutable);
  const mutable = () => manifest.objects.filter((o) => !o.immutable);

  before(async () => {
    manifest = JSON.parse(await readFile(join(fixture, 'manifest.json'), 'utf8')) as Manifest;
    work = await makeTempDir('store-migration');
    const dataDir = join(work, 'data');
    await cp(join(fixture, 'data-dir'), dataDir, { recursive: true });
    // The upstream serves the original bytes (the fixture's blobs are them) with the original dates,
    // so that a revalidation can be answered 304 and a re-download would be seen.
    const root = join(work, 'repo');
    for (const object of manifest.objects) {
      const file = join(root, object.path);
      await mkdir(dirname(file), { recursive: true });
      await cp(join(dataDir, 'blobs/sha256', object.sha256.slice(0, 2), object.sha256), file);
      await utimes(file, repoDate, repoDate);
    }
    upstream = await FakeUpstreamServer.start({ root, prefix: '/debian' });
    failing = upstream.misbehave(() => true, faults.status(500));
    hoard = await HoardProcess.start({ dataDir, config: configFor(neverStale) });
  });

  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    if (work !== undefined) await removeDir(work);
  });

  test('the fixture is small and names the objects it holds', () => {
    assert.ok(manifest.objects.some((o) => o.path.endsWith('/InRelease')));
    assert.ok(manifest.objects.some((o) => o.path.includes('/Packages') || o.path.includes('/by-hash/')));
    assert.ok(manifest.objects.filter((o) => o.path.startsWith('pool/')).length >= 2);
  });

  test('start-up re-checks the stored Release with the key it was signed with: authenticated', async () => {
    await hoard.waitForLog(/"trust":"authenticated".*"msg":"release generation is current"/);
  });

  test('every object is a HIT, byte-identical to the original, with no upstream request at all', async () => {
    for (const object of manifest.objects) {
      const got = await get(object);
      assert.equal(got.status, 200, `${object.path}: ${got.body.toString('utf8', 0, 200)}`);
      assert.equal(got.headers['x-hoard-cache'], 'HIT', object.path);
      assert.equal(got.body.length, object.size, object.path);
      assert.equal(sha256(got.body), object.sha256, object.path);
    }
    assert.equal(upstream.totalRequests, 0, upstream.requests.map((r) => r.path).join('\n'));
  });

  test('indices due for revalidation: the upstream answers 304, nothing is downloaded again, pool files are never asked', async () => {
    // Every mutable index is now stale at each request; the restarted process is the upgraded code on the same store.
    await writeFile(hoard.configPath ?? '', stringify(configFor(0)));
    await hoard.restart();
    failing?.remove();
    upstream.resetStats();
    for (const object of [...mutable(), ...immutable()]) {
      const got = await get(object);
      assert.equal(got.status, 200, object.path);
      assert.equal(sha256(got.body), object.sha256, object.path);
      if (object.immutable) assert.equal(got.headers['x-hoard-cache'], 'HIT', object.path);
    }
    for (const object of immutable()) assert.equal(upstream.hits(object.path), 0, `${object.path} was asked upstream`);
    const asked = upstream.requests;
    assert.ok(asked.length > 0, 'the stale indices were revalidated');
    for (const record of asked) {
      assert.equal(record.status, 304, `${record.path} answered ${record.status}: downloaded again`);
      assert.equal(record.bytesSent, 0, record.path);
    }
  });

  test('the upstream failing (500): indices are served from the store, byte-identical, pool files still HITs', async () => {
    upstream.misbehave(() => true, faults.status(500));
    upstream.resetStats();
    for (const object of manifest.objects) {
      const got = await get(object);
      assert.equal(got.status, 200, `${object.path}: ${got.body.toString('utf8', 0, 200)}`);
      assert.equal(sha256(got.body), object.sha256, object.path);
      if (object.immutable) assert.equal(got.headers['x-hoard-cache'], 'HIT', object.path);
    }
    for (const object of immutable()) assert.equal(upstream.hits(object.path), 0, `${object.path} was asked upstream`);
  });
});

describe('hoard verify on a store written by hoard 0.1.0', () => {
  let work: string | undefined;
  after(async () => {
    if (work !== undefined) await removeDir(work);
  });

  test('finds every object intact', async () => {
    work = await makeTempDir('store-migration-verify');
    const dataDir = join(work, 'data');
    await cp(join(fixture, 'data-dir'), dataDir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(fixture, 'manifest.json'), 'utf8')) as Manifest;
    const result = await runCommand(join(repoRoot, 'bin/hoard'), ['verify', '--data-dir', dataDir], {
      cwd: repoRoot,
      env: withoutHoardEnv({ HOARD_CONFIG: '/dev/null' }),
      timeoutMs: 30_000,
    });
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`checked ${manifest.objects.length} objects`));
  });
});

describe('a config file written for hoard 0.1.0', () => {
  /** The top-level keys of 0.1.0; the fixture must keep using them all. */
  const keysOf010 = [
    'listen',
    'dataDir',
    'logLevel',
    'allowedClients',
    'allowedHosts',
    'backends',
    'tls',
    'httpsUpgrade',
    'connect',
    'cache',
    'upstream',
    'server',
    'admin',
    'mdns',
    'strict',
    'keyrings',
  ];

  test('the fixture sets every top-level key of 0.1.0', async () => {
    const parsed = parse(await readFile(configFixture, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed).sort(), [...keysOf010].sort());
  });

  test('hoard config check accepts it', async () => {
    const result = await runCommand(join(repoRoot, 'bin/hoard'), ['config', 'check', '--config', configFixture], {
      cwd: repoRoot,
      env: withoutHoardEnv(),
      timeoutMs: 30_000,
    });
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /configuration is valid/);
  });
});
