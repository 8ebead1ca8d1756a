// End-to-end: 2,000 clients trickling a cached large file cost bounded memory, freed when they leave; a too-slow reader is cut.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const readers = 2000;
const fileBytes = 64 * 1024 * 1024;
const poolPath = 'pool/main/b/big/big_1_all.deb';
/** The bound of issue 15: 2,000 slow readers within 200 MB of hoard's idle memory. */
const maxGrowthBytes = 200 * 1024 * 1024;
/**
 * What may stay resident once every reader has left. hoard's own objects all go (V8's heap and
 * external memory were measured back at their idle figures), but glibc's malloc keeps the pages of
 * the many small native allocations of 2,000 connections (sockets, parsers, file reads) for reuse: a
 * bare Node http server that held 2,000 connections the same way stays 55 MB above its idle figure,
 * hoard 90-125 MB over five runs. The second wave shows that this is reused, not leaked.
 */
const maxLeftoverBytes = 160 * 1024 * 1024;
/** How much more than the first wave the second may leave behind. */
const maxWaveGrowthBytes = 16 * 1024 * 1024;
/** hoard's environment as bin/hoard sets it (malloc returning freed blocks, capped young generation, paced scavenges). */
const asBinHoard = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536', NODE_OPTIONS: '--max-semi-space-size=4 --expose-gc' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** The soft limit on open files of a process (ours or hoard's). */
async function openFileLimit(pid: number | 'self'): Promise<number> {
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8');
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * A client on a raw socket that sends one GET and then reads at most `bytesPerRead` whenever `nudge`
 * is called (reading is paused in between), so it takes the body at about that many bytes per nudge.
 */
class TricklingReader {
  readonly socket: Socket;
  head = '';
  received = 0;
  closed = false;
  #flowing = false;
  readonly #done: Promise<void>;

  constructor(port: number, path: string, readBuffer: Buffer) {
    this.socket = connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer: readBuffer,
        callback: (n: number, buf: Uint8Array) => {
          if (this.head.length < 64) this.head += Buffer.from(buf.subarray(0, n)).toString('latin1');
          this.received += n;
          // Paused until the next nudge: no more than one read per nudge.
          return this.#flowing;
        },
      },
    });
    this.socket.on('error', () => undefined);
    this.#done = new Promise((resolve) => this.socket.once('close', () => resolve()));
    void this.#done.then(() => (this.closed = true));
    this.socket.once('connect', () => this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
  }

  connected(): Promise<void> {
    if (!this.socket.connecting) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  nudge(): void {
    if (!this.closed) this.socket.resume();
  }

  /** Reads everything from now on as fast as it comes (a paused socket notices no close). */
  readAll(): void {
    this.#flowing = true;
    this.nudge();
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.#done;
  }

  /** Resolves when hoard closes the connection, or after `ms`. */
  closedWithin(ms: number): Promise<boolean> {
    return Promise.race([this.#done.then(() => true), sleep(ms).then(() => false)]);
  }
}

async function samples(pid: number, count: number): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    values.push(await rssBytes(pid));
    await sleep(100);
  }
  return values;
}

/**
 * `readers` clients GET the file and take about 1 KB a second for a few seconds, then all leave.
 * Resolves with hoard's peak resident memory meanwhile and what it settles to once they are gone.
 */
async function wave(hoard: HoardProcess, path: string, t: TestContext): Promise<{ peak: number; after: number }> {
  const pid = hoard.pid as number;
  let peak = 0;
  const sampler = setInterval(() => {
    void rssBytes(pid).then(
      (rss) => (peak = Math.max(peak, rss)),
      () => undefined,
    );
  }, 100);
  // One read buffer for all: what is read is only counted.
  const readBuffer = Buffer.alloc(1024);
  const clients: TricklingReader[] = [];
  const nudger = setInterval(() => {
    for (const c of clients) c.nudge();
  }, 1000);
  const started = Date.now();
  try {
    // In batches, so the listen backlog never overflows (a dropped SYN is retried only after a second).
    for (let i = 0; i < readers; i += 100) {
      const batch = Array.from({ length: Math.min(100, readers - i) }, () => new TricklingReader(hoard.port, path, readBuffer));
      clients.push(...batch);
      await Promise.all(batch.map((c) => c.connected()));
    }
    // Bounded, and generous: with 2,000 sockets the kernel's TCP memory is under pressure and answers come slowly on a busy machine.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && clients.some((c) => c.head.length < 12 && !c.closed)) await sleep(200);
    const answered = clients.filter((c) => c.head.startsWith('HTTP/1.1 200')).length;
    assert.equal(answered, readers, `readers with a 200 response: ${answered} of ${readers}; closed: ${clients.filter((c) => c.closed).length}`);
    // Every reader has its response under way, at about 1 KB/s.
    await sleep(3000);
    peak = Math.max(peak, await rssBytes(pid));
    assert.equal(clients.filter((c) => c.closed).length, 0, 'no reader is cut within the default window');
    t.diagnostic(
      `${readers} readers: all answered ${Date.now() - started} ms after the first connected; read ${mb(clients.reduce((sum, c) => sum + c.received, 0))} in all`,
    );
  } finally {
    clearInterval(nudger);
    clearInterval(sampler);
    await Promise.all(clients.map((c) => c.close()));
  }
  // Bounded wait for the collection that follows a crowd leaving: until the figure holds still for 2 s.
  let after = await rssBytes(pid);
  let stillSince = Date.now();
  const settleBy = Date.now() + 15_000;
  while (Date.now() < settleBy && Date.now() - stillSince < 2000) {
    await sleep(250);
    const now = await rssBytes(pid);
    if (Math.abs(now - after) > 1024 * 1024) stillSince = Date.now();
    after = now;
  }
  return { peak, after };
}

