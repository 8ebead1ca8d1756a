// Unit tests of SharedDownload: pass-through on a full disk, the last byte held until verified, and the bounds on a download.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { ManualClock } from '../clock.ts';
import { HoardError, isHoardError } from '../errors.ts';
import { channels, type StoreEvent } from '../events.ts';
import type { BlobWriter } from '../storage/blob-store.ts';
import { MemoryBlobStore } from '../storage/memory-blob-store.ts';
import { SharedDownload, refuseDeclaredSize, refusingWriter, type DownloadCommit } from './shared-download.ts';
import { settlesSoon } from '../../test/support/settles-soon.ts';
import { endlessBody } from '../../test/support/endless-body.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const meta = (size: number | undefined) => ({ expectedSize: size, lastModified: undefined, upstreamEtag: undefined, contentType: undefined });
const commit: DownloadCommit = { store: (w) => w.commit() };
const asIs = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));

/** A body of `chunks` chunks of `chunkSize` bytes; `pulled` counts how many the download has taken. */
function body(payload: Buffer, chunkSize: number) {
  const state = { pulled: 0 };
  const stream = Readable.from(
    (function* () {
      for (let at = 0; at < payload.length; at += chunkSize) {
        state.pulled += 1;
        yield payload.subarray(at, at + chunkSize);
      }
    })(),
    { objectMode: false, highWaterMark: 1 },
  );
  return { stream, state };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

test('a full disk mid-download relays the whole body to every follower, stores nothing and reports the store full', async () => {
  const store = new MemoryBlobStore({ capacityBytes: 200_000 });
  const events: StoreEvent[] = [];
  const listen = (e: unknown) => events.push(e as StoreEvent);
  channels.store.subscribe(listen);
  try {
    const payload = randomBytes(1_000_000);
    const download = new SharedDownload('k', await store.createWriter(), meta(payload.length), { relayWindowBytes: 128 * 1024 });
    const followers = [download.stream(0, undefined), download.stream(0, undefined)];
    const late = download.stream(0, undefined);
    const { stream } = body(payload, 64 * 1024);
    const run = download.run(stream, commit, asIs);
    const got = await Promise.all([...followers, late].map(collect));
    await run;
    for (const bytes of got) assert.equal(sha(bytes), sha(payload));
    assert.equal(download.failed, undefined);
    assert.equal(download.size, payload.length);
    assert.equal(download.digest, undefined, 'nothing committed');
    assert.equal(download.joinable, false);
    const listed = [];
    for await (const b of store.list()) listed.push(b);
    assert.deepEqual(listed, []);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.usedBytes, 0, 'the temporary bytes are given back once the followers are done');
    assert.equal(events[0]?.state, 'full');
  } finally {
    channels.store.unsubscribe(listen);
  }
});

test('the relay window bounds memory: a follower that does not read holds the upstream back', async () => {
  const store = new MemoryBlobStore({ capacityBytes: 0 });
  const payload = randomBytes(2_000_000);
  const window = 256 * 1024;
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length), { relayWindowBytes: window });
  const slow = download.stream(0, undefined);
  const { stream, state } = body(payload, 32 * 1024);
  const run = download.run(stream, commit, asIs);
  await new Promise((resolve) => setTimeout(resolve, 50));
  // The follower's own buffer (one highWaterMark) plus the window, plus the chunk in hand.
  const pulledBytes = state.pulled * 32 * 1024;
  assert.ok(pulledBytes <= window + 256 * 1024 + 3 * 32 * 1024, `read ${pulledBytes} bytes ahead of a stalled client`);
  assert.ok(download.relaying);
  const bytes = await collect(slow);
  await run;
  assert.equal(sha(bytes), sha(payload));
});

test('with no client left to relay to, a full window ends the download as a failure', async () => {
  const store = new MemoryBlobStore({ capacityBytes: 0 });
  const payload = randomBytes(1_000_000);
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length), { relayWindowBytes: 64 * 1024 });
  const follower = download.stream(0, undefined);
  follower.destroy();
  await download.run(body(payload, 32 * 1024).stream, commit, asIs);
  assert.ok(isHoardError(download.failed, 'HOARD_ERR_STORE_FULL'));
});

