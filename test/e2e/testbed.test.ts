// Proves the e2e test bed on its own (no hoard): signed repo, fake upstream, real apt-get, hoard-process helper.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AptClient } from '../support/apt-client.ts';
import { runChecked } from '../support/command-runner.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sha256File = async (path: string) => sha256(await readFile(path));
const exists = async (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('signed repository served on loopback, consumed by the real apt-get', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let apt: AptClient;
  const packageNames = ['alpha', 'bravo', 'charlie', 'delta', 'libecho'];

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'alpha', version: '1.0', size: 2 * 1024 },
        { name: 'bravo', version: '2.1-3', size: 40 * 1024, depends: 'alpha (>= 1.0)' },
        { name: 'charlie', version: '1:0.9~rc1+dfsg', size: 300 * 1024 },
        { name: 'delta', version: '5', size: 1024 * 1024 },
        { name: 'libecho', version: '1.2.3', size: 2 * 1024 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    apt = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'direct' },
    });
  });

  after(async () => {
    await apt?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  test('the repository has a signed Release listing every index file, with by-hash copies', async () => {
    const release = await readFile(repo.localPath(repo.distPath('Release')), 'utf8');
    for (const field of [
      'Origin: Hoard Test',
      'Label: Hoard Test',
      'Suite: stable',
      'Codename: stable',
      'Architectures: amd64',
      'Components: main',
      'Acquire-By-Hash: yes',
    ]) {
      assert.ok(release.includes(`${field}\n`), `Release lacks ${field}:\n${release}`);
    }
    assert.match(release, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} UTC$/m);
    assert.equal(repo.indexFiles.length, 3);
    for (const file of repo.indexFiles) {
      const bytes = await readFile(repo.localPath(file.path));
      assert.equal(bytes.length, file.size);
      assert.equal(sha256(bytes), file.sha256);
      assert.ok(release.includes(` ${file.sha256} ${String(file.size).padStart(4)} ${file.releasePath}\n`), `Release lacks ${file.releasePath}`);
      assert.ok(file.byHashPath !== undefined);
      assert.deepEqual(await readFile(repo.localPath(file.byHashPath)), bytes);
    }
    const gpgv = (args: string[]) =>
      runChecked('gpgv', ['--keyring', repo.keyringPath, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin', LC_ALL: 'C' } });
    await gpgv([repo.localPath(repo.distPath('InRelease'))]);
    await gpgv([repo.localPath(repo.distPath('Release.gpg')), repo.localPath(repo.distPath('Release'))]);
  });

  test("apt's configuration is isolated from the machine's /etc/apt", async () => {
    const dump = (await apt.aptConfig(['dump'])).stdout;
    assert.match(dump, new RegExp(`^Dir::Etc::sourceparts "sources.list.d";$`, 'm'));
    assert.ok(dump.includes(`Dir::Etc "${apt.root}/etc/apt/";`), dump);
    // No value points into the machine's apt directories, and no hook from its apt.conf.d is loaded.
    assert.doesNotMatch(dump, /"\/etc\/apt|"\/var\/lib\/apt|"\/var\/cache\/apt|"\/var\/lib\/dpkg/);
    assert.doesNotMatch(dump, /Post-Invoke|Pre-Invoke/);
  });

  test('apt-get update and download directly: no warnings, byte-identical debs, one request per package', async () => {
    const update = await apt.update();
    assert.equal(update.exitCode, 0, update.stderr);
    assert.deepEqual([...update.warnings, ...update.errors], []);

    upstream.resetStats();
    const download = await apt.download(packageNames);
    assert.equal(download.exitCode, 0, download.stderr);
    assert.deepEqual([...download.warnings, ...download.errors], []);
    assert.equal(download.debs.length, packageNames.length);
    const downloaded = new Set(await Promise.all(download.debs.map(sha256File)));
    for (const pkg of repo.packages) {
      assert.ok(downloaded.has(pkg.sha256), `${pkg.name}: apt got other bytes than the package's`);
      assert.equal(await sha256File(pkg.filePath), pkg.sha256);
      assert.equal(upstream.hits(pkg.poolPath), 1, `${pkg.name} requested ${upstream.hits(pkg.poolPath)} times`);
    }
    assert.equal(upstream.totalRequests, packageNames.length);
    // apt percent-encodes '~' and '+' in the request target; the counters key on the decoded path.
    assert.ok(upstream.requests.some((r) => r.target.includes('%7e')));
  });

  test('a new generation rebuilds a package under the same file name; apt gets the new bytes', async () => {
    const before = repo.package('alpha');
    const previousIndexFiles = repo.indexFiles;
    const generation = await repo.publish({ add: [{ name: 'alpha', version: '1.0', size: 2 * 1024 }] });
    const after = repo.package('alpha');
    assert.equal(generation.number, 2);
    assert.equal(after.poolPath, before.poolPath);
    assert.notEqual(after.sha256, before.sha256);
    for (const file of previousIndexFiles) {
      assert.ok(await exists(repo.localPath(file.byHashPath ?? '')), `by-hash object of generation 1 is gone: ${file.path}`);
    }

    upstream.resetStats();
    const update = await apt.update();
    assert.equal(update.exitCode, 0, update.stderr);
    assert.deepEqual([...update.warnings, ...update.errors], []);
    const newXz = repo.indexFiles.find((f) => f.path.endsWith('.xz'));
    assert.equal(upstream.hits(newXz?.byHashPath ?? ''), 1, 'apt fetches the new index by hash');

    await apt.clearArchives();
    upstream.resetStats();
    const download = await apt.download(['alpha']);
    assert.equal(download.exitCode, 0, download.stderr);
    assert.equal(download.debs.length, 1);
    assert.equal(await sha256File(download.debs[0] ?? ''), after.sha256);
    assert.equal(upstream.hits(after.poolPath), 1);
  });

  test('a mirror caught mid-update: new Packages under an old InRelease make apt fail with a hash mismatch', async () => {
    const staged = await repo.stage({ add: [{ name: 'bravo', version: '2.1-4', size: 4096, depends: 'alpha' }] });
    await staged.writePool();
    await staged.writeIndices();
    // Without by-hash apt asks for the canonical path, now holding bytes the old InRelease does not list.
    const client = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'direct' },
      options: { 'Acquire::By-Hash': 'no' },
    });
    try {
      const update = await client.update();
      assert.equal(update.exitCode, 100);
      // apt checks the size before the hash, and says so: "File has unexpected size (776 != 784). Mirror sync in progress?"
      assert.ok(
        update.errors.some((line) => line.includes('Packages') && /unexpected size|Hash Sum mismatch/.test(line)),
        update.stderr,
      );
      await staged.complete();
      const retry = await client.update();
      assert.equal(retry.exitCode, 0, retry.stderr);
      assert.equal(repo.package('bravo').version, '2.1-4');
    } finally {
      await client.cleanup();
    }
  });

  test('proxy mode: apt sends absolute-form targets to the proxy (the fake upstream plays it here)', async () => {
    const client = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: upstream.origin },
    });
    try {
      upstream.resetStats();
      const update = await client.update();
      assert.equal(update.exitCode, 0, update.stderr);
      const inRelease = upstream.requestsFor(repo.distPath('InRelease'));
      assert.equal(inRelease.length, 1);
      assert.equal(inRelease[0]?.target, upstream.url(repo.distPath('InRelease')));
      assert.equal(inRelease[0]?.absoluteForm, true);
      assert.equal(inRelease[0]?.headers['cache-control'], 'max-age=0');
    } finally {
      await client.cleanup();
    }
  });

  test('apt reports a cut .deb as an error, then resumes it with Range and If-Range', async () => {
    const pkg = repo.package('libecho');
    await apt.clearArchives();
    upstream.resetStats();
    upstream.misbehave(pkg.poolPath, faults.cutAfter(700_000), { times: 1 });
    const cut = await apt.download(['libecho']);
    assert.equal(cut.exitCode, 100);
    assert.ok(
      cut.errors.some((line) => line.includes(pkg.poolPath)),
      cut.stderr,
    );
    assert.equal(cut.debs.length, 0);

    const resumed = await apt.download(['libecho']);
    assert.equal(resumed.exitCode, 0, resumed.stderr);
    assert.equal(await sha256File(resumed.debs[0] ?? ''), pkg.sha256);
    const second = upstream.requestsFor(pkg.poolPath)[1];
    assert.equal(second?.headers.range, 'bytes=700000-');
    assert.equal(second?.status, 206);
    assert.ok(second?.headers['if-range'] !== undefined);
  });

  test('a fresh apt state can run again against the same repository', async () => {
    await apt.resetState();
    const update = await apt.update();
    assert.equal(update.exitCode, 0, update.stderr);
    const download = await apt.download(['bravo']);
    assert.equal(download.exitCode, 0, download.stderr);
    // bravo depends on alpha: install --download-only resolves dependencies like a real install.
    assert.deepEqual(
      download.debs.map((p) => basename(p).split('_')[0]),
      ['alpha', 'bravo'],
    );
  });
});

