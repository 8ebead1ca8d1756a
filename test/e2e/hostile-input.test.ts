// Hostile and broken peers: fuzzed targets and headers, smuggling shapes, slowloris, stuck readers and upstreams, relay abuse.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { readdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { classifyAptPath } from '../../src/protocols/apt/path-class.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** One raw exchange on a fresh connection; resolves with what the server sent before closing (bounded). */
function raw(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.write(bytes);
  });
}

describe('hostile input and broken peers', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let second: FakeUpstreamServer;
  let hoard: HoardProcess;
  let host: string;

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'alpha', version: '1', size: 20_000 },
        { name: 'stuck', version: '1', size: 2 * 1024 * 1024 },
        { name: 'slowread', version: '1', size: 8 * 1024 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    second = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    host = upstream.origin.replace('http://', '');
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'error',
        allowedHosts: ['127.0.0.1', 'localhost'],
        server: { headersTimeoutMs: 1000, clientIdleTimeoutMs: 1500 },
        upstream: { idleTimeoutMs: 1000 },
        backends: { twin: { mirrors: [upstream.baseUrl, second.baseUrl] } },
      },
    });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await second?.close();
    await repo?.cleanup();
  });

  test('fuzzed request targets and headers never crash the server nor reach outside the repositories', async () => {
    upstream.resetStats();
    const segment = fc.oneof(
      fc.constantFrom(
        '..',
        '.',
        '%2e%2e',
        '%2E%2e',
        '%00',
        '%zz',
        '%',
        '\\',
        'dists',
        'pool',
        'by-hash',
        'InRelease',
        'HTTPS',
        '',
        '~',
        '%2f',
        'etc',
        'passwd',
      ),
      fc.string({ maxLength: 12 }),
    );
    const target = fc.oneof(
      fc.array(segment, { maxLength: 8 }).map((s) => `/${host}/${s.join('/')}`),
      fc.array(segment, { maxLength: 8 }).map((s) => `http://${host}/${s.join('/')}`),
      fc.array(segment, { maxLength: 8 }).map((s) => `/${s.join('/')}`),
      fc.string({ maxLength: 40 }),
    );
    const header = fc.tuple(fc.constantFrom('Range', 'If-None-Match', 'If-Modified-Since', 'Via', 'Host', 'X-Any', 'If-Range'), fc.string({ maxLength: 30 }));
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'GETT', 'CONNECT');
    await fc.assert(
      fc.asyncProperty(method, target, fc.array(header, { maxLength: 4 }), async (m, t, headers) => {
        const lines = headers.map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, '')}`).join('\r\n');
        const answer = await raw(hoard.port, `${m} ${t.replace(/[\s]/g, '')} HTTP/1.1\r\nHost: x\r\n${lines}${lines ? '\r\n' : ''}Connection: close\r\n\r\n`);
        // Every answer is a well-formed HTTP status line; nothing under /etc ever comes back.
        assert.match(answer, /^HTTP\/1\.1 \d{3} /);
        assert.doesNotMatch(answer, /root:x:0:0/);
      }),
      { numRuns: 1500 },
    );
    // The server is still up, and the upstream saw only repository paths under its own prefix.
    assert.equal((await probe(`${hoard.url}/${host}/debian/${repo.package('alpha').poolPath}`)).status, 200);
    for (const r of upstream.requests) assert.ok(classifyAptPath(r.path), `upstream asked for ${r.path}, not an apt repository file`);
    const dataFiles = await readdir(hoard.dataDir);
    for (const f of dataFiles) assert.match(f, /^(blobs|tmp|quarantine|index\.sqlite(-wal|-shm)?|[a-z-]+\.json)$/, `unexpected ${f} in the data dir`);
  });

  test('smuggling shapes, oversized headers and bad framing get 4xx', async () => {
    const path = `/${host}/debian/${repo.package('alpha').poolPath}`;
    const cases: Array<[string, RegExp]> = [
      [`GET ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, /^HTTP\/1\.1 400/],
      [`GET ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n`, /^HTTP\/1\.1 400/],
      [`GET ${path} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431/],
      [`GET ${path} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`, /^HTTP\/1\.1 400/],
      [`GET ${path}\r\n\r\n`, /^HTTP\/1\.1 400/],
      [`G\u0000T ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, /^HTTP\/1\.1 400/],
      [`GET /${host}/debian/pool/%GG.deb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /^HTTP\/1\.1 400/],
      [`BREW ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /^HTTP\/1\.1 (400|405)/],
      [`GET /${'x'.repeat(5000)}.deb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /^HTTP\/1\.1 (414|431)/],
    ];
    for (const [request, expected] of cases) assert.match(await raw(hoard.port, request), expected, JSON.stringify(request.slice(0, 80)));
    const badRange = await probe(`${hoard.url}${path}`, { headers: { range: 'bytes=oops' } });
    assert.equal(badRange.status, 200);
  });

  test('a slowloris is cut after the header timeout while others are served', async () => {
    const socket = connect(hoard.port, '127.0.0.1');
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    socket.on('error', () => undefined);
    // Reading is what lets this side notice the server's FIN.
    socket.resume();
    const started = Date.now();
    let sent = 0;
    const drip = setInterval(() => {
      if (sent++ < 20 && !socket.destroyed) socket.write(sent === 1 ? 'GET / HTTP/1.1\r\n' : `X-${sent}: y\r\n`);
    }, 200);
    try {
      const other = await probe(`${hoard.url}/${host}/debian/${repo.package('alpha').poolPath}`);
      assert.equal(other.status, 200);
      const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 8000))]);
      assert.ok(at > 0, 'the slowloris connection was closed');
      assert.ok(at - started < 6000, `closed after ${at - started} ms`);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });

  test('a client that stops reading is cut after the idle timeout; others are not held up', async () => {
    const p = repo.package('slowread');
    await probe(`${hoard.url}/${host}/debian/${p.poolPath}`);
    const socket: Socket = connect(hoard.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let received = 0;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`GET /${host}/debian/${p.poolPath} HTTP/1.1\r\nHost: x\r\n\r\n`);
    socket.pause();
    const other = await probe(`${hoard.url}/${host}/debian/${repo.package('alpha').poolPath}`);
    assert.equal(other.status, 200);
    // Stay silent past the idle timeout (1.5 s), then read what the server had sent before it gave up.
    await new Promise((r) => setTimeout(r, 3500));
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.resume();
    const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 8000))]);
    socket.destroy();
    assert.equal(outcome, 'closed');
    assert.ok(received < p.size, `the stalled reader got ${received} of ${p.size} bytes before being cut`);
  });

  test('an upstream that stalls mid-body is abandoned; clients get an error; the next request uses the other mirror', async () => {
    const p = repo.package('stuck');
    upstream.misbehave(p.poolPath, faults.stall('forever', { afterBytes: 100_000 }), { times: 1 });
    const first = await probe(`${hoard.url}/twin/${p.poolPath}`, { timeoutMs: 10_000 });
    assert.equal(first.complete, false);
    second.resetStats();
    const again = await probe(`${hoard.url}/twin/${p.poolPath}`, { timeoutMs: 10_000 });
    assert.equal(again.status, 200);
    assert.equal(sha256(again.body), p.sha256);
    assert.equal(second.hits(p.poolPath), 1, 'the second mirror served the retry');
  });

  test('not an open relay: other hosts, non-repository paths and loops never reach an upstream', async () => {
    upstream.resetStats();
    const otherHost = await probe(`${hoard.url}/mirror.example/debian/${repo.package('alpha').poolPath}`);
    assert.equal(otherHost.status, 403);
    assert.match(otherHost.body.toString(), /HOARD_ERR_HOST_NOT_ALLOWED/);
    const notApt = await probe(`${hoard.url}/${host}/debian/secret.txt`);
    assert.equal(notApt.status, 403);
    const proxied = await probe(`http://${host}/admin/login.php`, { proxy: hoard.url });
    assert.equal(proxied.status, 403);
    assert.equal(upstream.totalRequests, 0);
  });

  test('upstream 404 stays a 404 and a burst of clients causes one upstream request', async () => {
    upstream.resetStats();
    const missing = `/${host}/debian/pool/main/n/nothere/nothere_1_amd64.deb`;
    const answers = await Promise.all(Array.from({ length: 8 }, () => probe(`${hoard.url}${missing}`)));
    for (const a of answers) assert.equal(a.status, 404);
    const again = await probe(`${hoard.url}${missing}`);
    assert.equal(again.status, 404);
    assert.equal(upstream.hits('pool/main/n/nothere/nothere_1_amd64.deb'), 1);
  });
});