describe('slow readers', () => {
  let work: string;
  let upstream: FakeUpstreamServer;
  let sha256: string;

  before(async () => {
    work = await makeTempDir('hoard-slow-readers');
    const body = randomBytes(fileBytes);
    sha256 = createHash('sha256').update(body).digest('hex');
    await mkdir(join(work, 'origin', 'pool/main/b/big'), { recursive: true });
    await writeFile(join(work, 'origin', poolPath), body);
    upstream = await FakeUpstreamServer.start({ root: join(work, 'origin'), prefix: '/debian' });
  });
  after(async () => {
    await upstream?.close();
    if (work !== undefined) await removeDir(work);
  });

  const pathVia = () => `/${upstream.origin.replace('http://', '')}/debian/${poolPath}`;

  async function warm(hoard: HoardProcess): Promise<void> {
    const got = await probe(`${hoard.url}${pathVia()}`, { timeoutMs: 60_000 });
    assert.equal(got.status, 200, hoard.output());
    assert.equal(createHash('sha256').update(got.body).digest('hex'), sha256);
    await hoard.waitForDownloadsSettled(30_000);
  }

  test(`${readers} clients reading a cached ${fileBytes / 1024 / 1024} MB file at about 1 KB/s stay within 200 MB of idle memory, all freed when they leave`, async (t) => {
    const ours = await openFileLimit('self');
    if (ours < readers + 200) {
      t.skip(`the open-file limit of the test process is ${ours}; ${readers} readers need ${readers + 200}: raise it (ulimit -n) to run this test`);
      return;
    }
    // hoard is our child: it inherits our limit. Each reader costs it a socket and an open blob file.
    const hoard = await HoardProcess.start({ config: { logLevel: 'warn' }, env: asBinHoard });
    try {
      const pid = hoard.pid as number;
      const theirs = await openFileLimit(pid);
      if (theirs < 2 * readers + 200) {
        t.skip(`hoard's open-file limit is ${theirs}; ${readers} readers need ${2 * readers + 200}: raise it (ulimit -n) to run this test`);
        return;
      }
      await warm(hoard);
      await sleep(1000);
      const idle = Math.min(...(await samples(pid, 5)));
      const first = await wave(hoard, pathVia(), t);
      const second = await wave(hoard, pathVia(), t);
      t.diagnostic(
        `idle ${mb(idle)}; first wave: peak ${mb(first.peak)}, after ${mb(first.after)}; second wave: peak ${mb(second.peak)}, after ${mb(second.after)}`,
      );
      for (const [name, w] of [
        ['first', first],
        ['second', second],
      ] as const) {
        assert.ok(
          w.peak - idle < maxGrowthBytes,
          `${name} wave: hoard grew by ${mb(w.peak - idle)} (idle ${mb(idle)}, peak ${mb(w.peak)}), more than ${mb(maxGrowthBytes)}`,
        );
        assert.ok(w.after - idle <= maxLeftoverBytes, `${name} wave: hoard kept ${mb(w.after - idle)} above idle after the readers left`);
      }
      // What one crowd held is free for the next: a second one leaves nothing more behind.
      assert.ok(second.after - first.after <= maxWaveGrowthBytes, `the second wave left ${mb(second.after - first.after)} more than the first`);
      const again = await probe(`${hoard.url}${pathVia()}`, { timeoutMs: 60_000 });
      assert.equal(again.status, 200);
      assert.equal(again.headers['x-hoard-cache'], 'HIT');
      assert.equal(createHash('sha256').update(again.body).digest('hex'), sha256);
    } finally {
      await hoard.cleanup();
    }
  });

  test('a reader below server.minSendBytesPerSecond is cut after the window; a fast one beside it is not', async (t) => {
    const hoard = await HoardProcess.start({ config: { logLevel: 'warn', server: { minSendBytesPerSecond: 1_000_000, slowClientWindowSeconds: 1 } } });
    try {
      await warm(hoard);
      const slow = new TricklingReader(hoard.port, pathVia(), Buffer.alloc(1024));
      await slow.connected();
      const startedAt = Date.now();
      // The kernel takes a few MB at once (the first window passes); then nothing moves and the next window fails.
      // Meanwhile a client that reads at full speed is far above the minimum.
      const [cutLine, fast] = await Promise.all([
        hoard.waitForLog(/HOARD_ERR_CLIENT_TOO_SLOW/, 20_000),
        probe(`${hoard.url}${pathVia()}`, { timeoutMs: 60_000 }),
      ]);
      t.diagnostic(`cut after ${cutLine.at - startedAt} ms`);
      assert.equal(fast.status, 200);
      assert.equal(createHash('sha256').update(fast.body).digest('hex'), sha256);
      // What the slow reader finds once it reads again: the connection is gone, the body short.
      slow.readAll();
      assert.ok(await slow.closedWithin(10_000), `the cut connection is still open after ${slow.received} bytes`);
      assert.match(slow.head, /^HTTP\/1\.1 200/);
      assert.ok(slow.received < fileBytes, 'the slow reader got the whole body');
    } finally {
      await hoard.cleanup();
    }
  });
});