test('a store that cannot open a writer relays from the first byte; a body without Content-Length too', async () => {
  const full = new HoardError('HOARD_ERR_STORE_FULL', 'cannot create a temporary blob file: disk full');
  const payload = randomBytes(300_000);
  const download = new SharedDownload('k', refusingWriter(full), meta(undefined));
  const follower = collect(download.stream(0, undefined));
  await download.run(body(payload, 16 * 1024).stream, commit, asIs);
  assert.equal(download.failed, undefined);
  assert.equal(sha(await follower), sha(payload));
});

test('a full disk reported only by the commit still relays every byte', async () => {
  const payload = randomBytes(100_000);
  const store = new MemoryBlobStore();
  const inner = await store.createWriter();
  const writer: BlobWriter = {
    get written() {
      return inner.written;
    },
    write: (c) => inner.write(c),
    readAt: (p, l) => inner.readAt(p, l),
    seal: (e) => inner.seal(e),
    commit: () => Promise.reject(new HoardError('HOARD_ERR_STORE_FULL', 'fsync: disk full')),
    abort: () => inner.abort(),
  };
  const download = new SharedDownload('k', writer, meta(payload.length));
  const follower = collect(download.stream(0, undefined));
  await download.run(body(payload, 10_000).stream, commit, asIs);
  assert.equal(sha(await follower), sha(payload));
  assert.equal(download.failed, undefined);
});

// --- The last byte once verified; the durable commit after it. ---

/** A `store` that waits until `open()`: a slow fsync, without a timing race. */
function gatedStore() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const commit: DownloadCommit = {
    store: async (w) => {
      await gate;
      return w.commit();
    },
  };
  return { commit, open };
}

test('followers get the last byte once the bytes are verified, before the durable commit ends; settled waits for it', async () => {
  const store = new MemoryBlobStore();
  const payload = randomBytes(200_000);
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length));
  const follower = collect(download.stream(0, undefined));
  const { commit: gated, open } = gatedStore();
  const run = download.run(body(payload, 30_000).stream, { ...gated, expected: { sha256: sha(payload) } }, asIs);
  assert.equal(await settlesSoon(follower), true, 'the whole body arrives while the commit is held');
  assert.equal(sha(await follower), sha(payload));
  assert.equal(download.complete, true);
  assert.equal(download.digest, sha(payload));
  assert.equal(await settlesSoon(download.settled), false, 'not settled before the commit');
  // A follower joining now reads everything too.
  assert.equal(sha(await collect(download.stream(0, undefined))), sha(payload));
  open();
  await run;
  assert.equal((await download.settled).phase, 'committed');
  assert.deepEqual(await store.stat(sha(payload)), { digest: sha(payload), size: payload.length });
});

test('holdUntilStored keeps the last byte until the commit has ended', async () => {
  const store = new MemoryBlobStore();
  const payload = randomBytes(50_000);
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length));
  const follower = collect(download.stream(0, undefined));
  const { commit: gated, open } = gatedStore();
  const run = download.run(body(payload, 10_000).stream, { ...gated, holdUntilStored: true }, asIs);
  assert.equal(await settlesSoon(follower), false);
  open();
  await run;
  assert.equal(sha(await follower), sha(payload));
});

test('a body that fails its check never releases the last byte, and store is never called', async () => {
  const store = new MemoryBlobStore();
  const payload = randomBytes(50_000);
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length));
  const got: Buffer[] = [];
  const follower = (async () => {
    for await (const chunk of download.stream(0, undefined)) got.push(Buffer.from(chunk as Uint8Array));
  })();
  let stored = false;
  const commit: DownloadCommit = {
    expected: { sha256: sha(Buffer.from('other')) },
    store: (w) => {
      stored = true;
      return w.commit();
    },
  };
  await download.run(body(payload, 10_000).stream, commit, asIs);
  await assert.rejects(follower, (err: unknown) => isHoardError(err, 'HOARD_ERR_DIGEST_MISMATCH'));
  assert.equal(Buffer.concat(got).length, payload.length - 1);
  assert.equal(stored, false);
  assert.equal(download.complete, false);
});

