// The BlobStore contract suite: every BlobStore implementation runs it from its own test file.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { isHoardError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { emptyBlobDigest } from './blob-digest.ts';
import type { BlobInfo, BlobStore, BlobWriter } from './blob-store.ts';

export interface BlobStoreFixture {
  /** An initialised, empty store. */
  readonly store: BlobStore;
  /** Flips the bits of one byte of a committed blob behind the store's back, as a rotting disk would. */
  corrupt(digest: string, offset: number): Promise<void>;
  /**
   * Makes the durable part of the next commit of `digest` fail (the disk refusing the fsync or the
   * rename), after its check has passed; resolves with a function that repairs the store. Optional:
   * without it the test of that case is skipped.
   */
  breakNextCommit?(digest: string): Promise<() => Promise<void>>;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function listAll(store: BlobStore): Promise<BlobInfo[]> {
  const infos: BlobInfo[] = [];
  for await (const info of store.list()) infos.push(info);
  return infos.sort((a, b) => a.digest.localeCompare(b.digest));
}

/** Writes `bytes` in chunks of `chunkSize` and commits, checking both size and digest. */
export async function storeBytes(store: BlobStore, bytes: Uint8Array, chunkSize = 64 * 1024): Promise<BlobInfo> {
  const writer = await store.createWriter();
  await writeChunks(writer, bytes, chunkSize);
  return writer.commit({ size: bytes.length, sha256: sha256(bytes) });
}

async function writeChunks(writer: BlobWriter, bytes: Uint8Array, chunkSize: number): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += chunkSize) await writer.write(bytes.subarray(offset, offset + chunkSize));
}

function hasCode(code: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => isHoardError(err, code);
}

