// Tests of FsBlobStore: the BlobStore contract, plus what only a disk has (layout, crashes, temp files, fds).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isHoardError } from '../errors.ts';
import { blobStoreContract, listAll, readAll, sha256, storeBytes } from './blob-store.contract.ts';
import { blobReadChunkBytes, FsBlobStore } from './fs-blob-store.ts';

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

async function newRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hoard-fs-blob-store-'));
  roots.push(root);
  return root;
}

function blobPath(root: string, digest: string): string {
  return join(root, 'blobs', 'sha256', digest.slice(0, 2), digest);
}

async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

const waitTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

blobStoreContract('FsBlobStore', async () => {
  const root = await newRoot();
  const store = new FsBlobStore(root);
  await store.init();
  return {
    store,
    corrupt: async (digest, offset) => {
      const handle = await open(blobPath(root, digest), 'r+');
      try {
        const byte = Buffer.alloc(1);
        await handle.read(byte, 0, 1, offset);
        byte[0] = (byte[0] ?? 0) ^ 0xff;
        await handle.write(byte, 0, 1, offset);
      } finally {
        await handle.close();
      }
    },
    // A file where the blob's shard directory should be: the rename into it fails (ENOTDIR).
    breakNextCommit: async (digest) => {
      const shard = join(root, 'blobs', 'sha256', digest.slice(0, 2));
      await rm(shard, { recursive: true, force: true });
      await writeFile(shard, 'not a directory');
      return async () => {
        await rm(shard, { force: true });
        await mkdir(shard);
      };
    },
  };
});

