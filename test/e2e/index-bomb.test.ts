// Index bombs from a hostile upstream: hoard's memory stays within 100 MB of idle and hoard keeps answering, also after a restart.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { digestsOf, renderRelease, type ReleaseFileEntry } from '../support/repo-index-writer.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const MiB = 1024 * 1024;
/** What the index bomb may add to hoard's resident memory (issue 15). */
const allowedGrowth = 100 * 1000 * 1000;

/**
 * About `expandedMiB` of Packages text as concatenated gzip members (gunzip reads them as one stream),
 * made in a fraction of a second: a first member of 4 MiB of numbered paragraphs, then one member of
 * a single paragraph repeated for 4 MiB (about 4 KiB packed), itself repeated.
 */
function gzipBomb(paragraph: (i: number) => string, expandedMiB: number): { gz: Buffer; expanded: number } {
  const block = (from: number, step: number): Buffer => {
    const parts: string[] = [];
    let length = 0;
    for (let i = from; length < 4 * MiB; i += step) {
      const text = paragraph(i);
      parts.push(text);
      length += text.length;
    }
    return Buffer.from(parts.join(''));
  };
  const first = block(0, 1);
  const repeated = block(1_000_000, 0);
  const repeatedGz = gzipSync(repeated, { level: 9 });
  const count = Math.ceil((expandedMiB * MiB - first.length) / repeated.length);
  return {
    gz: Buffer.concat([gzipSync(first, { level: 9 }), ...Array.from({ length: count }, () => repeatedGz)]),
    expanded: first.length + count * repeated.length,
  };
}

interface Memory {
  readonly rss: number;
  /** Peak resident size since the process started (the kernel's high-water mark). */
  readonly hwm: number;
}