export function blobStoreContract(name: string, makeStore: () => Promise<BlobStoreFixture>): void {
  void describe(`BlobStore contract: ${name}`, () => {
    void it('stores bytes written in chunks and reads them back whole', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(300_000);
      const writer = await store.createWriter();
      await writeChunks(writer, bytes, 7_000);
      assert.equal(writer.written, bytes.length);
      const info = await writer.commit();
      assert.deepEqual(info, { digest: sha256(bytes), size: bytes.length });
      assert.deepEqual(await store.stat(info.digest), info);
      assert.ok((await readAll(store.createReadStream(info.digest))).equals(bytes));
    });

    void it('stores an empty blob', async () => {
      const { store } = await makeStore();
      const writer = await store.createWriter();
      const info = await writer.commit({ size: 0, sha256: emptyBlobDigest });
      assert.deepEqual(info, { digest: emptyBlobDigest, size: 0 });
      assert.equal((await readAll(store.createReadStream(emptyBlobDigest))).length, 0);
      assert.equal((await readAll(store.createReadStream(emptyBlobDigest, 0, -1))).length, 0);
    });

    void it('serves byte ranges, inclusive of both ends, across internal chunk boundaries', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const { digest } = await storeBytes(store, bytes);
      const ranges: [number, number | undefined][] = [
        [0, undefined],
        [0, 0],
        [1, 1],
        [5, 99],
        [bytes.length - 1, bytes.length - 1],
        [bytes.length - 1, undefined],
        [65_535, 65_536],
        [100, 2 * 1024 * 1024 + 3],
        [1_000_000, undefined],
        [0, bytes.length - 1],
      ];
      for (const [start, end] of ranges) {
        const got = await readAll(store.createReadStream(digest, start, end));
        const want = bytes.subarray(start, end === undefined ? undefined : end + 1);
        assert.ok(got.equals(want), `range ${start}-${end}: got ${got.length} bytes, want ${want.length}`);
      }
      assert.equal((await readAll(store.createReadStream(digest, bytes.length))).length, 0, 'start at the end: empty');
      assert.equal((await readAll(store.createReadStream(digest, 10, 9))).length, 0, 'start past end: empty');
    });

    void it('errors a stream whose range ends past the blob instead of ending short', async () => {
      const { store } = await makeStore();
      const { digest } = await storeBytes(store, randomBytes(1000));
      await assert.rejects(readAll(store.createReadStream(digest, 0, 1000)), hasCode('HOARD_ERR_STORE_IO'));
      await assert.rejects(readAll(store.createReadStream(digest, 900, 5000)), hasCode('HOARD_ERR_STORE_IO'));
    });

    void it('errors the stream of a missing blob with HOARD_ERR_STORE_IO', async () => {
      const { store } = await makeStore();
      await assert.rejects(readAll(store.createReadStream(sha256(Buffer.from('never stored')))), hasCode('HOARD_ERR_STORE_IO'));
    });

    void it('rejects a commit with the wrong size, leaving nothing visible', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(5000);
      const writer = await store.createWriter();
      await writer.write(bytes);
      await assert.rejects(writer.commit({ size: bytes.length + 1 }), hasCode('HOARD_ERR_SIZE_MISMATCH'));
      assert.equal(await store.stat(sha256(bytes)), undefined);
      assert.deepEqual(await listAll(store), []);
      await writer.abort();
    });

    void it('rejects a commit with the wrong digest, leaving nothing visible', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(5000);
      const writer = await store.createWriter();
      await writer.write(bytes);
      await assert.rejects(writer.commit({ size: bytes.length, sha256: sha256(Buffer.from('other')) }), hasCode('HOARD_ERR_DIGEST_MISMATCH'));
      assert.equal(await store.stat(sha256(bytes)), undefined);
      assert.deepEqual(await listAll(store), []);
      await assert.rejects(writer.readAt(0, 10), hasCode('HOARD_ERR_STORE_IO'), 'the bytes of a failed commit are gone');
      await writer.abort();
      await writer.abort();
    });

    void it('seals: checks size and digest, keeps the bytes readable but invisible and refuses writes; commit then stores them', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(300_000);
      const writer = await store.createWriter();
      await writeChunks(writer, bytes, 64 * 1024);
      const info = await writer.seal({ size: bytes.length, sha256: sha256(bytes) });
      assert.deepEqual(info, { digest: sha256(bytes), size: bytes.length });
      assert.equal(await store.stat(info.digest), undefined, 'sealed is not stored yet');
      assert.deepEqual(await listAll(store), []);
      assert.ok(Buffer.from(await writer.readAt(0, bytes.length)).equals(bytes));
      await assert.rejects(writer.write(bytes), hasCode('HOARD_ERR_INTERNAL'));
      assert.deepEqual(await writer.seal(), info, 'a second seal answers the same');
      assert.deepEqual(await writer.commit(), info);
      assert.deepEqual(await store.stat(info.digest), info);
      assert.ok((await readAll(store.createReadStream(info.digest))).equals(bytes));
    });

    void it('a seal that fails its check deletes the bytes; commit and a later seal keep failing', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(5000);
      const writer = await store.createWriter();
      await writer.write(bytes);
      await assert.rejects(writer.seal({ size: bytes.length, sha256: sha256(Buffer.from('other')) }), hasCode('HOARD_ERR_DIGEST_MISMATCH'));
      await assert.rejects(writer.readAt(0, 10), hasCode('HOARD_ERR_STORE_IO'), 'the bytes of a failed check are gone');
      assert.equal(writer.peekAt?.(0, 10), undefined, 'peekAt hands out nothing of a failed check');
      await assert.rejects(writer.commit(), hasCode('HOARD_ERR_DIGEST_MISMATCH'));
      await assert.rejects(writer.seal(), hasCode('HOARD_ERR_DIGEST_MISMATCH'));
      assert.deepEqual(await listAll(store), []);
      await writer.abort();
      const sized = await store.createWriter();
      await sized.write(bytes);
      const info = await sized.seal({ size: bytes.length });
      assert.equal(info.size, bytes.length);
      await assert.rejects(
        sized.seal({ sha256: sha256(Buffer.from('other')) }),
        hasCode('HOARD_ERR_DIGEST_MISMATCH'),
        'a later seal checks its own expectation',
      );
      await assert.rejects(sized.commit(), hasCode('HOARD_ERR_DIGEST_MISMATCH'));
      assert.deepEqual(await listAll(store), []);
    });

    void it('a commit that fails after its check keeps the bytes readable until abort, and stores nothing', async (t) => {
      const fixture = await makeStore();
      const { store } = fixture;
      if (fixture.breakNextCommit === undefined) {
        t.skip('no way to make a commit fail');
        return;
      }
      const bytes = randomBytes(1024 * 1024 + 5);
      const repair = await fixture.breakNextCommit(sha256(bytes));
      const writer = await store.createWriter();
      await writeChunks(writer, bytes, 100_000);
      await writer.seal({ sha256: sha256(bytes) });
      await assert.rejects(writer.commit(), (err: unknown) => isHoardError(err, 'HOARD_ERR_STORE_IO') || isHoardError(err, 'HOARD_ERR_STORE_FULL'));
      await repair();
      assert.equal(await store.stat(sha256(bytes)), undefined);
      assert.ok(Buffer.from(await writer.readAt(0, bytes.length)).equals(bytes), 'every verified byte is still readable');
      await writer.abort();
      await assert.rejects(writer.readAt(0, 10), hasCode('HOARD_ERR_STORE_IO'));
      assert.deepEqual(await listAll(store), []);
    });

    void it('leaves nothing after abort, and refuses writes and commit after it', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(10_000);
      const writer = await store.createWriter();
      await writer.write(bytes);
      await writer.abort();
      await writer.abort();
      assert.equal(await store.stat(sha256(bytes)), undefined);
      assert.deepEqual(await listAll(store), []);
      await assert.rejects(writer.write(bytes), hasCode('HOARD_ERR_INTERNAL'));
      await assert.rejects(writer.commit(), hasCode('HOARD_ERR_INTERNAL'));
      await assert.rejects(writer.readAt(0, 10), hasCode('HOARD_ERR_STORE_IO'));
    });

    void it('keeps a committed blob when abort comes after commit, and refuses writes after commit', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(1000);
      const writer = await store.createWriter();
      await writer.write(bytes);
      const info = await writer.commit();
      await writer.abort();
      assert.deepEqual(await store.stat(info.digest), info);
      assert.deepEqual(await writer.commit(), info, 'a second commit answers the same');
      await assert.rejects(writer.write(bytes), hasCode('HOARD_ERR_INTERNAL'));
    });

    void it('lets concurrent readers follow a growing write through readAt, before and after commit', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(2 * 1024 * 1024 + 333);
      const writer = await store.createWriter();
      let done = false;
      const follow = async (step: number): Promise<Buffer> => {
        const parts: Uint8Array[] = [];
        let position = 0;
        while (position < bytes.length) {
          const part = await writer.readAt(position, step);
          if (part.length === 0) {
            assert.ok(!done, `readAt(${position}) is empty after commit`);
            await new Promise((resolve) => setImmediate(resolve));
            continue;
          }
          assert.ok(position + part.length <= writer.written, 'read past what was written');
          parts.push(part);
          position += part.length;
          // Some followers lag behind, so that they are still reading after commit.
          if (step < 100_000) await new Promise((resolve) => setTimeout(resolve, 1));
        }
        return Buffer.concat(parts);
      };
      const followers = [follow(256 * 1024), follow(100_003), follow(40_000)];
      const written = (async () => {
        for (let offset = 0; offset < bytes.length; offset += 50_000) {
          await writer.write(bytes.subarray(offset, offset + 50_000));
          await new Promise((resolve) => setImmediate(resolve));
        }
        const info = await writer.commit({ size: bytes.length });
        done = true;
        return info;
      })();
      const [info, ...got] = await Promise.all([written, ...followers]);
      for (const seen of got) assert.ok(seen.equals(bytes), 'a follower saw different bytes');
      // Long after commit, readAt still answers (from the committed blob once the temp file is closed).
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.ok(Buffer.from(await writer.readAt(1000, 5000)).equals(bytes.subarray(1000, 6000)));
      assert.equal((await writer.readAt(bytes.length - 10, 100)).length, 10, 'short at the end');
      assert.equal((await writer.readAt(bytes.length, 100)).length, 0, 'empty past the end');
      assert.deepEqual(await store.stat(info.digest), info);
    });

    void it('answers readAt at any position while writes are still landing', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(1024 * 1024);
      const writer = await store.createWriter();
      const writes: Promise<void>[] = [];
      const checks: Promise<void>[] = [];
      let accepted = 0;
      let seed = 7;
      const next = (limit: number): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed % limit;
      };
      while (accepted < bytes.length) {
        const size = Math.min(bytes.length - accepted, 1 + next(40_000));
        writes.push(writer.write(bytes.subarray(accepted, accepted + size)));
        accepted += size;
        if (next(3) === 0) await new Promise((resolve) => setImmediate(resolve));
        const position = next(writer.written + 1);
        const length = next(200_000);
        const visible = writer.written;
        checks.push(
          writer.readAt(position, length).then((got) => {
            const want = bytes.subarray(position, Math.min(position + length, visible));
            assert.ok(got.length >= want.length, `readAt(${position}, ${length}) gave ${got.length} bytes of ${visible} written`);
            assert.ok(Buffer.from(got).subarray(0, want.length).equals(want), `readAt(${position}, ${length}) gave other bytes`);
          }),
        );
      }
      await Promise.all([...writes, ...checks]);
      assert.deepEqual(await writer.commit({ sha256: sha256(bytes) }), { digest: sha256(bytes), size: bytes.length });
    });

    void it('hands out through peekAt, where offered, only bytes that were written there, and never more than asked', async () => {
      const { store } = await makeStore();
      const writer = await store.createWriter();
      if (writer.peekAt === undefined) {
        await writer.abort();
        return;
      }
      const bytes = randomBytes(512 * 1024);
      const writes: Promise<void>[] = [];
      let peeked = 0;
      let accepted = 0;
      for (let i = 0; accepted < bytes.length; i++) {
        const size = Math.min(bytes.length - accepted, 1000 + ((i * 7919) % 60_000));
        writes.push(writer.write(bytes.subarray(accepted, accepted + size)));
        accepted += size;
        // At the head (what a follower that keeps up asks for), and somewhere behind it.
        for (const position of [accepted - size, Math.floor(accepted / 3)]) {
          const maxLength = 1 + ((i * 104_729) % 100_000);
          const got = writer.peekAt(position, maxLength);
          if (got === undefined) continue;
          peeked++;
          assert.ok(
            got.length > 0 && got.length <= maxLength && position + got.length <= accepted,
            `peekAt(${position}, ${maxLength}) gave ${got.length} bytes`,
          );
          assert.ok(Buffer.from(got).equals(bytes.subarray(position, position + got.length)), `peekAt(${position}) gave other bytes`);
        }
        if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(writer.peekAt(accepted, 10), undefined, 'nothing past what is written');
      await Promise.all(writes);
      assert.ok(peeked > 0, 'a writer that offers peekAt holds the newest bytes in memory at least sometimes');
      assert.deepEqual(await writer.commit({ sha256: sha256(bytes) }), { digest: sha256(bytes), size: bytes.length });
      assert.equal(writer.peekAt(0, 10), undefined, 'nothing is held once committed');
    });

    void it('gives readAt an empty answer past what is written so far', async () => {
      const { store } = await makeStore();
      const writer = await store.createWriter();
      await writer.write(Buffer.from('hello'));
      assert.equal(Buffer.from(await writer.readAt(0, 100)).toString(), 'hello');
      assert.equal(Buffer.from(await writer.readAt(3, 100)).toString(), 'lo');
      assert.equal((await writer.readAt(5, 100)).length, 0);
      assert.equal((await writer.readAt(50, 100)).length, 0);
      await writer.abort();
    });

    void it('keeps writes in call order when they are not awaited one by one', async () => {
      const { store } = await makeStore();
      // Several megabytes, more than any write-behind buffer holds, so some writes must wait for room.
      const parts = Array.from({ length: 50 }, (_, i) => randomBytes(100_000 + i));
      const writer = await store.createWriter();
      await Promise.all(parts.map((part) => writer.write(part)));
      const whole = Buffer.concat(parts);
      assert.deepEqual(await writer.commit({ sha256: sha256(whole) }), { digest: sha256(whole), size: whole.length });
    });

    void it('accepts the same content committed twice, in turn and at once', async () => {
      const { store } = await makeStore();
      const bytes = randomBytes(100_000);
      const first = await storeBytes(store, bytes);
      const second = await storeBytes(store, bytes, 3333);
      assert.deepEqual(second, first);
      const together = await Promise.all([storeBytes(store, bytes), storeBytes(store, bytes, 999), storeBytes(store, bytes)]);
      for (const info of together) assert.deepEqual(info, first);
      assert.deepEqual(await listAll(store), [first]);
      assert.ok((await readAll(store.createReadStream(first.digest))).equals(bytes));
    });

    void it('deletes a blob, and deleting it again is no error', async () => {
      const { store } = await makeStore();
      const kept = await storeBytes(store, Buffer.from('kept'));
      const gone = await storeBytes(store, Buffer.from('gone'));
      await store.delete(gone.digest);
      await store.delete(gone.digest);
      assert.equal(await store.stat(gone.digest), undefined);
      assert.deepEqual(await listAll(store), [kept]);
      await assert.rejects(readAll(store.createReadStream(gone.digest)), hasCode('HOARD_ERR_STORE_IO'));
    });

    void it('lists every committed blob with its size, and nothing in progress', async () => {
      const { store } = await makeStore();
      const infos = [];
      for (let i = 0; i < 20; i += 1) infos.push(await storeBytes(store, randomBytes(i * 100)));
      const inProgress = await store.createWriter();
      await inProgress.write(randomBytes(100));
      assert.deepEqual(
        await listAll(store),
        infos.sort((a, b) => a.digest.localeCompare(b.digest)),
      );
      await inProgress.abort();
    });

    void it('verifies a blob, detects a flipped byte, and answers false for a missing one', async () => {
      const fixture = await makeStore();
      const { store } = fixture;
      const bytes = randomBytes(700_000);
      const { digest } = await storeBytes(store, bytes);
      assert.equal(await store.verify(digest), true);
      await fixture.corrupt(digest, 654_321);
      assert.equal(await store.verify(digest), false);
      assert.equal(await store.verify(sha256(Buffer.from('missing'))), false);
    });

    void it('quarantines a blob out of sight, and quarantining a missing one is no error', async (t) => {
      const { store } = await makeStore();
      if (store.quarantine === undefined) {
        t.skip('no quarantine');
        return;
      }
      const { digest } = await storeBytes(store, randomBytes(100));
      await store.quarantine(digest);
      await store.quarantine(digest);
      assert.equal(await store.stat(digest), undefined);
      assert.deepEqual(await listAll(store), []);
    });

    void it('refuses anything but a lower-case hex SHA-256 as a digest, so no path escapes the store', async () => {
      const { store } = await makeStore();
      const { digest } = await storeBytes(store, Buffer.from('x'));
      const bad = ['../../../../etc/passwd', digest.toUpperCase(), digest.slice(1), `${digest}0`, `../${digest.slice(3)}`, '', `${digest.slice(0, 63)}\0`];
      for (const candidate of bad) {
        await assert.rejects(store.stat(candidate), hasCode('HOARD_ERR_INTERNAL'), candidate);
        await assert.rejects(store.delete(candidate), hasCode('HOARD_ERR_INTERNAL'), candidate);
        await assert.rejects(store.verify(candidate), hasCode('HOARD_ERR_INTERNAL'), candidate);
        assert.throws(() => store.createReadStream(candidate), hasCode('HOARD_ERR_INTERNAL'), candidate);
        if (store.quarantine) await assert.rejects(store.quarantine(candidate), hasCode('HOARD_ERR_INTERNAL'), candidate);
      }
      const writer = await store.createWriter();
      await writer.write(Buffer.from('x'));
      await assert.rejects(writer.commit({ sha256: '../x' }), hasCode('HOARD_ERR_INTERNAL'));
      assert.deepEqual(await store.stat(digest), { digest, size: 1 });
    });
  });
}
