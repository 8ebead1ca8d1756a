// End-to-end: a plain GET of a small cached pool file asked again is answered from the hit decision kept a moment ago, and nothing else is.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

interface Stats {
  readonly requests: Record<string, number>;
  readonly reusedHits: number;
  readonly store: { readonly entries: number };
}

const adminToken = 'hit-reuse-admin-token-0123456789';
const path = 'pool/main/s/small/small_1_all.deb';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('hit reuse on the main thread', () => {
  let root: string;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  const bytes = randomBytes(4096);
  const url = () => `${hoard.url}/127.0.0.1:${upstream.port}/debian/${path}`;
  const stats = async (): Promise<Stats> => {
    const answer = await probe(`${hoard.url}/_hoard/stats.json`);
    assert.equal(answer.status, 200);
    return JSON.parse(answer.body.toString()) as Stats;
  };

  before(async () => {
    root = await makeTempDir('hit-reuse-upstream');
    await mkdir(join(root, 'pool/main/s/small'), { recursive: true });
    await writeFile(join(root, path), bytes);
    upstream = await FakeUpstreamServer.start({ root, prefix: '/debian' });
    // Only 127.0.0.1 may use the cache; 127.0.0.2 is another loopback address, outside it.
    hoard = await HoardProcess.start({ config: { admin: { token: adminToken }, allowedClients: ['127.0.0.1/32'] } });
  });

  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    if (root !== undefined) await removeDir(root);
  });

  test('the same plain GET again is answered from the kept hit, byte for byte, logged and counted as a hit', async () => {
    const before = await stats();
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await probe(url()));
    const after = await stats();
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.ok(answer.complete);
      assert.deepEqual(answer.body, bytes);
      assert.equal(answer.headers['content-length'], '4096');
    }
    // Every hit carries the same validators, kept or looked up (the miss has no ETag: its digest was not known yet).
    const hits = answers.slice(1);
    for (const hit of hits) {
      assert.equal(hit.headers['accept-ranges'], 'bytes');
      assert.equal(hit.headers.etag, hits[0]?.headers.etag);
      assert.equal(hit.headers['last-modified'], hits[0]?.headers['last-modified']);
    }
    assert.equal(typeof hits[0]?.headers.etag, 'string');
    assert.deepEqual(
      answers.map((a) => a.headers['x-hoard-cache']),
      ['MISS', ...Array<string>(9).fill('HIT')],
    );
    assert.equal(upstream.hits(`/debian/${path}`), 1);
    assert.equal((after.requests.hit ?? 0) - (before.requests.hit ?? 0), 9, 'every hit counted once');
    const reused = after.reusedHits - before.reusedHits;
    // The second request keeps the decision; the rest reuse it unless a second went by between two of them.
    assert.ok(reused >= 1 && reused <= 8, `reused ${reused}`);
  });

  test('a range, a validator or a HEAD goes the whole way, whatever is kept', async () => {
    await probe(url());
    const first = await probe(url());
    const before = await stats();
    const range = await probe(url(), { headers: { range: 'bytes=10-19' } });
    assert.equal(range.status, 206);
    assert.deepEqual(range.body, bytes.subarray(10, 20));
    const etag = first.headers.etag as string;
    assert.equal((await probe(url(), { headers: { 'if-none-match': etag } })).status, 304);
    const modifiedSince = first.headers['last-modified'] as string;
    assert.equal((await probe(url(), { headers: { 'if-modified-since': modifiedSince } })).status, 304);
    const head = await probe(url(), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], '4096');
    const after = await stats();
    assert.equal(after.reusedHits, before.reusedHits, 'none of them reused a kept hit');
  });

  test('an index write ends every kept hit: an evicted file is fetched again at once', async () => {
    // Whatever was kept earlier has run out; the next plain GET keeps a fresh decision, the one after reuses it.
    await sleep(1100);
    const before = await stats();
    await probe(url());
    assert.equal((await probe(url())).headers['x-hoard-cache'], 'HIT');
    assert.equal((await stats()).reusedHits, before.reusedHits + 1, 'the decision is kept and reused');
    const fetched = upstream.hits(`/debian/${path}`);
    // The eviction drops the index entry at once and answers after its grace period (2 s): it is not awaited here,
    // so the GET below comes while the kept decision would still stand (a second) if the write did not end it.
    const evicted = fetch(`${hoard.url}/_hoard/actions/evict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: `http://127.0.0.1:${upstream.port}/debian/${path}` }),
    });
    let entries = (await stats()).store.entries;
    for (let i = 0; i < 50 && entries > 0; i++) {
      await sleep(10);
      entries = (await stats()).store.entries;
    }
    assert.equal(entries, 0, 'the entry was dropped');
    const again = await probe(url());
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, bytes);
    assert.equal(again.headers['x-hoard-cache'], 'MISS');
    assert.equal(upstream.hits(`/debian/${path}`), fetched + 1);
    const answer = await evicted;
    assert.equal(answer.status, 200, await answer.text());
  });

  test('a client outside the allowed networks is refused, though the hit is kept', async () => {
    await probe(url());
    await probe(url());
    const before = await stats();
    const refused = await probe(url(), { localAddress: '127.0.0.2' });
    assert.equal(refused.status, 403);
    assert.match(refused.body.toString(), /HOARD_ERR_CLIENT_NOT_ALLOWED/);
    const after = await stats();
    assert.equal(after.reusedHits, before.reusedHits);
    assert.equal((after.requests.refused ?? 0) - (before.requests.refused ?? 0), 1);
  });
});