void describe('FsBlobStore on disk', () => {
  void it('lays blobs out as blobs/sha256/<xx>/<digest> under a versioned layout, and leaves tmp/ empty', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    assert.equal(await readFile(join(root, 'blobs', 'VERSION'), 'utf8'), '1\n');
    const bytes = randomBytes(1234);
    const { digest } = await storeBytes(store, bytes);
    assert.ok((await readFile(blobPath(root, digest))).equals(bytes));
    const failed = await store.createWriter();
    await failed.write(bytes);
    await assert.rejects(failed.commit({ size: 1 }));
    const aborted = await store.createWriter();
    await aborted.write(bytes);
    await aborted.abort();
    await storeBytes(store, bytes);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  void it('init() deletes whatever a crash left in tmp/', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    await writeFile(join(root, 'tmp', 'half-written'), randomBytes(100));
    await mkdir(join(root, 'tmp', 'a-directory', 'deeper'), { recursive: true });
    await writeFile(join(root, 'tmp', 'a-directory', 'deeper', 'file'), 'x');
    const kept = await storeBytes(store, Buffer.from('kept'));
    await new FsBlobStore(root).init();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual(await listAll(store), [kept]);
  });

  void it('shows nothing of a writer killed before commit, and re-init clears its temp file', async () => {
    const root = await newRoot();
    const storeUrl = new URL('./fs-blob-store.ts', import.meta.url).href;
    const script = `
      import { FsBlobStore } from ${JSON.stringify(storeUrl)};
      const store = new FsBlobStore(${JSON.stringify(root)});
      await store.init();
      const writer = await store.createWriter();
      await writer.write(new Uint8Array(1024 * 1024).fill(7));
      process.stdout.write('written\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (data: Buffer) => {
        if (data.toString().includes('written')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    assert.equal((await readdir(join(root, 'tmp'))).length, 1, 'the killed write left its temp file');
    const store = new FsBlobStore(root);
    assert.deepEqual(await listAll(store), [], 'nothing visible even before init');
    await store.init();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual(await listAll(store), []);
    assert.equal(await store.stat(sha256(new Uint8Array(1024 * 1024).fill(7))), undefined);
  });

  void it('reports a disk failure of the background writes through write or commit, and stores nothing', async (t) => {
    if (process.platform === 'win32') {
      t.skip('needs ulimit');
      return;
    }
    const root = await newRoot();
    const storeUrl = new URL('./fs-blob-store.ts', import.meta.url).href;
    // RLIMIT_FSIZE makes writes past a few hundred KiB fail with EFBIG, like a disk that stops taking bytes.
    const script = `
      import { FsBlobStore } from ${JSON.stringify(storeUrl)};
      const store = new FsBlobStore(${JSON.stringify(root)});
      await store.init();
      const writer = await store.createWriter();
      let failedAt;
      try {
        for (let i = 0; i < 64; i += 1) {
          await writer.write(new Uint8Array(16 * 1024).fill(i));
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      } catch (err) {
        failedAt = err.code;
      }
      let commitError;
      await writer.commit().catch((err) => { commitError = err.code; });
      // Until abort, every accepted byte is still readable (a shared download relays them to its clients).
      const accepted = writer.written;
      const tail = await writer.readAt(accepted - 16 * 1024, 16 * 1024);
      if (accepted === 0 || tail.length !== 16 * 1024 || tail.some((b) => b !== accepted / (16 * 1024) - 1)) throw new Error('accepted bytes unreadable after the failure');
      await writer.abort();
      const listed = [];
      for await (const blob of store.list()) listed.push(blob);
      const { readdir } = await import('node:fs/promises');
      console.log(JSON.stringify({ failedAt, commitError, listed: listed.length, tmp: (await readdir(${JSON.stringify(join(root, 'tmp'))})).length }));
    `;
    const child = spawn('/bin/sh', ['-c', 'ulimit -f 512; exec "$0" --input-type=module --eval "$1"', process.execPath, script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (data: Buffer) => (out += data.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), { failedAt: 'HOARD_ERR_STORE_IO', commitError: 'HOARD_ERR_STORE_IO', listed: 0, tmp: 0 });
  });

  void it('refuses a blob layout of another version', async () => {
    const root = await newRoot();
    await mkdir(join(root, 'blobs'), { recursive: true });
    await writeFile(join(root, 'blobs', 'VERSION'), '2\n');
    await assert.rejects(new FsBlobStore(root).init(), (err) => isHoardError(err, 'HOARD_ERR_STORE_IO') && /layout version "2"/.test(err.message));
  });

  void it('recreates a shard directory removed by hand', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const bytes = Buffer.from('shard test');
    const digest = sha256(bytes);
    await rm(join(root, 'blobs', 'sha256', digest.slice(0, 2)), { recursive: true });
    await storeBytes(store, bytes);
    assert.equal(await store.verify(digest), true);
  });

  void it('does not list stray files in the blob directories', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const info = await storeBytes(store, Buffer.from('listed'));
    await writeFile(join(root, 'blobs', 'sha256', info.digest.slice(0, 2), `${info.digest}~`), 'backup');
    await writeFile(join(root, 'blobs', 'sha256', 'ff', info.digest), 'in the wrong shard');
    await writeFile(join(root, 'blobs', 'sha256', 'README'), 'not a shard');
    assert.deepEqual(await listAll(store), [info]);
  });

  void it('moves a quarantined blob to quarantine/<digest>', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const bytes = randomBytes(100);
    const { digest } = await storeBytes(store, bytes);
    await store.quarantine(digest);
    assert.ok((await readFile(join(root, 'quarantine', digest))).equals(bytes));
  });

  void it('streams in large chunks', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const bytes = randomBytes(4 * blobReadChunkBytes);
    const { digest } = await storeBytes(store, bytes, 1024 * 1024);
    const sizes: number[] = [];
    for await (const chunk of store.createReadStream(digest, 0, bytes.length - 1)) sizes.push((chunk as Buffer).length);
    assert.deepEqual(sizes, [blobReadChunkBytes, blobReadChunkBytes, blobReadChunkBytes, blobReadChunkBytes]);
    assert.ok(blobReadChunkBytes >= 256 * 1024);
  });

  void it('errors a stream whose file is shorter than the range asked for', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const { digest } = await storeBytes(store, randomBytes(1000));
    await writeFile(blobPath(root, digest), randomBytes(500));
    await assert.rejects(readAll(store.createReadStream(digest, 0, 999)), (err) => isHoardError(err, 'HOARD_ERR_STORE_IO'));
  });

  void describe('writer file handle lifecycle', { skip: process.platform !== 'linux' && 'counts fds through /proc' }, () => {
    void it('closes the handle by the time commit or abort settles when no read is running', async () => {
      const root = await newRoot();
      const store = new FsBlobStore(root);
      await store.init();
      const before = await openFds();
      const committed = await store.createWriter();
      await committed.write(randomBytes(1000));
      assert.equal(await openFds(), before + 1);
      await committed.commit();
      assert.equal(await openFds(), before);
      const aborted = await store.createWriter();
      await aborted.write(randomBytes(1000));
      await aborted.abort();
      assert.equal(await openFds(), before);
    });

    void it('keeps the handle while a read is in flight at commit, and closes it a turn after the last read', async () => {
      const root = await newRoot();
      const store = new FsBlobStore(root);
      await store.init();
      const bytes = randomBytes(8 * 1024 * 1024);
      const before = await openFds();
      const writer = await store.createWriter();
      await writer.write(bytes);
      const reading = writer.readAt(0, bytes.length);
      const info = await writer.commit();
      const read = await reading;
      assert.ok(Buffer.from(read).equals(bytes));
      assert.equal(await store.stat(info.digest).then((i) => i?.size), bytes.length);
      for (let i = 0; i < 5 && (await openFds()) !== before; i += 1) await waitTurn();
      assert.equal(await openFds(), before);
      // Still readable: now from the committed file, which it opens and closes per call.
      assert.ok(Buffer.from(await writer.readAt(10, 10)).equals(bytes.subarray(10, 20)));
      assert.equal(await openFds(), before);
    });
  });

  void it('replaces a stored blob of the wrong size when the same digest is committed again', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const bytes = randomBytes(5000);
    const { digest } = await storeBytes(store, bytes);
    await writeFile(blobPath(root, digest), bytes.subarray(0, 100));
    await storeBytes(store, bytes);
    assert.equal(await store.verify(digest), true);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  void it('keeps the committed file when the same content was already stored, dropping the new copy', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const bytes = randomBytes(5000);
    const { digest } = await storeBytes(store, bytes);
    const first = await stat(blobPath(root, digest));
    await storeBytes(store, bytes);
    const second = await stat(blobPath(root, digest));
    assert.equal(second.ino, first.ino);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });
});

void describe('FsBlobStore: sealed but not yet committed', () => {
  void it('a crash after the seal, before the fsync and rename, leaves nothing in blobs/ and init() clears tmp/', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const bytes = randomBytes(100_000);
    const writer = await store.createWriter();
    await writer.write(bytes);
    await writer.seal({ sha256: sha256(bytes) });
    // The process dies here: the verified bytes exist only as a temp file.
    assert.equal((await readdir(join(root, 'tmp'))).length, 1);
    const restarted = new FsBlobStore(root);
    await restarted.init();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual(await listAll(restarted), []);
    await writer.abort();
  });

  void it('a commit that fails after the seal keeps the temp file for readers until abort deletes it', async () => {
    const root = await newRoot();
    const store = new FsBlobStore(root);
    await store.init();
    const bytes = randomBytes(10_000);
    const shard = join(root, 'blobs', 'sha256', sha256(bytes).slice(0, 2));
    await rm(shard, { recursive: true });
    await writeFile(shard, 'not a directory');
    const writer = await store.createWriter();
    await writer.write(bytes);
    await assert.rejects(writer.commit({ sha256: sha256(bytes) }), (err) => isHoardError(err, 'HOARD_ERR_STORE_IO'));
    assert.equal((await readdir(join(root, 'tmp'))).length, 1);
    assert.ok(Buffer.from(await writer.readAt(0, bytes.length)).equals(bytes));
    await writer.abort();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });
});
