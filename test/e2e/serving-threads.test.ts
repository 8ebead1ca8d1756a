// End-to-end: with server.threads, hits are sent from a serving thread and the main thread alike, counted once, and nothing else changes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe, type ProbeResult } from '../support/http-probe.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

interface ThreadFigures {
  readonly up: boolean;
  readonly requests: number;
  readonly relayed: number;
  readonly tunnels: number;
  readonly hits: number;
  readonly bytes: number;
}

interface Stats {
  readonly requests: Record<string, number>;
  readonly bytes: { readonly servedFromCache: number };
  readonly threads?: { readonly serving: number; readonly workers: readonly ThreadFigures[] };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET with a chosen source address (127.0.0.2 is a loopback address too), on a fresh connection. */
function getFrom(url: string, localAddress: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function stats(hoard: HoardProcess, from = '127.0.0.1'): Promise<Stats> {
  const answer = await getFrom(`${hoard.url}/_hoard/stats.json`, from);
  assert.equal(answer.status, 200, answer.body.toString());
  return JSON.parse(answer.body.toString()) as Stats;
}

/** Waits (bounded) until the serving thread listens: it starts after the main thread answers. */
async function threadUp(hoard: HoardProcess, from = '127.0.0.1'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = await stats(hoard, from);
    if (s.threads !== undefined && s.threads.workers.length > 0 && s.threads.workers.every((w) => w.up)) return;
    await sleep(200);
  }
  assert.fail('the serving thread never came up');
}

/** Runs `task` for each item, `width` at a time. */
async function inBatches<T, R>(items: readonly T[], width: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(task))));
  return results;
}

const worker = (s: Stats) => s.threads?.workers[0] as ThreadFigures;
const hits = (s: Stats) => s.requests.hit ?? 0;