test('a store that fails after the release leaves every follower its verified bytes and ends the download unstored', async () => {
  const store = new MemoryBlobStore();
  const payload = randomBytes(300_000);
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length));
  const fast = collect(download.stream(0, undefined));
  // A follower that has not read a byte yet when the commit fails.
  const slow = download.stream(0, undefined);
  slow.pause();
  store.failNextCommit(new HoardError('HOARD_ERR_STORE_IO', 'fdatasync: input/output error'));
  await download.run(body(payload, 50_000).stream, commit, asIs);
  assert.equal(sha(await fast), sha(payload));
  assert.equal(download.failed, undefined);
  assert.ok(isHoardError(download.storeError, 'HOARD_ERR_STORE_IO'));
  assert.equal((await download.settled).phase, 'unstored');
  assert.equal(download.joinable, false);
  slow.resume();
  assert.equal(sha(await collect(slow)), sha(payload));
  assert.equal(await store.stat(sha(payload)), undefined);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.usedBytes, 0, 'the temporary bytes are given back once the followers are done');
});

// --- Bounds: cache.maxObjectSize, the size the index lists, the rate floor. ---

/** The error `promise` rejects with, caught at once (no unhandled rejection while the test waits elsewhere). */
function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** A writer that remembers the most bytes it ever held (abort empties the inner one). */
function countingWriter(inner: BlobWriter): BlobWriter & { most: number } {
  const counting = {
    most: 0,
    get written() {
      return inner.written;
    },
    write: async (chunk: Uint8Array) => {
      await inner.write(chunk);
      counting.most = Math.max(counting.most, inner.written);
    },
    readAt: (p: number, l: number) => inner.readAt(p, l),
    seal: (e?: Parameters<BlobWriter['seal']>[0]) => inner.seal(e),
    commit: () => inner.commit(),
    abort: () => inner.abort(),
  };
  return counting;
}

test('a body without Content-Length growing past maxObjectSize is abandoned there: nothing past it written, nothing stored', async () => {
  const store = new MemoryBlobStore();
  const download = new SharedDownload('k', await store.createWriter(), meta(undefined), { limits: { maxObjectSize: 100_000 } });
  const follower = failureOf(collect(download.stream(0, undefined)));
  const { stream, state } = endlessBody(16 * 1024);
  await download.run(stream, commit, asIs);
  assert.ok(isHoardError(download.failed, 'HOARD_ERR_OBJECT_TOO_LARGE'), String(download.failed));
  assert.match(download.failed?.message ?? '', /cache\.maxObjectSize \(100000 bytes\)/);
  assert.ok(isHoardError(await follower, 'HOARD_ERR_OBJECT_TOO_LARGE'), 'the follower sees the download fail');
  assert.ok(download.written <= 100_000, `wrote ${download.written}`);
  assert.ok(state.pulled < 20, `the upstream was read on: ${state.pulled} chunks`);
  assert.ok(stream.destroyed, 'the upstream body is dropped');
  assert.equal(store.usedBytes, 0, 'the temporary bytes are deleted');
});

test('a body longer than the size the index lists is abandoned at that size (HOARD_ERR_SIZE_MISMATCH)', async () => {
  const store = new MemoryBlobStore();
  const writer = countingWriter(await store.createWriter());
  const download = new SharedDownload('k', writer, meta(undefined), { limits: { maxObjectSize: 10_000_000 } });
  const { stream, state } = endlessBody(10_000);
  let stored = false;
  const listed: DownloadCommit = {
    expected: { size: 25_000 },
    store: (w) => {
      stored = true;
      return w.commit();
    },
  };
  await download.run(stream, listed, asIs);
  assert.ok(isHoardError(download.failed, 'HOARD_ERR_SIZE_MISMATCH'), String(download.failed));
  assert.match(download.failed?.message ?? '', /more than the 25000 the index lists/);
  // The stream may hand over several chunks at once; whatever would cross the listed size is not written.
  assert.ok(writer.most > 0 && writer.most <= 25_000, `wrote ${writer.most}`);
  assert.ok(state.pulled < 10);
  assert.equal(stored, false);
  assert.equal(store.usedBytes, 0);
});

