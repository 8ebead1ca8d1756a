// Bounded load (500 keep-alive clients, mixed hits, misses and ranges) and SIGKILL with 50 downloads in flight.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo, type RepoPackage } from '../support/signed-repo-builder.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

interface Result {
  status: number;
  body: Buffer;
}

function get(agent: Agent, port: number, path: string, headers: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('load and crashes', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let host: string;
  const small = Array.from({ length: 60 }, (_, i) => ({ name: `small${i}`, version: '1', size: 2000 + i * 300 }));
  const inflight = Array.from({ length: 50 }, (_, i) => ({ name: `inflight${i}`, version: '1', size: 300_000 }));

  before(async () => {
    repo = await SignedRepo.create({ suite: 'stable', packages: [...small, ...inflight, { name: 'ranged', version: '1', size: 4 * 1024 * 1024 }] });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    host = upstream.origin.replace('http://', '');
    hoard = await HoardProcess.start({ config: { logLevel: 'error' } });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  test('500 concurrent keep-alive clients: every body correct, no errors, bounded memory', async (t) => {
    const ranged = repo.package('ranged');
    const rangedBytes = readFileSync(ranged.filePath);
    // Half the small packages are warm before the run; the rest are misses during it.
    const warm = small.slice(0, 30).map((s) => repo.package(s.name));
    const cold = small.slice(30).map((s) => repo.package(s.name));
    for (const p of [...warm, ranged]) assert.equal((await probe(`${hoard.url}/${host}/debian/${p.poolPath}`)).status, 200);
    upstream.resetStats();

    const agent = new Agent({ keepAlive: true, maxSockets: 500 });
    const deadline = Date.now() + 6000;
    let requests = 0;
    const failures: string[] = [];
    // On a loaded machine the deadline can come before every cold package was asked for: count what was.
    const asked = new Set<string>();
    const client = async (id: number) => {
      // Bounded twice: by time and by a request count per client.
      for (let i = 0; i < 40 && Date.now() < deadline; i++) {
        const pick = (id * 7 + i) % 10;
        requests++;
        if (pick < 6) {
          const p = warm[(id + i) % warm.length] as RepoPackage;
          const r = await get(agent, hoard.port, `/${host}/debian/${p.poolPath}`);
          if (r.status !== 200 || sha256(r.body) !== p.sha256) failures.push(`hit ${p.name}: ${r.status}`);
        } else if (pick < 8) {
          const p = cold[(id + i) % cold.length] as RepoPackage;
          asked.add(p.name);
          const r = await get(agent, hoard.port, `/${host}/debian/${p.poolPath}`);
          if (r.status !== 200 || sha256(r.body) !== p.sha256) failures.push(`miss ${p.name}: ${r.status}`);
        } else {
          const start = ((id * 7919 + i * 104_729) % (rangedBytes.length - 70_000)) | 0;
          const r = await get(agent, hoard.port, `/${host}/debian/${ranged.poolPath}`, { range: `bytes=${start}-${start + 65_535}` });
          if (r.status !== 206 || !r.body.equals(rangedBytes.subarray(start, start + 65_536))) failures.push(`range ${start}: ${r.status}`);
        }
      }
    };
    const results = await Promise.allSettled(Array.from({ length: 500 }, (_, id) => client(id)));
    agent.destroy();
    const rejected = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
    const rss = peakRssMiB(hoard.pid as number);
    t.diagnostic(`${requests} requests by 500 clients; hoard peak RSS ${rss.toFixed(0)} MiB`);
    assert.deepEqual(rejected.slice(0, 5), []);
    assert.deepEqual(failures.slice(0, 5), []);
    assert.ok(asked.size > cold.length / 2, `only ${asked.size} cold packages asked for`);
    for (const p of cold) assert.equal(upstream.hits(p.poolPath), asked.has(p.name) ? 1 : 0, `${p.name} fetched once if asked for`);
    // A ceiling against leaks (memory growing with requests); the benchmark measures the real figure.
    assert.ok(rss < 600, `peak RSS ${rss} MiB`);
  });

  test('SIGKILL with 50 downloads in flight: index and store agree after restart, complete objects still served', async () => {
    const packages = inflight.map((s) => repo.package(s.name));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    for (const p of packages) upstream.misbehave(p.poolPath, faults.holdUntil(held, { afterBytes: 100_000 }), { times: 1 });
    upstream.resetStats();
    const doomed = packages.map((p) => probe(`${hoard.url}/${host}/debian/${p.poolPath}`, { timeoutMs: 20_000 }));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && upstream.totalRequests < packages.length) await new Promise((r) => setTimeout(r, 25));
    assert.equal(upstream.totalRequests, packages.length);
    await new Promise((r) => setTimeout(r, 300));
    await hoard.restart({ hard: true });
    release();
    for (const d of await Promise.all(doomed)) assert.equal(d.complete, false);

    assert.deepEqual(await readdir(join(hoard.dataDir, 'tmp')), []);
    const db = new DatabaseSync(join(hoard.dataDir, 'index.sqlite'), { readOnly: true });
    try {
      const rows = db.prepare('SELECT digest, size FROM objects').all() as Array<{ digest: string; size: number }>;
      assert.ok(rows.length >= 31, 'the complete objects are still indexed');
      for (const row of rows) {
        const blob = join(hoard.dataDir, 'blobs', 'sha256', row.digest.slice(0, 2), row.digest);
        assert.ok(existsSync(blob), `blob of ${row.digest} exists`);
        assert.equal(statSync(blob).size, row.size);
      }
    } finally {
      db.close();
    }
    const warm = repo.package('small0');
    const hit = await probe(`${hoard.url}/${host}/debian/${warm.poolPath}`);
    assert.equal(hit.headers['x-hoard-cache'], 'HIT');
    for (const p of packages) {
      const r = await probe(`${hoard.url}/${host}/debian/${p.poolPath}`);
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), p.sha256, `${p.name} whole after restart`);
    }
  });
});