describe('serving threads (server.threads: 1)', () => {
  let root: string;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  const files = new Map<string, Buffer>();
  const url = (path: string) => `${hoard.url}/127.0.0.1:${upstream.port}/debian/${path}`;

  before(async () => {
    root = await makeTempDir('serving-threads-upstream');
    const add = async (path: string, size: number) => {
      const bytes = randomBytes(size);
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), bytes);
      files.set(path, bytes);
    };
    await add('pool/main/b/big/big_1_all.deb', 6 * 1024 * 1024);
    await add('pool/main/s/small/small_1_all.deb', 4096);
    await add('pool/main/m/mid/mid_1_all.deb', 300 * 1024);
    await add('pool/main/n/new/new_1_all.deb', 2 * 1024 * 1024);
    await add('pool/main/g/gone/gone_1_all.deb', 1024 * 1024);
    upstream = await FakeUpstreamServer.start({ root, prefix: '/debian' });
    hoard = await HoardProcess.start({ config: { server: { threads: 1 }, connect: { allow: [`127.0.0.1:${upstream.port}`] } } });
    await threadUp(hoard);
  });

  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    if (root !== undefined) await removeDir(root);
  });

  test('cached pool files are sent by both threads, byte for byte, and every hit is counted once', async () => {
    const cached = ['pool/main/b/big/big_1_all.deb', 'pool/main/s/small/small_1_all.deb', 'pool/main/m/mid/mid_1_all.deb'];
    for (const path of cached) assert.equal((await probe(url(path))).status, 200);
    const before = await stats(hoard);
    const asked = Array.from({ length: 48 }, (_, i) => cached[i % cached.length] as string);
    const results = await inBatches(asked, 8, async (path) => ({ path, result: await probe(url(path), { timeoutMs: 30_000 }) }));
    for (const { path, result } of results) {
      assert.equal(result.status, 200);
      assert.ok(result.complete, `${path} arrived whole`);
      assert.equal(result.headers['x-hoard-cache'], 'HIT');
      assert.equal(sha256(result.body), sha256(files.get(path) as Buffer), `${path} byte for byte`);
    }
    const after = await stats(hoard);
    assert.equal(hits(after) - hits(before), asked.length, 'each hit counted once, whichever thread sent it');
    const byWorker = worker(after).hits - worker(before).hits;
    assert.ok(byWorker > 0 && byWorker < asked.length, `both threads sent hits (the serving thread sent ${byWorker} of ${asked.length})`);
    const expectedBytes = asked.reduce((sum, path) => sum + (files.get(path) as Buffer).length, 0);
    assert.equal(after.bytes.servedFromCache - before.bytes.servedFromCache, expectedBytes, 'bytes served from the cache, all threads');
    assert.equal(upstream.hits('pool/main/b/big/big_1_all.deb'), 1);
  });

  test('Range, If-None-Match and HEAD are answered the same by every thread', async () => {
    const path = 'pool/main/b/big/big_1_all.deb';
    const bytes = files.get(path) as Buffer;
    const first = await probe(url(path), { method: 'HEAD' });
    const etag = first.headers.etag as string;
    assert.ok(etag.length > 2);
    const before = await stats(hoard);
    for (let i = 0; i < 12; i++) {
      const ranged = await probe(url(path), { headers: { range: 'bytes=1000-1999' } });
      assert.equal(ranged.status, 206);
      assert.equal(ranged.headers['content-range'], `bytes 1000-1999/${bytes.length}`);
      assert.deepEqual(ranged.body, bytes.subarray(1000, 2000));
      const unchanged = await probe(url(path), { headers: { 'if-none-match': etag } });
      assert.equal(unchanged.status, 304);
      assert.equal(unchanged.body.length, 0);
      const head = await probe(url(path), { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(bytes.length));
      assert.equal(head.headers['last-modified'], first.headers['last-modified']);
      assert.equal(head.headers.etag, etag);
    }
    const after = await stats(hoard);
    assert.ok(worker(after).hits > worker(before).hits, 'the serving thread answered some of them');
  });

  test('a miss arriving on the serving thread is fetched from the upstream once', async () => {
    const path = 'pool/main/n/new/new_1_all.deb';
    const before = await stats(hoard);
    const results = await Promise.all(Array.from({ length: 16 }, () => probe(url(path), { timeoutMs: 30_000 })));
    for (const result of results) {
      assert.equal(result.status, 200);
      assert.ok(result.complete);
      assert.equal(sha256(result.body), sha256(files.get(path) as Buffer));
    }
    assert.equal(upstream.hits(path), 1, 'one upstream request for 16 clients on two threads');
    const after = await stats(hoard);
    assert.ok(worker(after).relayed > worker(before).relayed, 'some clients came through the serving thread');
  });

  test('a blob removed under the serving thread is fetched again, never sent broken', async () => {
    const path = 'pool/main/g/gone/gone_1_all.deb';
    const bytes = files.get(path) as Buffer;
    assert.equal((await probe(url(path))).status, 200);
    const digest = sha256(bytes);
    const blob = join(hoard.dataDir, 'blobs', 'sha256', digest.slice(0, 2), digest);
    // Stored and indexed once the download's durable commit is done, just after the response. Until then the
    // download is still joinable and answers from its own file, a whole and right body: wait until it has ended.
    await hoard.waitForDownloadsSettled();
    assert.ok((await readdir(join(blob, '..'))).includes(digest));
    await rm(blob);
    let whole: ProbeResult | undefined;
    // The main thread answers a hit on a hand-deleted blob with a cut body (docs/architecture.md, "The index at scale");
    // the serving thread finds it gone before sending a byte and gives the request back, which then is a miss.
    for (let i = 0; i < 30 && whole === undefined; i++) {
      const result = await probe(url(path), { timeoutMs: 30_000 });
      if (result.complete) {
        assert.equal(result.status, 200);
        assert.equal(sha256(result.body), digest, 'a whole body is always the right one');
        whole = result;
      }
    }
    assert.ok(whole !== undefined, 'the file was fetched again');
    assert.equal(upstream.hits(path), 2, 'fetched twice: first, and after its blob was removed');
    const again = await probe(url(path));
    assert.ok(again.complete);
    assert.equal(sha256(again.body), digest);
  });

  test('CONNECT through the serving thread reaches the allowed destination', async () => {
    const before = await stats(hoard);
    const tunnel = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(hoard.port, '127.0.0.1');
        let text = '';
        let established = false;
        socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
        socket.on('connect', () => socket.write(`CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`));
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (!established && /^HTTP\/1\.[01] 200[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n$/.test(text)) {
            established = true;
            text = '';
            socket.write(`GET /debian/pool/main/s/small/small_1_all.deb HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
          }
        });
        socket.on('end', () => resolve(text.slice(0, 200)));
        socket.on('error', reject);
      });
    const answers = await Promise.all(Array.from({ length: 12 }, tunnel));
    for (const answer of answers) assert.match(answer, /^HTTP\/1\.1 200 /, 'the upstream answered through the tunnel');
    const after = await stats(hoard);
    assert.ok(worker(after).tunnels > worker(before).tunnels, 'some tunnels went through the serving thread');
  });
});

describe('serving threads and client access', () => {
  let root: string;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  const path = 'pool/main/a/alpha/alpha_1_all.deb';

  before(async () => {
    root = await makeTempDir('serving-threads-access');
    await mkdir(join(root, 'pool/main/a/alpha'), { recursive: true });
    await writeFile(join(root, path), randomBytes(512 * 1024));
    upstream = await FakeUpstreamServer.start({ root, prefix: '/debian' });
    // Only 127.0.0.2 may use the cache; the test's ordinary connections come from 127.0.0.1.
    hoard = await HoardProcess.start({ config: { server: { threads: 1 }, allowedClients: ['127.0.0.2/32'] } });
    await threadUp(hoard, '127.0.0.2');
  });

  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    if (root !== undefined) await removeDir(root);
  });

  test('a client outside the allowed networks is refused by every thread, even for a cached file', async () => {
    const target = `${hoard.url}/127.0.0.1:${upstream.port}/debian/${path}`;
    assert.equal((await getFrom(target, '127.0.0.2')).status, 200);
    const before = await stats(hoard, '127.0.0.2');
    for (let i = 0; i < 16; i++) {
      const refused = await probe(target);
      assert.equal(refused.status, 403);
      assert.equal(refused.headers['x-hoard-error'], 'HOARD_ERR_CLIENT_NOT_ALLOWED');
      assert.equal(refused.body.length < 200, true);
    }
    const after = await stats(hoard, '127.0.0.2');
    assert.ok(worker(after).requests > worker(before).requests, 'the serving thread took some of the refused clients');
    assert.equal(worker(after).hits, worker(before).hits, 'and sent them nothing');
    assert.equal(hits(after), hits(before));
    assert.equal((after.requests.refused ?? 0) - (before.requests.refused ?? 0), 16, 'each refusal counted once');
    assert.equal(upstream.hits(path), 1);
  });
});