async function memoryOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('index bomb', () => {
  let repo: SignedRepo;
  let normal: FakeUpstreamServer;
  let bombRoot: string;
  let hostile: FakeUpstreamServer;
  let hoard: HoardProcess;
  const bombs: { path: string; bytes: number; expanded: number; bound: RegExp }[] = [];

  before(async () => {
    repo = await SignedRepo.create({ suite: 'stable', packages: [{ name: 'alpha', version: '1', size: 200_000 }], compressions: ['gz'] });
    normal = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });

    // An unsigned Release that lists the true hashes of three Packages.gz of about 1 MB, each
    // expanding to about 600 MB, as in issue 15 (5 million paragraphs of ~120 bytes).
    bombRoot = await makeTempDir('index-bomb');
    const digest = 'c'.repeat(64);
    const tiny = (prefix: string) => (i: number) =>
      `Package: ${prefix}${i}\nVersion: 1\nFilename: pool/${prefix}/${prefix}${i}.deb\nSize: 1\nSHA256: ${digest}\n\n`;
    // No uncompressed size listed: the paragraphs are stopped by the knowledge one index may stage.
    const many = gzipBomb(tiny('a'), 600);
    // The uncompressed size listed (a lie, 1 MiB): that is the bound.
    const lying = gzipBomb(tiny('b'), 600);
    // Few, large paragraphs and no size listed: stopped at the 256 MiB ceiling (apt.maxIndexExpandedSize).
    const large = gzipBomb((i) => `Package: c${i}\nFilename: pool/c/c${i}.deb\nSize: 1\nDescription: ${'d'.repeat(8192)}\n\n`, 600);
    const files: ReleaseFileEntry[] = [];
    for (const [arch, bomb, bound] of [
      ['amd64', many, /lists more files than 50331648 bytes of package knowledge/],
      ['i386', lying, /expands past 1048576 bytes/],
      ['arm64', large, /expands past 268435456 bytes/],
    ] as const) {
      const path = `main/binary-${arch}/Packages.gz`;
      await mkdir(join(bombRoot, 'dists/bomb', `main/binary-${arch}`), { recursive: true });
      await writeFile(join(bombRoot, 'dists/bomb', path), bomb.gz);
      files.push({ path, size: bomb.gz.length, ...digestsOf(bomb.gz) });
      bombs.push({ path: `dists/bomb/${path}`, bytes: bomb.gz.length, expanded: bomb.expanded, bound });
    }
    files.push({ path: 'main/binary-i386/Packages', size: MiB, ...digestsOf(Buffer.from('not what it expands to')) });
    const release = renderRelease({
      origin: 'Hostile',
      label: 'Hostile',
      suite: 'bomb',
      codename: 'bomb',
      date: new Date(),
      validUntil: undefined,
      architectures: ['amd64', 'i386', 'arm64'],
      components: ['main'],
      description: 'index bombs',
      acquireByHash: false,
      files,
    });
    await writeFile(join(bombRoot, 'dists/bomb/Release'), release);
    hostile = await FakeUpstreamServer.start({ root: bombRoot, prefix: '/hostile' });

    // Named backends: operator-configured upstreams, reachable on loopback whatever the client-facing rules.
    hoard = await HoardProcess.start({
      config: { logLevel: 'error', backends: { debian: { mirrors: [normal.baseUrl] }, hostile: { mirrors: [hostile.baseUrl] } } },
    });
  });

  after(async () => {
    await hoard?.cleanup();
    await normal?.close();
    await hostile?.close();
    await repo?.cleanup();
    if (bombRoot !== undefined) await removeDir(bombRoot);
  });

  const get = async (path: string): Promise<{ status: number; body: Buffer }> => {
    const response = await fetch(`${hoard.url}${path}`, { signal: AbortSignal.timeout(20_000) });
    return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
  };

  /** A normal apt exchange through hoard: the signed Release, its index, then a package, byte for byte. */
  const normalRequestWorks = async () => {
    assert.equal((await get(`/debian/dists/stable/InRelease`)).status, 200);
    assert.equal((await get(`/debian/dists/stable/main/binary-amd64/Packages.gz`)).status, 200);
    const alpha = repo.package('alpha');
    const got = await get(`/debian/${alpha.poolPath}`);
    assert.equal(got.status, 200);
    assert.equal(digestsOf(got.body).sha256, alpha.sha256);
  };

  const boundLines = () => hoard.logs.filter((l) => l.text.includes('package index passes a bound'));

  /**
   * Samples hoard's memory every 100 ms until `count` bound failures are logged (at most 60 s), asking
   * /_hoard/health along the way; returns the peak seen and the kernel's high-water mark.
   */
  const watchUntilBounded = async (count: number): Promise<{ peakRss: number; hwm: number; healthStatuses: number[] }> => {
    const pid = hoard.pid;
    assert.ok(pid !== undefined);
    let peakRss = 0;
    const healthStatuses: number[] = [];
    const deadline = Date.now() + 60_000;
    for (let round = 0; boundLines().length < count; round += 1) {
      assert.ok(Date.now() < deadline, `only ${boundLines().length} of ${count} bound failures logged in 60 s\n${hoard.output()}`);
      peakRss = Math.max(peakRss, (await memoryOf(pid)).rss);
      if (round % 10 === 0) healthStatuses.push((await get('/_hoard/health')).status);
      await sleep(100);
    }
    const last = await memoryOf(pid);
    return { peakRss: Math.max(peakRss, last.rss), hwm: last.hwm, healthStatuses };
  };

  test('fetching the Release and its bombs: each index fails its bound, memory stays within 100 MB of idle, hoard answers; and again after a restart', async () => {
    const pid = hoard.pid;
    assert.ok(pid !== undefined);
    await normalRequestWorks();
    assert.equal((await get('/_hoard/health')).status, 200);
    await sleep(500);
    const idle = (await memoryOf(pid)).rss;

    // What apt does: the Release (no InRelease, no Release.gpg here), then the indices it lists.
    assert.equal((await get('/hostile/dists/bomb/InRelease')).status, 404);
    assert.equal((await get('/hostile/dists/bomb/Release')).status, 200);
    for (const bomb of bombs) {
      const got = await get(`/hostile/${bomb.path}`);
      // The bytes match the Release, so the client gets them; hoard only refuses to read them.
      assert.equal(got.status, 200, bomb.path);
      assert.equal(got.body.length, bomb.bytes, bomb.path);
      assert.ok(bomb.expanded > 500 * MiB);
    }
    const first = await watchUntilBounded(bombs.length);
    for (const bomb of bombs) {
      assert.ok(
        boundLines().some((l) => l.text.includes(bomb.path.replace('dists/bomb/', '')) && bomb.bound.test(l.text)),
        `${bomb.path}: ${bomb.bound}\n${boundLines()
          .map((l) => l.text)
          .join('\n')}`,
      );
    }
    assert.ok(first.peakRss - idle < allowedGrowth, `RSS grew from ${idle} to ${first.peakRss} bytes`);
    assert.ok(first.hwm - idle < allowedGrowth, `peak RSS ${first.hwm} bytes, idle ${idle}`);
    assert.deepEqual([...new Set(first.healthStatuses)], [200]);
    assert.equal((await get('/_hoard/health')).status, 200);
    await normalRequestWorks();

    // The bombs are stored: a restart reads each once with the same bounds, starts, and answers.
    await hoard.restart();
    const again = await watchUntilBounded(2 * bombs.length);
    assert.ok(again.peakRss - idle < allowedGrowth, `after restart RSS reached ${again.peakRss} bytes, idle was ${idle}`);
    assert.ok(again.hwm - idle < allowedGrowth, `after restart peak RSS ${again.hwm} bytes, idle was ${idle}`);
    assert.equal((await get('/_hoard/health')).status, 200);
    await normalRequestWorks();
    // Read once each, not in a loop.
    await sleep(1000);
    assert.equal(boundLines().length, 2 * bombs.length);
    assert.ok(hoard.running);
    console.log(
      `index bomb: idle ${idle} B, peak ${first.peakRss} B (high-water ${first.hwm} B), after restart peak ${again.peakRss} B (high-water ${again.hwm} B)`,
    );
  });
});
