// End-to-end: hoard verifies everything against the signed indices — real apt-get, real gpg keys, an upstream that lies on demand.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { AptClient, type AptClientOptions } from '../support/apt-client.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { flipBitInBlob, runHoardVerify } from '../support/store-damage.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sha256File = async (path: string) => sha256(await readFile(path));

/** The verification hoard recorded for a cache key, read from its index database (WAL: readable while hoard runs). */
function storedVerification(hoard: HoardProcess, key: string): string | undefined {
  const db = new DatabaseSync(join(hoard.dataDir, 'index.sqlite'), { readOnly: true });
  try {
    const row = db.prepare('SELECT verification FROM objects WHERE key = ?').get(key) as { verification?: string } | undefined;
    return row?.verification;
  } finally {
    db.close();
  }
}

/**
 * The verification recorded once the object is stored: a response ends as soon as its bytes are
 * verified, and the index entry follows the fsync and rename a moment later.
 */
async function storedVerificationOnceStored(hoard: HoardProcess, key: string): Promise<string | undefined> {
  await hoard.waitForDownloadsSettled();
  return storedVerification(hoard, key);
}

/** Rewrites a served file with a later mtime, so that Last-Modified moves and a conditional request gets the new bytes. */
async function rewrite(path: string, bytes: Uint8Array): Promise<void> {
  const before = (await stat(path)).mtimeMs;
  await writeFile(path, bytes);
  const later = new Date(Math.max(Date.now(), before) + 2000);
  await utimes(path, later, later);
}