describe('fake upstream: serving, counting and misbehaving', () => {
  let dir: string;
  let served: string;
  let server: FakeUpstreamServer;
  const small = Buffer.alloc(1000);
  const big = Buffer.alloc(256 * 1024);

  before(async () => {
    for (let i = 0; i < small.length; i += 1) small[i] = i % 251;
    for (let i = 0; i < big.length; i += 1) big[i] = (i * 7) % 253;
    dir = await makeTempDir('upstream-test');
    served = join(dir, 'served');
    await mkdir(served);
    await writeFile(join(served, 'small.bin'), small);
    await writeFile(join(served, 'big.bin'), big);
    await writeFile(join(dir, 'secret.txt'), 'outside the served root');
    server = await FakeUpstreamServer.start({ root: served, prefix: '/mirror' });
  });

  after(async () => {
    await server?.close();
    await removeDir(dir);
  });

  test('serves GET and HEAD with validators, 404 for missing, outside the prefix or traversing', async () => {
    const get = await probe(server.url('small.bin'));
    assert.equal(get.status, 200);
    assert.ok(get.complete);
    assert.deepEqual(get.body, small);
    assert.equal(get.headers['content-length'], '1000');
    assert.equal(get.headers['accept-ranges'], 'bytes');
    assert.ok(get.headers.etag !== undefined && get.headers['last-modified'] !== undefined);

    const head = await probe(server.url('small.bin'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '1000');
    assert.equal(head.body.length, 0);

    assert.equal((await probe(server.url('missing.bin'))).status, 404);
    assert.equal((await probe(`${server.origin}/small.bin`)).status, 404);
    // `..%2f` survives URL normalisation and decodes to a `../` that would reach secret.txt.
    assert.equal((await probe(`${server.origin}/mirror/..%2fsecret.txt`)).status, 404);
  });

  test('answers 304 to If-None-Match and If-Modified-Since; If-None-Match wins', async () => {
    const first = await probe(server.url('small.bin'));
    const etag = String(first.headers.etag);
    const lastModified = String(first.headers['last-modified']);
    const byTag = await probe(server.url('small.bin'), { headers: { 'If-None-Match': etag } });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    assert.equal((await probe(server.url('small.bin'), { headers: { 'If-Modified-Since': lastModified } })).status, 304);
    assert.equal((await probe(server.url('small.bin'), { headers: { 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' } })).status, 200);
    assert.equal((await probe(server.url('small.bin'), { headers: { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified } })).status, 200);
  });

  test('serves a single Range as 206, 416 past the end, and the whole file when If-Range is stale', async () => {
    const part = await probe(server.url('small.bin'), { headers: { Range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 10-19/1000');
    assert.deepEqual(part.body, small.subarray(10, 20));
    const suffix = await probe(server.url('small.bin'), { headers: { Range: 'bytes=-5' } });
    assert.deepEqual(suffix.body, small.subarray(995));
    const past = await probe(server.url('small.bin'), { headers: { Range: 'bytes=2000-' } });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], 'bytes */1000');
    const stale = await probe(server.url('small.bin'), { headers: { Range: 'bytes=10-', 'If-Range': '"stale"' } });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, 1000);
  });

  test('counts requests per path and method, logs headers, and resets', async () => {
    server.resetStats();
    const seen = server.waitForRequest('big.bin');
    await probe(server.url('small.bin'), { headers: { Via: '1.1 hoard' } });
    await probe(server.url('small.bin'), { method: 'HEAD' });
    await probe(server.url('big.bin'));
    assert.equal((await seen).path, '/mirror/big.bin');
    assert.equal(server.hits('small.bin'), 2);
    assert.equal(server.hits('/mirror/small.bin', 'HEAD'), 1);
    assert.equal(server.hits(/\.bin$/), 3);
    assert.deepEqual(server.stats().get('/mirror/small.bin'), { total: 2, byMethod: { GET: 1, HEAD: 1 } });
    assert.equal(server.requestsFor('small.bin')[0]?.headers.via, '1.1 hoard');
    assert.equal(server.totalRequests, 3);
    server.resetStats();
    assert.equal(server.totalRequests, 0);
  });

  test('cutAfter sends full headers, N bytes, then closes', async () => {
    server.misbehave('big.bin', faults.cutAfter(1000), { times: 1 });
    const cut = await probe(server.url('big.bin'));
    assert.equal(cut.status, 200);
    assert.equal(cut.headers['content-length'], String(big.length));
    assert.equal(cut.complete, false);
    assert.deepEqual(cut.body, big.subarray(0, 1000));
    assert.equal(server.requestsFor('big.bin').at(-1)?.outcome, 'cut');
    assert.ok((await probe(server.url('big.bin'))).complete, 'times: 1 applies once');

    server.misbehave('big.bin', faults.cutAfter(1000, { reset: true }), { times: 1 });
    const reset = await probe(server.url('big.bin'));
    assert.equal(reset.complete, false);
    assert.ok(reset.body.length <= 1000);
  });

  test('corrupt keeps the size but changes one byte', async () => {
    server.misbehave('big.bin', faults.corrupt(), { times: 1 });
    const bad = await probe(server.url('big.bin'));
    assert.ok(bad.complete);
    assert.equal(bad.body.length, big.length);
    assert.notEqual(sha256(bad.body), sha256(big));
    const differing = [...bad.body.keys()].filter((i) => bad.body[i] !== big[i]);
    assert.deepEqual(differing, [big.length / 2]);
  });

  test('status answers with the code for the next N requests only', async () => {
    const rule = server.misbehave('small.bin', faults.status(500), { times: 2 });
    assert.equal((await probe(server.url('small.bin'))).status, 500);
    assert.equal((await probe(server.url('small.bin'))).status, 500);
    assert.equal(rule.remaining, 0);
    assert.equal((await probe(server.url('small.bin'))).status, 200);
  });

  test('stall holds the body mid-way until released, or for a time', async () => {
    const release = Promise.withResolvers<void>();
    server.misbehave('big.bin', faults.holdUntil(release.promise), { times: 1 });
    const pending = probe(server.url('big.bin'));
    const record = await server.waitForRequest('big.bin');
    const deadline = Date.now() + 5000;
    while (record.bytesSent < big.length / 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(record.bytesSent, big.length / 2);
    assert.equal(record.outcome, undefined);
    release.resolve();
    const held = await pending;
    assert.ok(held.complete);
    assert.deepEqual(held.body, big);

    server.misbehave('small.bin', faults.stall(200, { afterBytes: 10 }), { times: 1 });
    const timed = await probe(server.url('small.bin'));
    assert.ok(timed.complete);
    assert.ok(timed.elapsedMs >= 190, `stalled only ${timed.elapsedMs} ms`);
  });

  test('rateLimit and slow pace the whole body', async () => {
    server.misbehave('big.bin', faults.rateLimit(1024 * 1024), { times: 1 });
    const limited = await probe(server.url('big.bin'));
    assert.ok(limited.complete);
    assert.deepEqual(limited.body, big);
    assert.ok(limited.elapsedMs >= 200, `256 KiB at 1 MiB/s took only ${limited.elapsedMs} ms`);

    server.misbehave('big.bin', faults.slow(300), { times: 1 });
    const slow = await probe(server.url('big.bin'));
    assert.ok(slow.complete);
    assert.ok(slow.headersAfterMs !== undefined && slow.headersAfterMs < 100, 'headers come first, the body streams');
    assert.ok(slow.elapsedMs >= 270, `slow(300) took only ${slow.elapsedMs} ms`);
  });

  test('chunked serves the file without Content-Length, and appends bytes when asked', async () => {
    server.misbehave('small.bin', faults.chunked(), { times: 1 });
    const plain = await probe(server.url('small.bin'));
    assert.equal(plain.headers['content-length'], undefined);
    assert.equal(plain.headers['transfer-encoding'], 'chunked');
    assert.ok(plain.complete);
    assert.deepEqual(plain.body, small);
    server.misbehave('small.bin', faults.chunked({ appendBytes: 5000 }), { times: 1 });
    const padded = await probe(server.url('small.bin'));
    assert.ok(padded.complete);
    assert.equal(padded.body.length, small.length + 5000);
    assert.deepEqual(padded.body.subarray(0, small.length), small);
  });

  test('endless sends a bounded stream of bytes, chunked or under a declared length it never meets, file or not', async () => {
    server.misbehave('/mirror/none.img', faults.endless({ maxBytes: 300_000 }), { times: 1 });
    const chunked = await probe(server.url('/mirror/none.img'));
    assert.equal(chunked.status, 200);
    assert.equal(chunked.headers['content-length'], undefined);
    assert.ok(chunked.complete);
    assert.equal(chunked.body.length, 300_000);
    server.misbehave('/mirror/none.img', faults.endless({ contentLength: 10 ** 15, maxBytes: 200_000 }), { times: 1 });
    const declared = await probe(server.url('/mirror/none.img'));
    assert.equal(declared.headers['content-length'], String(10 ** 15));
    assert.equal(declared.complete, false);
    assert.ok(declared.body.length <= 200_000);
    assert.equal(server.requestsFor('/mirror/none.img').at(-1)?.outcome, 'cut');
  });

  test('delayHeaders, drop and extra headers', async () => {
    server.misbehave('small.bin', faults.delayHeaders(200), { times: 1 });
    const delayed = await probe(server.url('small.bin'));
    assert.ok((delayed.headersAfterMs ?? 0) >= 190, `headers after ${delayed.headersAfterMs} ms`);

    server.misbehave('small.bin', faults.drop(), { times: 1 });
    const dropped = await probe(server.url('small.bin'));
    assert.equal(dropped.status, 0);
    assert.ok(dropped.error !== undefined);

    server.misbehave(/small/, [faults.headers({ 'Cache-Control': 'max-age=60' })], { times: 1, methods: ['HEAD'] });
    assert.equal((await probe(server.url('small.bin'))).headers['cache-control'], undefined, 'GET is not matched');
    assert.equal((await probe(server.url('small.bin'), { method: 'HEAD' })).headers['cache-control'], 'max-age=60');
  });

  test('close() ends a connection stalled forever', async () => {
    const own = await FakeUpstreamServer.start({ root: served });
    own.misbehave('big.bin', faults.stall('forever'));
    const pending = probe(own.url('big.bin'));
    await own.waitForRequest('big.bin');
    await own.close();
    const result = await pending;
    assert.equal(result.complete, false);
    assert.ok(result.body.length < big.length);
  });

  test('serves HTTPS with a given key and certificate', async () => {
    const tlsDir = await makeTempDir('tls');
    try {
      const key = join(tlsDir, 'key.pem');
      const cert = join(tlsDir, 'cert.pem');
      await runChecked('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ]);
      const tls = await FakeUpstreamServer.start({ root: served, tls: { key: await readFile(key), cert: await readFile(cert) } });
      try {
        assert.match(tls.baseUrl, /^https:/);
        const got = await probe(tls.url('small.bin'), { ca: await readFile(cert) });
        assert.equal(got.status, 200);
        assert.deepEqual(got.body, small);
      } finally {
        await tls.close();
      }
    } finally {
      await removeDir(tlsDir);
    }
  });
});

describe('hoard-process helper, against a stub server standing in for hoard', () => {
  let dir: string;
  let stub: string;

  before(async () => {
    dir = await makeTempDir('stub-hoard');
    stub = join(dir, 'stub-hoard.mjs');
    await writeFile(
      stub,
      `import { createServer } from 'node:http';
const args = process.argv.slice(2);
const listen = args[args.indexOf('--listen') + 1];
if (process.env.STUB_FAIL) { console.error('stub: configuration is broken'); process.exit(2); }
if (process.env.STUB_IGNORE_TERM) process.on('SIGTERM', () => console.log('stub: ignoring SIGTERM'));
const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
const server = createServer((req, res) => res.end('stub'));
server.listen(port, host, () => console.log('stub: listening', JSON.stringify(args)));
if (!process.env.STUB_IGNORE_TERM) process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
    );
  });

  after(async () => {
    await removeDir(dir);
  });

  test('starts, answers, restarts on the same port and data dir, stops and kills', async () => {
    const hoard = await HoardProcess.start({ entry: stub, config: { upstreams: [{ name: 'x' }] } });
    try {
      assert.equal((await probe(`${hoard.url}/`)).body.toString(), 'stub');
      const firstPid = hoard.pid;
      const line = await hoard.waitForLog(/stub: listening/);
      assert.ok(line.text.includes('--data-dir') && line.text.includes(hoard.dataDir));
      assert.ok(hoard.configPath !== undefined);
      assert.match(await readFile(hoard.configPath, 'utf8'), /name: x/);

      await hoard.restart();
      assert.notEqual(hoard.pid, firstPid);
      assert.equal((await probe(`${hoard.url}/`)).status, 200);

      assert.deepEqual(await hoard.stop(), { code: 0, signal: null });
      await hoard.restart({ hard: true });
      assert.deepEqual(await hoard.kill9(), { code: null, signal: 'SIGKILL' });
    } finally {
      await hoard.cleanup();
    }
  });

  test('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const hoard = await HoardProcess.start({ entry: stub, env: { STUB_IGNORE_TERM: '1' } });
    try {
      assert.deepEqual(await hoard.stop(300), { code: null, signal: 'SIGKILL' });
    } finally {
      await hoard.cleanup();
    }
  });

  test('a process that dies during startup fails start() with its output', async () => {
    await assert.rejects(HoardProcess.start({ entry: stub, env: { STUB_FAIL: '1' } }), /exited during startup[\s\S]*configuration is broken/);
  });
});