test('refuseDeclaredSize: a Content-Length above maxObjectSize is refused with a clear detail; at or below, or no limit, passes', () => {
  const refused = refuseDeclaredSize(1e15, { maxObjectSize: 5e6 }, 'http://mirror.example/pool/x.deb');
  assert.ok(isHoardError(refused, 'HOARD_ERR_OBJECT_TOO_LARGE'));
  assert.match(refused.detail ?? '', /1000000000000000 bytes\) is larger than this cache accepts \(cache\.maxObjectSize, 5000000 bytes\)/);
  assert.equal(refuseDeclaredSize(5e6, { maxObjectSize: 5e6 }, 'u'), undefined);
  assert.equal(refuseDeclaredSize(undefined, { maxObjectSize: 5e6 }, 'u'), undefined);
  assert.equal(refuseDeclaredSize(1e15, {}, 'u'), undefined);
});

/** Waits, in bounded turns of the event loop and real milliseconds, until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(done(), `timed out waiting for ${what}`);
}

test('an upstream below the rate floor over the window is abandoned while it waits for a chunk: followers cut, nothing stored', async () => {
  const clock = new ManualClock();
  const store = new MemoryBlobStore();
  const limits = { rateFloor: { minBytesPerSecond: 1000, windowMs: 2000 }, rateCheckMs: 5 };
  const download = new SharedDownload('k', await store.createWriter(), meta(100_000), { limits, clock });
  const follower = failureOf(collect(download.stream(0, undefined)));
  const body = new PassThrough();
  const run = download.run(body, commit, asIs);
  body.write(randomBytes(1500));
  await until(() => download.written === 1500, 'the first bytes');
  clock.advance(1999);
  // The checker runs every 5 ms; several rounds pass here.
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(await settlesSoon(download.settled), false, 'nothing is judged before a whole window');
  clock.advance(1);
  await until(() => download.failed !== undefined, 'the floor to trip');
  await run;
  assert.ok(isHoardError(download.failed, 'HOARD_ERR_UPSTREAM_TOO_SLOW'), String(download.failed));
  assert.match(download.failed.message, /sent 1500 bytes of k in 2 s, below upstream\.minBytesPerSecond \(1000\)/);
  assert.ok(isHoardError(await follower, 'HOARD_ERR_UPSTREAM_TOO_SLOW'), 'the follower is cut');
  assert.ok(body.destroyed, 'the upstream connection is dropped');
  assert.equal(store.usedBytes, 0);
});

test('an upstream at or above the floor in every window is kept', async () => {
  const clock = new ManualClock();
  const store = new MemoryBlobStore();
  const payload = randomBytes(12_000);
  const limits = { rateFloor: { minBytesPerSecond: 1000, windowMs: 2000 }, rateCheckMs: 5 };
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length), { limits, clock });
  const follower = collect(download.stream(0, undefined));
  const body = new PassThrough();
  const run = download.run(body, { ...commit, expected: { sha256: sha(payload) } }, asIs);
  // 2,000 bytes every simulated second, with the checker running between steps.
  for (let at = 0; at < payload.length; at += 2000) {
    body.write(payload.subarray(at, at + 2000));
    await until(() => download.written === at + 2000, `byte ${at + 2000}`);
    clock.advance(1000);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  body.end();
  await run;
  assert.equal(download.failed, undefined);
  assert.equal(sha(await follower), sha(payload));
});

test("a relaying download (disk full) reads at its slowest client's pace: the floor does not apply", async () => {
  const clock = new ManualClock();
  const store = new MemoryBlobStore({ capacityBytes: 0 });
  const payload = randomBytes(200_000);
  const limits = { rateFloor: { minBytesPerSecond: 1_000_000, windowMs: 1000 }, rateCheckMs: 5 };
  const download = new SharedDownload('k', await store.createWriter(), meta(payload.length), { relayWindowBytes: 16 * 1024, limits, clock });
  const slow = download.stream(0, undefined);
  const run = download.run(body(payload, 8 * 1024).stream, commit, asIs);
  await until(() => download.relaying, 'the relay');
  clock.advance(10_000);
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(download.failed, undefined);
  assert.equal(sha(await collect(slow)), sha(payload));
  await run;
  assert.equal(download.failed, undefined);
});