describe('verification against the signed indices, with real apt-get', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let apt: AptClient;
  const clients: AptClient[] = [];
  const key = (rootRelative: string) => upstream.origin + upstream.wirePath(rootRelative);

  async function client(options: Partial<AptClientOptions> & { route?: AptClientOptions['route'] } = {}): Promise<AptClient> {
    const made = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: hoard.url },
      ...options,
    });
    clients.push(made);
    return made;
  }

  before(async () => {
    repo = await SignedRepo.create({
      packages: [
        { name: 'alpha', version: '1.0', size: 4 * 1024 },
        { name: 'bravo', version: '2.0', size: 300 * 1024 },
        { name: 'charlie', version: '3.0', size: 20 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    // indexMaxAgeSeconds 0: every apt update revalidates the InRelease, so each upstream change is seen at once.
    hoard = await HoardProcess.start({ config: { logLevel: 'info', keyrings: [repo.keyringPath], cache: { indexMaxAgeSeconds: 0 } } });
    apt = await client();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.cleanup()));
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  test('apt update and install through hoard: the chain Release -> Packages -> .deb is authenticated by the known key', async () => {
    const update = await apt.update();
    assert.equal(update.exitCode, 0, update.stderr);
    assert.deepEqual([...update.warnings, ...update.errors], []);
    const download = await apt.download(['alpha', 'charlie']);
    assert.equal(download.exitCode, 0, download.stderr);
    await hoard.waitForLog(/"trust":"authenticated".*"msg":"release generation is current"/);
    assert.equal(await storedVerificationOnceStored(hoard, key(repo.distPath('InRelease'))), 'authenticated');
    const xz = repo.indexFiles.find((f) => f.path.endsWith('.xz'));
    assert.equal(await storedVerificationOnceStored(hoard, key(xz?.byHashPath ?? '')), 'authenticated');
    assert.equal(await storedVerificationOnceStored(hoard, key(repo.package('alpha').poolPath)), 'authenticated');
  });

  test('a package with the same size but other bytes: not stored, apt fails cleanly, the next run succeeds', async () => {
    const bravo = repo.package('bravo');
    upstream.misbehave(bravo.poolPath, faults.corrupt(), { times: 1 });
    const lied = await apt.download(['bravo']);
    assert.notEqual(lied.exitCode, 0, 'apt must not accept the forged package');
    assert.ok(
      lied.errors.some((line) => line.includes('bravo')),
      lied.stderr,
    );
    // The last byte is held back until the hash is checked: apt never receives a whole wrong file.
    assert.doesNotMatch(lied.stderr, /Hash Sum mismatch/);
    assert.equal(storedVerification(hoard, key(bravo.poolPath)), undefined, 'nothing stored');
    const line = await hoard.waitForLog(/HOARD_ERR_DIGEST_MISMATCH/);
    assert.ok(line.text.includes(upstream.url(bravo.poolPath)), `the log names the upstream and the file: ${line.text}`);

    // The upstream is honest again; apt resumes its partial file, and hoard makes it start over.
    const fixed = await apt.download(['bravo']);
    assert.equal(fixed.exitCode, 0, fixed.stderr);
    assert.equal(await sha256File(fixed.debs.find((d) => d.includes('bravo_')) ?? ''), bravo.sha256);
    assert.equal(upstream.hits(bravo.poolPath), 2);
    assert.equal(await storedVerificationOnceStored(hoard, key(bravo.poolPath)), 'authenticated');
  });

  test('mirror mid-update, InRelease new while its Packages are still old: apt update through hoard succeeds', async () => {
    const next = await repo.stage({ add: [{ name: 'delta', version: '1.0', size: 2 * 1024 }] });
    await next.writeRelease();

    // Control: straight from the mirror, apt fails (the new InRelease lists indices the mirror does not have yet).
    const direct = await client({ route: { kind: 'direct' } });
    const broken = await direct.update();
    assert.notEqual(broken.exitCode, 0, 'the mirror really is inconsistent');

    const update = await apt.update();
    assert.equal(update.exitCode, 0, update.stderr);
    assert.deepEqual([...update.warnings, ...update.errors], []);
    await hoard.waitForLog(/new Release not admitted/);
    // A client starting from nothing gets the previous generation, whole and consistent.
    const fresh = await client();
    const first = await fresh.update();
    assert.equal(first.exitCode, 0, first.stderr);
    assert.deepEqual([...first.warnings, ...first.errors], []);

    await next.complete();
    const after = await apt.update();
    assert.equal(after.exitCode, 0, after.stderr);
    const got = await apt.download(['delta']);
    assert.equal(got.exitCode, 0, got.stderr);
    assert.equal(await sha256File(got.debs.find((d) => d.includes('delta_')) ?? ''), repo.package('delta').sha256);
  });

  test('mirror mid-update, Packages new while the InRelease is still old: apt update through hoard succeeds, by name too', async () => {
    const next = await repo.stage({ add: [{ name: 'echo', version: '1.0', size: 2 * 1024 }] });
    await next.writePool();
    await next.writeByHash();
    await next.writeIndices();
    // By name, and in a compression hoard has not stored yet: hoard must fetch the index by its hash upstream.
    const options = { 'Acquire::By-Hash': 'no', 'Acquire::CompressionTypes::Order::': 'gz' };

    const direct = await client({ route: { kind: 'direct' }, options });
    const broken = await direct.update();
    assert.notEqual(broken.exitCode, 0, 'the mirror really is inconsistent');

    const byName = await client({ options });
    const update = await byName.update();
    assert.equal(update.exitCode, 0, update.stderr);
    assert.deepEqual([...update.warnings, ...update.errors], []);
    const gz = repo.indexFiles.find((f) => f.path.endsWith('.gz'));
    assert.ok(gz?.byHashPath !== undefined);
    assert.equal(upstream.hits(gz.byHashPath), 1, 'the .gz asked by name was fetched by hash');

    await next.complete();
    const after = await byName.update();
    assert.equal(after.exitCode, 0, after.stderr);
    assert.equal((await byName.download(['echo'])).exitCode, 0);
  });

  test('a repository without by-hash is kept consistent too, in both mid-update directions', async () => {
    // Same key as the main repository, so hoard knows it; no by-hash, so only names exist upstream.
    const plain = await SignedRepo.create({
      suite: 'plain',
      withByHash: false,
      keyring: repo.keyring,
      packages: [{ name: 'golf', version: '1.0', size: 2 * 1024 }],
    });
    const plainUpstream = await FakeUpstreamServer.start({ root: plain.root, prefix: '/plain' });
    try {
      const sources = [{ url: plainUpstream.baseUrl, suite: plain.suite, keyringPath: repo.keyringPath }];
      const through = await client({ sources });
      assert.equal((await through.update()).exitCode, 0);

      // Release first, indices later: the new Release is held back until its indices can be fetched by name.
      const next = await plain.stage({ add: [{ name: 'hotel', version: '1.0', size: 2 * 1024 }] });
      await next.writeRelease();
      const held = await through.update();
      assert.equal(held.exitCode, 0, held.stderr);
      assert.deepEqual([...held.warnings, ...held.errors], []);
      await next.complete();
      const switched = await through.update();
      assert.equal(switched.exitCode, 0, switched.stderr);
      assert.equal((await through.download(['hotel'])).exitCode, 0);

      // Indices first, Release later: a client starting now still gets the stored, matching indices.
      const later = await plain.stage({ add: [{ name: 'india', version: '1.0', size: 2 * 1024 }] });
      await later.writePool();
      await later.writeIndices();
      const direct = await client({ sources, route: { kind: 'direct' } });
      assert.notEqual((await direct.update()).exitCode, 0, 'the mirror really is inconsistent');
      const fresh = await client({ sources });
      const update = await fresh.update();
      assert.equal(update.exitCode, 0, update.stderr);
      assert.deepEqual([...update.warnings, ...update.errors], []);
      await later.complete();
    } finally {
      await plainUpstream.close();
      await plain.cleanup();
    }
  });

  test('a third-party repository rebuilds a package under the same file name: the next install gets the new bytes', async () => {
    const before = repo.package('alpha');
    await repo.publish({ add: [{ name: 'alpha', version: '1.0', size: 4 * 1024 }] });
    const rebuilt = repo.package('alpha');
    assert.equal(rebuilt.poolPath, before.poolPath);
    assert.notEqual(rebuilt.sha256, before.sha256);

    const update = await apt.update();
    assert.equal(update.exitCode, 0, update.stderr);
    await apt.clearArchives();
    const hits = upstream.hits(rebuilt.poolPath);
    const download = await apt.download(['alpha']);
    assert.equal(download.exitCode, 0, download.stderr);
    assert.equal(await sha256File(download.debs[0] ?? ''), rebuilt.sha256);
    assert.equal(upstream.hits(rebuilt.poolPath), hits + 1);
  });

  test('an InRelease whose signature is broken for a known key never replaces the good one, and is logged', async () => {
    const path = repo.localPath(repo.distPath('InRelease'));
    const good = await readFile(path);
    // Same signature, altered signed text: what an attacker on the path to the mirror would serve.
    const tampered = Buffer.from(good.toString('utf8').replace(/^Description: .*$/m, 'Description: nothing to see here'));
    assert.notDeepEqual(tampered, good);
    await rewrite(path, tampered);

    const update = await apt.update();
    assert.match(`${update.stdout}\n${update.stderr}`, /BADSIG|signatures were invalid/, 'apt sees the bad signature itself');
    const logged = await hoard.waitForLog(/Release signature check failed/);
    assert.ok(logged.text.includes(repo.keyring.fingerprint), logged.text);

    // The stored InRelease is still the good one: with the upstream down, hoard serves it.
    const down = upstream.misbehave(repo.distPath('InRelease'), faults.status(503));
    try {
      const stale = await probe(upstream.url(repo.distPath('InRelease')), { proxy: hoard.url });
      assert.equal(stale.status, 200);
      assert.deepEqual(stale.body, good);
    } finally {
      down.remove();
    }
    await rewrite(path, good);
    const healed = await apt.update();
    assert.equal(healed.exitCode, 0, healed.stderr);
  });

  test('an InRelease signed by a key hoard does not know is served, marked unauthenticated; strict mode refuses it', async () => {
    const other = await SignedRepo.create({ suite: 'other', packages: [{ name: 'foxtrot', version: '1.0', size: 3 * 1024 }] });
    const otherUpstream = await FakeUpstreamServer.start({ root: other.root, prefix: '/other' });
    const strict = await HoardProcess.start({ config: { logLevel: 'info', strict: true, keyrings: [repo.keyringPath], cache: { indexMaxAgeSeconds: 0 } } });
    try {
      const source = { url: otherUpstream.baseUrl, suite: other.suite, keyringPath: other.keyringPath };
      const lenient = await client({ sources: [source] });
      const update = await lenient.update();
      assert.equal(update.exitCode, 0, update.stderr);
      assert.equal((await lenient.download(['foxtrot'])).exitCode, 0);
      await hoard.waitForLog(/Release not signed by a trusted key/);
      const otherKey = (p: string) => otherUpstream.origin + otherUpstream.wirePath(p);
      assert.equal(await storedVerificationOnceStored(hoard, otherKey(other.distPath('InRelease'))), 'hash-verified');
      assert.equal(await storedVerificationOnceStored(hoard, otherKey(other.package('foxtrot').poolPath)), 'hash-verified');

      // strict: the unknown key's repository is refused outright, the known one works.
      const refused = await client({ sources: [source], route: { kind: 'proxy', proxyUrl: strict.url } });
      assert.notEqual((await refused.update()).exitCode, 0);
      const answer = await probe(otherUpstream.url(other.distPath('InRelease')), { proxy: strict.url });
      assert.equal(answer.status, 403);
      assert.equal(answer.headers['x-hoard-error'], 'HOARD_ERR_NOT_AUTHENTICATED');
      const unlisted = await probe(upstream.url('pool/main/z/zulu/zulu_1.0_amd64.deb'), { proxy: strict.url });
      assert.equal(unlisted.status, 403);
      const known = await client({ route: { kind: 'proxy', proxyUrl: strict.url } });
      assert.equal((await known.update()).exitCode, 0);
      const got = await known.download(['charlie']);
      assert.equal(got.exitCode, 0, got.stderr);
    } finally {
      await strict.cleanup();
      await otherUpstream.close();
      await other.cleanup();
    }
  });

  test('a flipped byte in a stored object: hoard verify finds it, and the object is fetched again on next use', async () => {
    const charlie = repo.package('charlie');
    await hoard.stop();
    await flipBitInBlob(hoard.dataDir, charlie.sha256);

    const verify = await runHoardVerify(hoard);
    assert.equal(verify.exitCode, 1, verify.stdout + verify.stderr);
    assert.match(verify.stdout, new RegExp(`DAMAGED ${charlie.sha256}.*${charlie.poolPath.replaceAll('.', '\\.')}`));

    await hoard.restart();
    await apt.clearArchives();
    const hits = upstream.hits(charlie.poolPath);
    const download = await apt.download(['charlie']);
    assert.equal(download.exitCode, 0, download.stderr);
    assert.equal(await sha256File(download.debs[0] ?? ''), charlie.sha256);
    assert.equal(upstream.hits(charlie.poolPath), hits + 1);
    // Checked against knowledge rebuilt from the store at start-up (the Release and Packages were not fetched again).
    assert.equal(await storedVerificationOnceStored(hoard, key(charlie.poolPath)), 'authenticated');
  });
});
