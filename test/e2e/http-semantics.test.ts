// End-to-end HTTP behaviour of the cache: HEAD, ranges, conditional requests, pipelining, refusals.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('HTTP done right', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  const names = Array.from({ length: 10 }, (_, i) => `p${i}`);

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [...names.map((name, i) => ({ name, version: '1', size: 1000 + i * 777 })), { name: 'large', version: '1', size: 2 * 1024 * 1024 }],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    hoard = await HoardProcess.start({ config: { logLevel: 'warn' } });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  const viaHoard = (poolPath: string) => `${hoard.url}/${upstream.origin.replace('http://', '')}/debian/${poolPath}`;

  test('HEAD, Content-Length, Last-Modified in GMT and a strong ETag', async () => {
    const p = repo.package('p1');
    const head = await probe(viaHoard(p.poolPath), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(p.size));
    // HEAD of an uncached file starts its download; once whole it is a plain hit.
    await probe(viaHoard(p.poolPath));
    const get = await probe(viaHoard(p.poolPath));
    assert.equal(sha256(get.body), p.sha256);
    assert.match(get.headers['last-modified'] ?? '', /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.match(get.headers.etag ?? '', /^"[0-9a-f]{32}"$/);
    assert.equal(get.headers['x-hoard-cache'], 'HIT');
  });

  test('conditional requests are answered 304', async () => {
    const p = repo.package('p2');
    await probe(viaHoard(p.poolPath));
    const first = await probe(viaHoard(p.poolPath));
    const byTag = await probe(viaHoard(p.poolPath), { headers: { 'if-none-match': first.headers.etag as string } });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    const byDate = await probe(viaHoard(p.poolPath), { headers: { 'if-modified-since': first.headers['last-modified'] as string } });
    assert.equal(byDate.status, 304);
    const older = await probe(viaHoard(p.poolPath), { headers: { 'if-modified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' } });
    assert.equal(older.status, 200);
  });

  test('single ranges on a cached object: 206 with Content-Range, 416 past the end', async () => {
    const p = repo.package('p3');
    const whole = (await probe(viaHoard(p.poolPath))).body;
    const part = await probe(viaHoard(p.poolPath), { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 100-199/${whole.length}`);
    assert.deepEqual(part.body, whole.subarray(100, 200));
    const suffix = await probe(viaHoard(p.poolPath), { headers: { range: 'bytes=-10' } });
    assert.deepEqual(suffix.body, whole.subarray(whole.length - 10));
    const past = await probe(viaHoard(p.poolPath), { headers: { range: `bytes=${whole.length}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${whole.length}`);
  });

  test('a range on an object still downloading is served from the bytes as they arrive', async () => {
    const p = repo.package('large');
    let release!: () => void;
    upstream.misbehave(p.poolPath, faults.holdUntil(new Promise<void>((r) => (release = r)), { afterBytes: 512 * 1024 }), { times: 1 });
    const full = probe(viaHoard(p.poolPath), { timeoutMs: 20_000 });
    await upstream.waitForRequest(p.poolPath, 10_000);
    const early = await probe(viaHoard(p.poolPath), { headers: { range: 'bytes=1000-1999' }, timeoutMs: 10_000 });
    release();
    const whole = await full;
    assert.equal(early.status, 206);
    assert.equal(early.headers['x-hoard-cache'], 'COALESCED');
    assert.deepEqual(early.body, whole.body.subarray(1000, 2000));
    assert.equal(sha256(whole.body), p.sha256);
  });

  test('ten pipelined requests on one connection are answered in order', async () => {
    const targets = names.map((n) => repo.package(n));
    const host = upstream.origin.replace('http://', '');
    const wire = targets.map((p) => `GET http://${host}/debian/${p.poolPath} HTTP/1.1\r\nHost: ${host}\r\n\r\n`).join('');
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect(hoard.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let expected = 0;
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        expected = countResponses(Buffer.concat(chunks));
        if (expected === targets.length) socket.end();
      });
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
      socket.setTimeout(20_000, () => socket.destroy(new Error('pipelining timed out')));
      socket.write(wire);
    });
    const bodies = splitResponses(raw);
    assert.equal(bodies.length, targets.length);
    bodies.forEach((body, i) => assert.equal(sha256(body), targets[i]!.sha256, `response ${i} out of order or wrong`));
  });

  test('refusals: usage page, CONNECT, traversal, non-repository paths, methods, loops', async () => {
    const usage = await probe(`${hoard.url}/`);
    assert.equal(usage.status, 406);
    assert.match(usage.body.toString(), /Acquire::http::Proxy/);
    // What auto-apt-proxy and similar detection scripts grep for.
    assert.match(usage.body.toString(), /Apt-Cacher/);
    // Raw requests: an HTTP client library would resolve the dot segments before sending.
    const host = upstream.origin.replace('http://', '');
    for (const target of [`/${host}/debian/%2e%2e/%2e%2e/etc/passwd`, `/${host}/debian/../../etc/passwd`, `http://${host}/debian/pool/%2E%2E/%2E%2E/x.deb`]) {
      const traversal = await rawExchange(hoard.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(traversal, /^HTTP\/1\.1 400 .*HOARD_ERR_PATH_TRAVERSAL/s, target);
    }
    const notApt = await probe(`${hoard.url}/${upstream.origin.replace('http://', '')}/index.html`);
    assert.equal(notApt.status, 403);
    assert.match(notApt.body.toString(), /not an apt repository file/);
    const post = await probe(viaHoard(repo.package('p0').poolPath), { method: 'POST' });
    assert.equal(post.status, 405);
    const fromHoard = await probe(viaHoard(repo.package('p0').poolPath));
    const token = /hoard-[0-9a-f]+/.exec(fromHoard.headers.via ?? '')?.[0];
    assert.ok(token, 'hoard names itself in Via');
    const looped = await probe(viaHoard(repo.package('p0').poolPath), { headers: { via: `1.1 ${token}` } });
    assert.equal(looped.status, 508);
    const tunnel = await rawExchange(hoard.port, 'CONNECT mirror.example:443 HTTP/1.1\r\nHost: mirror.example:443\r\n\r\n');
    assert.match(tunnel, /^HTTP\/1\.1 403/);
    assert.match(tunnel, /no tunnel to mirror\.example:443; .*connect\.allow/);
    const nul = await rawExchange(
      hoard.port,
      `GET /${upstream.origin.replace('http://', '')}/debian/pool/a%00.deb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.match(nul, /^HTTP\/1\.1 400/);
  });

  test('clients outside the allowed networks are refused', async () => {
    const strict = await HoardProcess.start({ config: { logLevel: 'warn', allowedClients: ['10.0.0.0/8'] } });
    try {
      const r = await probe(`${strict.url}/${upstream.origin.replace('http://', '')}/debian/${repo.package('p0').poolPath}`);
      assert.equal(r.status, 403);
      assert.match(r.body.toString(), /HOARD_ERR_CLIENT_NOT_ALLOWED/);
    } finally {
      await strict.cleanup();
    }
  });
});

async function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.end());
    socket.write(request);
  });
}

/** Splits a stream of HTTP/1.1 responses framed by Content-Length into their bodies. */
function splitResponses(raw: Buffer): Buffer[] {
  const bodies: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < 100 && offset < raw.length; i++) {
    const headerEnd = raw.indexOf('\r\n\r\n', offset);
    if (headerEnd === -1) break;
    const head = raw.subarray(offset, headerEnd).toString('latin1');
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 'NaN');
    if (!Number.isFinite(length) || headerEnd + 4 + length > raw.length) break;
    bodies.push(raw.subarray(headerEnd + 4, headerEnd + 4 + length));
    offset = headerEnd + 4 + length;
  }
  return bodies;
}

function countResponses(raw: Buffer): number {
  return splitResponses(raw).length;
}
