// End-to-end: image streams through hoard — simplestreams (MAAS-like, with gpgv) and a SHA256SUMS tree (sha256sum -c), an upstream that lies.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../support/command-runner.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { ImageStream, maasProductsPath } from '../support/image-stream-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';
import { flipBitInBlob, runHoardVerify } from '../support/store-damage.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const maxAgeSeconds = 1;
const adminToken = 'image-streams-test-token-0123456789';
/** The verification hoard recorded for a cache key (the index database is readable while hoard runs). */
function storedVerification(hoard: HoardProcess, key: string): string | undefined {
  const db = new DatabaseSync(join(hoard.dataDir, 'index.sqlite'), { readOnly: true });
  try {
    return (db.prepare('SELECT verification FROM objects WHERE key = ?').get(key) as { verification?: string } | undefined)?.verification;
  } finally {
    db.close();
  }
}

/** One raw exchange on a fresh connection (bounded): what the server sent before closing. */
function raw(port: number, bytes: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', () => undefined);
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.write(bytes);
  });
}
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('image streams through hoard', () => {
  let stream: ImageStream;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let scratch: string;
  const url = (path: string) => `${hoard.url}/images/test/${path}`;
  const get = (path: string, timeoutMs = 30_000) => probe(url(path), { timeoutMs });

  before(async () => {
    stream = await ImageStream.create();
    upstream = await FakeUpstreamServer.start({ root: stream.root, prefix: '/mirror' });
    scratch = await makeTempDir('image-streams-e2e');
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'info',
        admin: { token: adminToken },
        images: {
          test: { url: `${upstream.baseUrl}/`, keyring: stream.keyring.publicKeyringPath, maxAgeSeconds },
          plain: { url: `${upstream.baseUrl}/` },
          strict: { url: `${upstream.baseUrl}/`, keyring: stream.keyring.publicKeyringPath, strict: true },
        },
      },
    });
  });

  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await stream?.cleanup();
    if (scratch !== undefined) await removeDir(scratch);
  });

  test('MAAS-like flow: index.sjson and products .sjson pass gpgv unchanged, then kernel, initrd and squashfs check out', async () => {
    const signed = ['streams/v1/index.sjson', maasProductsPath.replace(/\.json$/, '.sjson')];
    for (const path of signed) {
      const got = await get(path);
      assert.equal(got.status, 200, `${path}: ${got.body.toString()}`);
      assert.deepEqual(got.body, await stream.read(path), `${path} passes through byte-identical`);
      const file = join(scratch, path.replaceAll('/', '_'));
      await writeFile(file, got.body);
      const gpgv = await runCommand('gpgv', ['--keyring', stream.keyring.publicKeyringPath, file]);
      assert.equal(gpgv.exitCode, 0, `gpgv ${path}: ${gpgv.stderr}`);
    }
    const products = JSON.parse((await get(maasProductsPath)).body.toString()) as {
      products: Record<string, { versions: Record<string, { items: Record<string, { path: string; sha256: string; size: number }> }> }>;
    };
    const items = Object.values(products.products).flatMap((p) => Object.values(p.versions).flatMap((v) => Object.values(v.items)));
    assert.equal(items.length, 3);
    for (const round of [1, 2]) {
      for (const item of items) {
        const got = await get(item.path);
        assert.equal(got.status, 200, item.path);
        assert.ok(got.complete);
        assert.equal(got.body.length, item.size, `${item.path} size (round ${round})`);
        assert.equal(sha256(got.body), item.sha256, `${item.path} sha256 (round ${round})`);
      }
    }
    for (const item of items) assert.equal(upstream.hits(item.path, 'GET'), 1, `${item.path} fetched upstream once`);
    // The products .json is authenticated through its clear-signed twin, and its items with it.
    await hoard.waitForDownloadsSettled();
    for (const item of items) assert.equal(storedVerification(hoard, `image:test/${item.path}`), 'authenticated', item.path);
  });

  test('a SHA256SUMS tree: sha256sum -c and gpgv pass on what hoard serves, names with + included', async () => {
    const dir = 'cloud/bookworm/20260101';
    const local = join(scratch, 'tree');
    await runCommand('mkdir', ['-p', local]);
    for (const name of ['SHA256SUMS', 'SHA256SUMS.gpg', 'disk.img', 'root+extra.tar.xz']) {
      const got = await get(`${dir}/${encodeURIComponent(name)}`);
      assert.equal(got.status, 200, `${name}: ${got.body.toString().slice(0, 200)}`);
      await writeFile(join(local, name), got.body);
    }
    const check = await runCommand('sha256sum', ['-c', 'SHA256SUMS'], { cwd: local });
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /root\+extra\.tar\.xz: OK/);
    const gpgv = await runCommand('gpgv', ['--keyring', stream.keyring.publicKeyringPath, join(local, 'SHA256SUMS.gpg'), join(local, 'SHA256SUMS')]);
    assert.equal(gpgv.exitCode, 0, gpgv.stderr);
  });

  test('a moving name replaced upstream (with its SHA256SUMS): the new bytes are served, fetched once', async () => {
    const path = 'cloud/bookworm/current/disk.img';
    const first = await get(path);
    assert.equal(sha256(first.body), stream.file('disk').sha256);
    assert.equal((await get(path)).status, 200);
    // `current/` holds the same bytes as the dated directory fetched before: stored once, maybe never asked for by this name.
    const before = upstream.hits(path, 'GET');
    assert.ok(before <= 1);
    const replaced = await stream.replaceMovingDisk();
    assert.notEqual(replaced.sha256, sha256(first.body));
    await pause(maxAgeSeconds * 1000 + 700);
    // No SHA256SUMS asked first: hoard revalidates the list that covers the item itself.
    const second = await get(path);
    assert.equal(second.status, 200);
    assert.equal(sha256(second.body), replaced.sha256, 'the new bytes under the old name');
    const third = await get(path);
    assert.equal(sha256(third.body), replaced.sha256);
    assert.equal(upstream.hits(path, 'GET'), before + 1, 'fetched again once, then served from the cache');
  });

  test('a file no list covers is stored unverified and follows the upstream after the max age', async () => {
    const path = 'cloud/bookworm/current/NOTES.txt';
    await stream.overwrite(path, Buffer.from('first notes\n'));
    assert.equal((await get(path)).body.toString(), 'first notes\n');
    assert.equal((await get(path)).body.toString(), 'first notes\n');
    assert.equal(upstream.hits(path, 'GET'), 1);
    await stream.overwrite(path, Buffer.from('second notes\n'));
    await pause(maxAgeSeconds * 1000 + 700);
    assert.equal((await get(path)).body.toString(), 'second notes\n');
  });

  test('an item with wrong bytes or a cut body is refused and not stored; the next request gets the right bytes', async () => {
    for (const [role, fault] of [
      ['unified', faults.corrupt()],
      ['lxd-rootxz', faults.cutAfter(Math.floor(stream.file('lxd-rootxz').bytes.length / 2))],
    ] as const) {
      const file = stream.file(role);
      upstream.misbehave(file.path, fault, { times: 1 });
      const bad = await get(file.path);
      assert.ok(!bad.complete || bad.status >= 500, `${role}: the client must not get a whole body`);
      if (bad.complete) assert.notEqual(sha256(bad.body), sha256(file.bytes));
      else assert.ok(bad.body.length < file.bytes.length);
      await hoard.waitForDownloadsSettled();
      const good = await get(file.path);
      assert.equal(good.status, 200);
      assert.equal(sha256(good.body), file.sha256, `${role}: right bytes after the refusal`);
      assert.equal(upstream.hits(file.path, 'GET'), 2, `${role}: the refused bytes were not stored`);
    }
  });

  test('each item is fetched upstream once however many clients ask at the same time', async () => {
    const file = stream.file('lxd-squashfs');
    upstream.misbehave(file.path, faults.slow(1500), { times: 1 });
    const clients = Promise.all(Array.from({ length: 8 }, () => get(file.path)));
    // A Range request while the download runs: served from the bytes as they arrive.
    const rangedEarly = probe(url(file.path), { headers: { range: `bytes=${file.bytes.length - 100}-` }, timeoutMs: 30_000 });
    const got = await clients;
    const early = await rangedEarly;
    assert.equal(early.status, 206);
    assert.deepEqual(early.body, file.bytes.subarray(file.bytes.length - 100));
    for (const g of got) {
      assert.equal(g.status, 200);
      assert.equal(sha256(g.body), file.sha256);
    }
    assert.equal(upstream.hits(file.path, 'GET'), 1);
    // Range, also from the stored copy.
    const ranged = await probe(url(file.path), { headers: { range: 'bytes=100-199' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(ranged.body, file.bytes.subarray(100, 200));
  });

  test('stale metadata is served with a Warning when the upstream fails', async () => {
    const path = 'streams/v1/index.json';
    const fresh = await get(path);
    assert.equal(fresh.status, 200);
    await pause(maxAgeSeconds * 1000 + 700);
    const rule = upstream.misbehave(path, faults.status(503));
    try {
      const stale = await get(path);
      assert.equal(stale.status, 200);
      assert.deepEqual(stale.body, fresh.body);
      assert.match(String(stale.headers.warning), /^11[01] /);
    } finally {
      rule.remove();
    }
  });

  test('a products .sjson with a broken signature never replaces the good one', async () => {
    const path = maasProductsPath.replace(/\.json$/, '.sjson');
    const good = await stream.read(path);
    assert.equal((await get(path)).status, 200);
    const tampered = Buffer.from(good.toString().replace('"linux-generic"', '"linux-evil"'));
    assert.notDeepEqual(tampered, good);
    await stream.overwrite(path, tampered);
    try {
      await pause(maxAgeSeconds * 1000 + 700);
      const served = await get(path);
      assert.equal(served.status, 200);
      assert.deepEqual(served.body, good, 'the previous, well-signed copy');
      assert.match(String(served.headers.warning), /^110 /);
      // Without a keyring the upstream's bytes pass as they are (clients check signatures themselves).
      const plain = await probe(`${hoard.url}/images/plain/${path}`);
      assert.deepEqual(plain.body, tampered);
    } finally {
      await stream.overwrite(path, good);
    }
  });

  test('gc takes items the cached SHA256SUMS no longer lists first, and keeps those still listed', async () => {
    const dir = 'cloud/bookworm/20260101';
    await stream.dropFromSums(dir, 'root+extra.tar.xz');
    await pause(maxAgeSeconds * 1000 + 700);
    const sums = await get(`${dir}/SHA256SUMS`);
    assert.doesNotMatch(sums.body.toString(), /root\+extra/);
    await hoard.waitForDownloadsSettled();
    const response = await fetch(`${hoard.url}/_hoard/actions/gc?dryRun=1`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(response.status, 200);
    const report = (await response.json()) as { removed: Array<{ keys: string[]; reason: string }> };
    const removedKeys = report.removed.flatMap((r) => r.keys.map((key) => `${r.reason} ${key}`));
    assert.ok(removedKeys.includes(`unreferenced image:test/${dir}/root+extra.tar.xz`), removedKeys.join('\n'));
    assert.ok(!removedKeys.some((k) => k.includes(stream.file('kernel').path)), 'an item the products file lists stays');
    assert.ok(!removedKeys.some((k) => k.endsWith('/current/disk.img')), 'the current moving item stays');
  });

  test('strict: items a signed stream lists are served (read from the stream first), anything else is refused', async () => {
    const initrd = stream.file('initrd');
    // Nothing of this upstream is cached yet: hoard reads the index and products (authenticated by their .sjson twins) first.
    const listed = await probe(`${hoard.url}/images/strict/${initrd.path}`, { timeoutMs: 30_000 });
    assert.equal(listed.status, 200, listed.body.toString().slice(0, 200));
    assert.equal(sha256(listed.body), initrd.sha256);
    const sums = await probe(`${hoard.url}/images/strict/cloud/bookworm/current/disk.img`, { timeoutMs: 30_000 });
    assert.equal(sums.status, 200, 'a SHA256SUMS with a good SHA256SUMS.gpg covers its files');
    await stream.overwrite('images/unlisted.bin', Buffer.from('nobody signed this'));
    const unlisted = await probe(`${hoard.url}/images/strict/images/unlisted.bin`);
    assert.equal(unlisted.status, 403);
    assert.match(unlisted.body.toString(), /not covered|strict/);
  });

  test('metrics, stats and the dashboard count each image upstream: hits, bytes saved, downloads in progress', async () => {
    const metrics = await (await fetch(`${hoard.url}/_hoard/metrics`)).text();
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? Number.NaN);
    assert.ok(value(/^hoard_named_upstream_requests_total\{upstream="image:test",result="hit"\} (\d+)$/m) > 0, 'hits counted');
    assert.ok(value(/^hoard_named_upstream_fetched_bytes_total\{upstream="image:test"\} (\d+)$/m) > 5_000_000, 'fetched bytes counted');
    assert.equal(value(/^hoard_named_upstream_downloads_in_flight\{upstream="image:test"\} (\d+)$/m), 0);
    assert.match(metrics, /^hoard_named_upstream_requests_total\{upstream="image:plain",result="hit"\} \d+$/m);
    const stats = (await (await fetch(`${hoard.url}/_hoard/stats.json`)).json()) as {
      namedUpstreams: Array<{ upstream: string; hits: number; saved: number; servedFromCache: number }>;
    };
    const images = stats.namedUpstreams.find((u) => u.upstream === 'image:test');
    assert.ok(images !== undefined && images.hits > 0 && images.saved > 0 && images.servedFromCache > 0, JSON.stringify(images));
    const page = await (await fetch(`${hoard.url}/_hoard/`)).text();
    assert.match(page, /data-named-upstream="image:test"/);
  });

  test('hoard verify finds a damaged image item; after a restart it is fetched again and checked against the stored stream', async () => {
    const initrd = stream.file('initrd');
    await hoard.stop();
    await flipBitInBlob(hoard.dataDir, initrd.sha256);
    const verify = await runHoardVerify(hoard);
    assert.equal(verify.exitCode, 1, verify.stdout + verify.stderr);
    assert.match(verify.stdout, new RegExp(`DAMAGED ${initrd.sha256}`));
    await hoard.restart();
    const hits = upstream.hits(initrd.path, 'GET');
    const again = await get(initrd.path);
    assert.equal(sha256(again.body), initrd.sha256);
    assert.equal(upstream.hits(initrd.path, 'GET'), hits + 1);
    // The stream knowledge was rebuilt from the stored products files and signatures at start-up.
    await hoard.waitForDownloadsSettled();
    assert.equal(storedVerification(hoard, `image:test/${initrd.path}`), 'authenticated');
  });

  test('as a parent: a site hoard with the same image upstream asks this one in absolute-form; the upstream sees one request', async () => {
    const [file] = await stream.addTreeDirectory('cloud/bookworm/20260102', { 'disk.img': randomBytes(700_000) });
    assert.ok(file !== undefined);
    const site = await HoardProcess.start({ config: { logLevel: 'info', upstream: { parent: hoard.url }, images: { test: { url: `${upstream.baseUrl}/` } } } });
    try {
      for (const round of [1, 2]) {
        const got = await probe(`${site.url}/images/test/${file.path}`, { timeoutMs: 30_000 });
        assert.equal(got.status, 200, `round ${round}: ${got.body.toString().slice(0, 200)}`);
        assert.equal(sha256(got.body), file.sha256);
      }
      assert.equal(upstream.hits(file.path, 'GET'), 1);
      // The site's requests reached the upstream only through this hoard: every one carries this hoard's Via.
      for (const record of upstream.requestsFor(file.path)) assert.match(String(record.headers.via), /hoard-[0-9a-f]+.*hoard-[0-9a-f]+/);
    } finally {
      await site.cleanup();
    }
  });

  test('routing: unknown image names are 404, traversal and bad encodings 400, other paths stay apt', async () => {
    assert.equal((await probe(`${hoard.url}/images/nosuch/streams/v1/index.json`)).status, 404);
    // Raw requests: a URL parser would resolve the dot segments before sending.
    for (const target of ['/images/test/streams/%2e%2e/%2e%2e/etc/passwd', '/images/test/a/../../etc/passwd', '/images/test/streams/v1/%zz.json']) {
      assert.match(await raw(hoard.port, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 400 /, target);
    }
    assert.equal((await probe(`${hoard.url}/images/test/streams/v1/`)).status, 403);
    const viaColon = await get(maasProductsPath);
    assert.equal(viaColon.status, 200, 'a products path with ":" is served');
  });
});
