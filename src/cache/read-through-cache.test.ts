// Unit tests of the read-through core over memory stores and a scripted upstream: coalescing, failure, freshness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pino } from 'pino';
import { ManualClock } from '../clock.ts';
import { HoardError } from '../errors.ts';
import { channels, type DownloadEvent, type VerificationEvent } from '../events.ts';
import type { BlobStore, BlobWriter } from '../storage/blob-store.ts';
import { MemoryBlobStore } from '../storage/memory-blob-store.ts';
import { MemoryMetadataIndex } from '../storage/memory-metadata-index.ts';
import type { FetchInit, Upstream, UpstreamResponse } from '../upstream/fetcher.ts';
import type { CachedObject, PathPolicy } from './cached-object.ts';
import { noVerifier, type AdmitDecision, type ContentVerifier } from './content-verifier.ts';
import { ReadThroughCache } from './read-through-cache.ts';
import type { DownloadLimits } from './shared-download.ts';
import { settlesSoon } from '../../test/support/settles-soon.ts';
import { endlessBody } from '../../test/support/endless-body.ts';

const immutable: PathPolicy = { protocol: 'test', mutable: false, kind: 'package', contentType: 'application/octet-stream' };
const mutable: PathPolicy = { protocol: 'test', mutable: true, kind: 'index', contentType: 'application/octet-stream' };

type Script = (path: string, init: FetchInit) => UpstreamResponse | Promise<UpstreamResponse>;

class ScriptedUpstream implements Upstream {
  readonly key = 'http://upstream.example';
  readonly calls: Array<{ path: string; headers: Record<string, string> }> = [];
  /** Reasons given to reportFailure: the mirror was blamed for a failed download. */
  readonly failures: string[] = [];
  script: Script;
  constructor(script: Script) {
    this.script = script;
  }
  fetch(path: string, init: FetchInit): Promise<UpstreamResponse> {
    this.calls.push({ path, headers: init.headers ?? {} });
    return Promise.resolve(this.script(path, init));
  }
  reportFailure(_url: URL, reason: string): void {
    this.failures.push(reason);
  }
}

function ok(body: Readable, headers: Record<string, string> = {}): UpstreamResponse {
  return { status: 200, headers, body, url: new URL('http://upstream.example/') };
}

/** A cache over `blobs` whose one protocol has `verifier`; every setup of this file builds it the same way. */
function cacheOver<B extends BlobStore>(blobs: B, verifier: ContentVerifier, downloadLimits?: DownloadLimits) {
  const clock = new ManualClock();
  const index = new MemoryMetadataIndex();
  const cache = new ReadThroughCache({
    blobs,
    index,
    clock,
    protocol: () => ({ verifier, classify: () => undefined }),
    logger: pino({ level: 'silent' }),
    indexMaxAgeSeconds: 30,
    notFoundTtlSeconds: 10,
    downloadLimits,
  });
  return { clock, blobs, index, cache };
}

function setup(verifier: ContentVerifier = noVerifier, downloadLimits?: DownloadLimits) {
  return cacheOver(new MemoryBlobStore(), verifier, downloadLimits);
}

async function readAll(object: CachedObject): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of object.stream(0, undefined)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Reads the object to its end, then waits for the download behind it to settle: a client gets the
 * last byte once the bytes are verified, before the durable commit and the index entry.
 */
async function readStored(object: CachedObject): Promise<Buffer> {
  const bytes = await readAll(object);
  await object.settled;
  return bytes;
}

test('16 concurrent clients cause one upstream fetch and all get the same bytes, before the download ends', async () => {
  const { cache, index } = setup();
  const payload = randomBytes(3 * 1024 * 1024);
  const body = new PassThrough();
  const upstream = new ScriptedUpstream(() => ok(body, { 'content-length': String(payload.length) }));
  const lookups = await Promise.all(Array.from({ length: 16 }, () => cache.get(upstream, '/pool/a.deb', immutable)));
  assert.equal(upstream.calls.length, 1);
  // Half the body is sent; every client must be able to read that half while the rest is still pending.
  body.write(payload.subarray(0, payload.length / 2));
  const firstBytes = await Promise.all(
    lookups.map(async (l) => {
      assert.equal(l.kind, 'object');
      if (l.kind !== 'object') throw new Error('unreachable');
      const stream = l.object.stream(0, 1023);
      const got: Buffer[] = [];
      for await (const c of stream) got.push(Buffer.from(c as Uint8Array));
      return Buffer.concat(got);
    }),
  );
  for (const b of firstBytes) assert.deepEqual(b, payload.subarray(0, 1024));
  const full = lookups.map((l) => (l.kind === 'object' ? readAll(l.object) : Promise.reject(new Error('no object'))));
  body.end(payload.subarray(payload.length / 2));
  for (const b of await Promise.all(full)) assert.equal(sha(b), sha(payload));
  // The clients had every byte once it was verified; the index entry follows the durable commit.
  for (const l of lookups) if (l.kind === 'object') await l.object.settled;
  assert.equal(index.get('http://upstream.example/pool/a.deb')?.digest, sha(payload));
  // A late client is now a hit with no upstream traffic.
  const late = await cache.get(upstream, '/pool/a.deb', immutable);
  assert.equal(late.kind === 'object' && late.source, 'hit');
  assert.equal(upstream.calls.length, 1);
});

test('a cut upstream errors every follower and stores nothing; the next request fetches again', async () => {
  const { cache, index } = setup();
  const payload = randomBytes(200_000);
  const body = new PassThrough();
  const upstream = new ScriptedUpstream(() => ok(body, { 'content-length': String(payload.length) }));
  const [a, b] = await Promise.all([cache.get(upstream, '/pool/b.deb', immutable), cache.get(upstream, '/pool/b.deb', immutable)]);
  body.write(payload.subarray(0, 50_000));
  body.destroy(new Error('socket hang up'));
  for (const l of [a, b]) {
    if (l?.kind !== 'object') throw new Error('expected an object');
    await assert.rejects(readAll(l.object));
  }
  assert.equal(index.get('http://upstream.example/pool/b.deb'), undefined);
  upstream.script = () => ok(Readable.from([payload]), { 'content-length': String(payload.length) });
  const again = await cache.get(upstream, '/pool/b.deb', immutable);
  if (again.kind !== 'object') throw new Error('expected an object');
  assert.equal(sha(await readAll(again.object)), sha(payload));
  assert.equal(upstream.calls.length, 2);
});

test('a body shorter than Content-Length is not stored', async () => {
  const { cache, index } = setup();
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.alloc(10)]), { 'content-length': '20' }));
  const l = await cache.get(upstream, '/pool/c.deb', immutable);
  if (l.kind !== 'object') throw new Error('expected an object');
  await assert.rejects(readAll(l.object), (err: unknown) => err instanceof HoardError && err.code === 'HOARD_ERR_UPSTREAM_TRUNCATED');
  assert.equal(index.count(), 0);
});

test('mutable files are revalidated once stale, with one conditional request for all clients', async () => {
  const { cache, clock } = setup();
  const upstream = new ScriptedUpstream(() =>
    ok(Readable.from([Buffer.from('v1')]), { 'content-length': '2', 'last-modified': 'Mon, 02 Jan 2026 00:00:00 GMT', etag: '"u1"' }),
  );
  const first = await cache.get(upstream, '/dists/x/InRelease', mutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  await readStored(first.object);
  clock.advance(10_000);
  assert.equal((await cache.get(upstream, '/dists/x/InRelease', mutable)).kind === 'object' && upstream.calls.length, 1);
  clock.advance(25_000);
  upstream.script = () => ({ status: 304, headers: {}, body: Readable.from([]), url: new URL('http://upstream.example/') });
  const many = await Promise.all(Array.from({ length: 8 }, () => cache.get(upstream, '/dists/x/InRelease', mutable)));
  assert.equal(upstream.calls.length, 2);
  assert.equal(upstream.calls[1]?.headers['if-none-match'], '"u1"');
  assert.equal(upstream.calls[1]?.headers['if-modified-since'], 'Mon, 02 Jan 2026 00:00:00 GMT');
  assert.ok(many.every((l) => l.kind === 'object' && l.source === 'revalidated'));
  // New content upstream after the next expiry replaces the old.
  clock.advance(31_000);
  upstream.script = () => ok(Readable.from([Buffer.from('v2!')]), { 'content-length': '3' });
  const changed = await cache.get(upstream, '/dists/x/InRelease', mutable);
  if (changed.kind !== 'object') throw new Error('expected an object');
  assert.equal(await text(changed.object.stream(0, undefined)), 'v2!');
});

test('an upstream without validators: objects carry the time their bytes were first stored as Last-Modified', async () => {
  const { cache, clock, index } = setup();
  const start = clock.now();
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('v1')]), { 'content-length': '2' }));
  const first = await cache.get(upstream, '/dists/x/Packages', mutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  // The download's own clients get the date too: it is chosen before the bytes are whole.
  assert.equal(first.object.lastModified, new Date(start).toUTCString());
  await readStored(first.object);
  clock.advance(31_000);
  // Revalidated to the same bytes (a 200, there being nothing to ask conditionally): the first date stays.
  const again = await cache.get(upstream, '/dists/x/Packages', mutable);
  if (again.kind !== 'object') throw new Error('expected an object');
  await readStored(again.object);
  assert.equal(upstream.calls.length, 2);
  assert.equal(upstream.calls[1]?.headers['if-modified-since'], undefined, "a date of hoard's own is never sent upstream");
  const hit = await cache.get(upstream, '/dists/x/Packages', mutable);
  assert.equal(hit.kind === 'object' && hit.source, 'hit');
  assert.equal(hit.kind === 'object' && hit.object.lastModified, new Date(start).toUTCString());
  assert.equal(index.get('http://upstream.example/dists/x/Packages')?.lastModified, undefined, "the index keeps only the upstream's date");
  // New bytes in the very second of the date served before still get a later one: a client holding that
  // date must not get a 304 for them. (The stored time is moved into the current second to show it.)
  clock.advance(31_000);
  const key = 'http://upstream.example/dists/x/Packages';
  const storedEntry = index.get(key);
  if (storedEntry === undefined) throw new Error('expected an entry');
  index.put({ ...storedEntry, storedAt: clock.now() + 400 });
  const servedBefore = Date.parse(new Date(clock.now() + 400).toUTCString());
  upstream.script = () => ok(Readable.from([Buffer.from('v2')]), { 'content-length': '2' });
  const changed = await cache.get(upstream, '/dists/x/Packages', mutable);
  if (changed.kind !== 'object') throw new Error('expected an object');
  await readStored(changed.object);
  const later = await cache.get(upstream, '/dists/x/Packages', mutable);
  assert.equal(later.kind === 'object' && later.object.lastModified, changed.object.lastModified);
  assert.equal(Date.parse(changed.object.lastModified ?? ''), servedBefore + 1000);
});

test('a held revalidation (awaitAdmission) that finds the same bytes answers with the stored object and its first date', async () => {
  const verifier = verifierWith({ expect: () => ({ verification: 'unverified', awaitAdmission: true }) });
  const { cache, clock } = setup(verifier);
  const start = clock.now();
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('Release v1')]), { 'content-length': '10' }));
  const first = await cache.get(upstream, '/dists/s/InRelease', mutable);
  assert.equal(first.kind === 'object' && first.object.lastModified, new Date(start).toUTCString());
  clock.advance(60_000);
  const again = await cache.get(upstream, '/dists/s/InRelease', mutable);
  if (again.kind !== 'object') throw new Error('expected an object');
  assert.equal(upstream.calls.length, 2);
  assert.equal(again.source, 'revalidated');
  assert.equal(again.object.lastModified, new Date(start).toUTCString());
  assert.equal(await text(again.object.stream(0, undefined)), 'Release v1');
  clock.advance(60_000);
  upstream.script = () => ok(Readable.from([Buffer.from('Release v2')]), { 'content-length': '10' });
  const changed = await cache.get(upstream, '/dists/s/InRelease', mutable);
  if (changed.kind !== 'object') throw new Error('expected an object');
  assert.equal(changed.source, 'miss');
  assert.equal(changed.object.lastModified, new Date(clock.now()).toUTCString());
});

test("the upstream's Last-Modified is served as it is, and kept across a same-bytes revalidation that lacks it", async () => {
  const { cache, clock } = setup();
  const date = 'Mon, 02 Jan 2026 00:00:00 GMT';
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('v1')]), { 'content-length': '2', 'last-modified': date }));
  const first = await cache.get(upstream, '/dists/x/Release', mutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  assert.equal(first.object.lastModified, date);
  await readStored(first.object);
  clock.advance(31_000);
  upstream.script = () => ok(Readable.from([Buffer.from('v1')]), { 'content-length': '2' });
  const again = await cache.get(upstream, '/dists/x/Release', mutable);
  if (again.kind !== 'object') throw new Error('expected an object');
  await readStored(again.object);
  const hit = await cache.get(upstream, '/dists/x/Release', mutable);
  assert.equal(hit.kind === 'object' && hit.object.lastModified, date);
});

test('an unreachable upstream serves the stale copy with a warning', async () => {
  const { cache, clock } = setup();
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('old')]), { 'content-length': '3' }));
  const first = await cache.get(upstream, '/dists/x/Release', mutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  await readStored(first.object);
  clock.advance(60_000);
  upstream.script = () => {
    throw new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', 'connection refused');
  };
  const stale = await cache.get(upstream, '/dists/x/Release', mutable);
  assert.equal(stale.kind === 'object' && stale.source, 'stale');
  assert.match(stale.kind === 'object' ? (stale.warning ?? '') : '', /^111 hoard "Revalidation Failed/);
  if (stale.kind === 'object') assert.equal(await text(stale.object.stream(0, undefined)), 'old');
});

test('404 is relayed and remembered briefly', async () => {
  const { cache, clock } = setup();
  const upstream = new ScriptedUpstream(() => ({ status: 404, headers: {}, body: Readable.from([]), url: new URL('http://upstream.example/') }));
  const a = await cache.get(upstream, '/pool/missing.deb', immutable);
  const b = await cache.get(upstream, '/pool/missing.deb', immutable);
  assert.equal(a.kind === 'status' && a.status, 404);
  assert.equal(b.kind === 'status' && b.source, 'negative');
  assert.equal(upstream.calls.length, 1);
  clock.advance(11_000);
  await cache.get(upstream, '/pool/missing.deb', immutable);
  assert.equal(upstream.calls.length, 2);
});

test('bytes that differ from what the index expects are never stored', async () => {
  const good = Buffer.from('the real package');
  const verifier: ContentVerifier = { ...noVerifier, expect: () => ({ sha256: sha(good), size: good.length, verification: 'hash-verified' }) };
  const { cache, index } = setup(verifier);
  const bad = Buffer.from('a forged package');
  const upstream = new ScriptedUpstream(() => ok(Readable.from([bad]), { 'content-length': String(bad.length) }));
  const l = await cache.get(upstream, '/pool/d.deb', immutable);
  if (l.kind !== 'object') throw new Error('expected an object');
  await assert.rejects(readAll(l.object), (err: unknown) => err instanceof HoardError && err.code === 'HOARD_ERR_DIGEST_MISMATCH');
  // A client that asked for exactly Content-Length bytes must not get them all either.
  const sized = await cache.get(upstream, '/pool/d.deb', immutable);
  if (sized.kind !== 'object') throw new Error('expected an object');
  const got: Buffer[] = [];
  await assert.rejects(async () => {
    for await (const c of sized.object.stream(0, bad.length - 1)) got.push(Buffer.from(c as Uint8Array));
  });
  assert.ok(Buffer.concat(got).length < bad.length, 'the last byte is held back until the digest is checked');
  assert.equal(index.count(), 0);
});

// --- The verifier seam: by-hash spellings upstream, Release files held until admitted, refusals, taint. ---

function verifierWith(overrides: Partial<ContentVerifier>): ContentVerifier {
  return { ...noVerifier, ...overrides };
}

const notFound = (): UpstreamResponse => ({ status: 404, headers: {}, body: Readable.from([]), url: new URL('http://upstream.example/') });

test('upstreamPaths are tried in order on 404, and the object is stored under the requested path', async () => {
  const good = Buffer.from('Package: a\n');
  const verifier = verifierWith({
    expect: () => ({
      sha256: sha(good),
      size: good.length,
      verification: 'authenticated',
      upstreamPaths: ['/dists/s/main/by-hash/SHA256/x', '/dists/s/main/Packages'],
    }),
    admit: () => Promise.resolve({ admit: true, verification: 'authenticated' }),
  });
  const { cache, index } = setup(verifier);
  const upstream = new ScriptedUpstream((path) =>
    path.includes('by-hash') ? notFound() : ok(Readable.from([good]), { 'content-length': String(good.length) }),
  );
  const l = await cache.get(upstream, '/dists/s/main/Packages', mutable);
  if (l.kind !== 'object') throw new Error('expected an object');
  assert.equal(sha(await readStored(l.object)), sha(good));
  assert.deepEqual(
    upstream.calls.map((c) => c.path),
    ['/dists/s/main/by-hash/SHA256/x', '/dists/s/main/Packages'],
  );
  assert.equal(index.get('http://upstream.example/dists/s/main/Packages')?.verification, 'authenticated');
});

test('an awaited admission returns the object only once committed and admitted', async () => {
  let admitted = false;
  const verifier = verifierWith({
    expect: () => ({ verification: 'unverified', awaitAdmission: true }),
    admit: async () => {
      await new Promise((r) => setTimeout(r, 20));
      admitted = true;
      return { admit: true, verification: 'authenticated' };
    },
  });
  const { cache, index } = setup(verifier);
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('Release v1')]), { 'content-length': '10' }));
  const [a, b] = await Promise.all([cache.get(upstream, '/dists/s/InRelease', mutable), cache.get(upstream, '/dists/s/InRelease', mutable)]);
  assert.equal(admitted, true);
  assert.equal(upstream.calls.length, 1);
  for (const l of [a, b]) {
    if (l?.kind !== 'object') throw new Error('expected an object');
    assert.equal(l.object.complete, true);
    assert.equal(await text(l.object.stream(0, undefined)), 'Release v1');
  }
  assert.equal(index.get('http://upstream.example/dists/s/InRelease')?.verification, 'authenticated');
});

test("a refusal with serve 'previous' keeps serving the stored copy and marks it validated", async () => {
  let refuse = false;
  const verifier = verifierWith({
    expect: () => ({ verification: 'unverified', awaitAdmission: true }),
    admit: () =>
      Promise.resolve(refuse ? { admit: false, reason: 'indices not there yet', serve: 'previous' } : { admit: true, verification: 'hash-verified' }),
  });
  const { cache, index, clock } = setup(verifier);
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('gen 1')]), { 'content-length': '5' }));
  const first = await cache.get(upstream, '/dists/s/InRelease', mutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  assert.equal(await text(first.object.stream(0, undefined)), 'gen 1');
  clock.advance(60_000);
  refuse = true;
  upstream.script = () => ok(Readable.from([Buffer.from('gen 2')]), { 'content-length': '5' });
  const kept = await cache.get(upstream, '/dists/s/InRelease', mutable);
  if (kept.kind !== 'object') throw new Error('expected an object');
  assert.equal(kept.source, 'stale');
  assert.match(kept.warning ?? '', /^110 hoard "indices not there yet"$/);
  assert.equal(await text(kept.object.stream(0, undefined)), 'gen 1');
  assert.equal(index.get('http://upstream.example/dists/s/InRelease')?.validatedAt, clock.now());
  // Fresh again: no upstream request until the max age has passed.
  await cache.get(upstream, '/dists/s/InRelease', mutable);
  assert.equal(upstream.calls.length, 2);
  clock.advance(31_000);
  refuse = false;
  const next = await cache.get(upstream, '/dists/s/InRelease', mutable);
  if (next.kind !== 'object') throw new Error('expected an object');
  assert.equal(await text(next.object.stream(0, undefined)), 'gen 2');
});

test("a refusal with serve 'refuse' fails every waiting client with the decision's error; the default relays the bytes unstored", async () => {
  let decision: AdmitDecision = {
    admit: false,
    reason: 'unknown key',
    serve: 'refuse',
    error: new HoardError('HOARD_ERR_NOT_AUTHENTICATED', 'not signed by a trusted key'),
  };
  const verifier = verifierWith({ expect: () => ({ verification: 'unverified', awaitAdmission: true }), admit: () => Promise.resolve(decision) });
  const { cache, index } = setup(verifier);
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('signed?')]), { 'content-length': '7' }));
  const both = await Promise.allSettled([cache.get(upstream, '/dists/s/InRelease', mutable), cache.get(upstream, '/dists/s/InRelease', mutable)]);
  for (const r of both) assert.ok(r.status === 'rejected' && r.reason instanceof HoardError && r.reason.code === 'HOARD_ERR_NOT_AUTHENTICATED');
  decision = { admit: false, reason: 'bad signature' };
  const relayed = await cache.get(upstream, '/dists/s/InRelease', mutable);
  if (relayed.kind !== 'object') throw new Error('expected an object');
  assert.equal(await text(relayed.object.stream(0, undefined)), 'signed?');
  assert.equal(index.count(), 0);
});

test('expect may answer later, or refuse the request', async () => {
  const good = Buffer.from('payload');
  let refuse = false;
  const verifier = verifierWith({
    expect: () => {
      if (refuse) throw new HoardError('HOARD_ERR_NOT_AUTHENTICATED', 'strict');
      return new Promise((r) => setTimeout(() => r({ sha256: sha(good), size: good.length, verification: 'hash-verified' }), 10));
    },
    admit: () => Promise.resolve({ admit: true, verification: 'hash-verified' }),
  });
  const { cache, index } = setup(verifier);
  const upstream = new ScriptedUpstream(() => ok(Readable.from([good]), { 'content-length': String(good.length) }));
  const l = await cache.get(upstream, '/pool/e.deb', immutable);
  if (l.kind !== 'object') throw new Error('expected an object');
  await readStored(l.object);
  assert.equal(index.get('http://upstream.example/pool/e.deb')?.verification, 'hash-verified');
  refuse = true;
  await assert.rejects(
    cache.get(upstream, '/pool/e.deb', immutable),
    (err: unknown) => err instanceof HoardError && err.code === 'HOARD_ERR_NOT_AUTHENTICATED',
  );
});

test('a hash mismatch is published as a verification event, and the key is served without Last-Modified for a while', async () => {
  const good = Buffer.from('the real package');
  const bad = Buffer.from('a forged package');
  const verifier = verifierWith({ expect: () => ({ sha256: sha(good), size: good.length, verification: 'hash-verified' }) });
  const { cache, clock } = setup(verifier);
  const events: VerificationEvent[] = [];
  const listen = (m: unknown) => events.push(m as VerificationEvent);
  channels.verification.subscribe(listen);
  try {
    const lastModified = 'Mon, 02 Jan 2026 00:00:00 GMT';
    const upstream = new ScriptedUpstream(() => ok(Readable.from([bad]), { 'content-length': String(bad.length), 'last-modified': lastModified }));
    const l = await cache.get(upstream, '/pool/f.deb', immutable);
    if (l.kind !== 'object') throw new Error('expected an object');
    await assert.rejects(readAll(l.object));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      events.map((e) => [e.path, e.failure]),
      [['/pool/f.deb', 'digest']],
    );
    assert.equal(events[0]?.upstream, 'http://upstream.example/');
    // The client kept the rejected bytes as a partial file; its If-Range must not match the good copy.
    upstream.script = () => ok(Readable.from([good]), { 'content-length': String(good.length), 'last-modified': lastModified });
    const retry = await cache.get(upstream, '/pool/f.deb', immutable);
    if (retry.kind !== 'object') throw new Error('expected an object');
    assert.equal(retry.object.lastModified, undefined);
    await readStored(retry.object);
    const hit = await cache.get(upstream, '/pool/f.deb', immutable);
    assert.equal(hit.kind === 'object' && hit.object.lastModified, undefined);
    clock.advance(11 * 60_000);
    const later = await cache.get(upstream, '/pool/f.deb', immutable);
    assert.equal(later.kind === 'object' && later.object.lastModified, lastModified);
  } finally {
    channels.verification.unsubscribe(listen);
  }
});

test('revalidate asks the upstream even when the stored copy is fresh', async () => {
  const { cache } = setup();
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('sig')]), { 'content-length': '3', etag: '"s1"' }));
  const first = await cache.get(upstream, '/dists/s/Release.gpg', mutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  await readStored(first.object);
  upstream.script = () => ({ status: 304, headers: {}, body: Readable.from([]), url: new URL('http://upstream.example/') });
  assert.equal((await cache.get(upstream, '/dists/s/Release.gpg', mutable)).kind === 'object' && upstream.calls.length, 1);
  const again = await cache.get(upstream, '/dists/s/Release.gpg', mutable, { revalidate: true });
  assert.equal(again.kind === 'object' && again.source, 'revalidated');
  assert.equal(upstream.calls[1]?.headers['if-none-match'], '"s1"');
});

// --- The last byte is released once verified; fsyncs and the index entry follow. ---

/** A store whose writers' durable commit waits until `open()`: the fsyncs of a slow disk, without a timing race. */
class GatedBlobStore extends MemoryBlobStore {
  #open!: () => void;
  #gate = new Promise<void>((resolve) => (this.#open = resolve));
  commitsStarted = 0;
  open(): void {
    this.#open();
  }
  override async createWriter(): Promise<BlobWriter> {
    const inner = await super.createWriter();
    return {
      get written() {
        return inner.written;
      },
      write: (chunk) => inner.write(chunk),
      readAt: (position, length) => inner.readAt(position, length),
      seal: (expected) => inner.seal(expected),
      commit: async (expected) => {
        this.commitsStarted += 1;
        await inner.seal(expected);
        await this.#gate;
        return inner.commit(expected);
      },
      abort: () => inner.abort(),
    };
  }
}

function gatedSetup(verifier: ContentVerifier = noVerifier) {
  return cacheOver(new GatedBlobStore(), verifier);
}

async function listBlobs(blobs: MemoryBlobStore): Promise<string[]> {
  const digests: string[] = [];
  for await (const info of blobs.list()) digests.push(info.digest);
  return digests;
}

test('a verified body reaches the client whole before the durable commit; a request meanwhile joins it as a hit, without a second fetch', async () => {
  const payload = randomBytes(300_000);
  const verifier = verifierWith({
    expect: () => ({ sha256: sha(payload), size: payload.length, verification: 'hash-verified' }),
    admit: () => Promise.resolve({ admit: true, verification: 'hash-verified' }),
  });
  const { cache, index, blobs } = gatedSetup(verifier);
  const upstream = new ScriptedUpstream(() =>
    ok(Readable.from([payload.subarray(0, 100_000), payload.subarray(100_000)]), { 'content-length': String(payload.length) }),
  );
  const first = await cache.get(upstream, '/pool/g.deb', immutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  // Whole while the commit is still held: the last byte did not wait for it.
  const read = readAll(first.object);
  assert.equal(await settlesSoon(read), true, 'the client has the whole body before the durable commit');
  assert.equal(sha(await read), sha(payload));
  assert.equal(blobs.commitsStarted, 1);
  assert.equal(index.get('http://upstream.example/pool/g.deb'), undefined, 'not indexed before the durable commit');
  assert.equal(await settlesSoon(first.object.settled ?? Promise.reject(new Error('no settled'))), false);

  const between = await cache.get(upstream, '/pool/g.deb', immutable);
  if (between.kind !== 'object') throw new Error('expected an object');
  assert.equal(between.source, 'hit', 'all bytes are in and verified: no upstream traffic for this request');
  assert.equal(between.object.etag, `"${sha(payload).slice(0, 32)}"`);
  assert.equal(sha(await readAll(between.object)), sha(payload));
  assert.equal(upstream.calls.length, 1);

  blobs.open();
  await first.object.settled;
  assert.equal(index.get('http://upstream.example/pool/g.deb')?.digest, sha(payload));
  const after = await cache.get(upstream, '/pool/g.deb', immutable);
  assert.equal(after.kind === 'object' && after.source, 'hit');
  assert.equal(after.kind === 'object' && after.object.settled, undefined, 'served from the store now');
  assert.equal(upstream.calls.length, 1);
});

test('idle() waits for a download whose response has ended until its object is stored and indexed', async () => {
  const payload = randomBytes(70_000);
  const verifier = verifierWith({
    expect: () => ({ sha256: sha(payload), size: payload.length, verification: 'hash-verified' }),
    admit: () => Promise.resolve({ admit: true, verification: 'hash-verified' }),
  });
  const { cache, index, blobs } = gatedSetup(verifier);
  const upstream = new ScriptedUpstream(() => ok(Readable.from([payload]), { 'content-length': String(payload.length) }));
  const first = await cache.get(upstream, '/pool/i.deb', immutable);
  if (first.kind !== 'object') throw new Error('expected an object');
  assert.equal(sha(await readAll(first.object)), sha(payload));
  const idle = cache.idle();
  assert.equal(await settlesSoon(idle), false, 'the durable commit is still held');
  blobs.open();
  await idle;
  assert.equal(index.get('http://upstream.example/pool/i.deb')?.digest, sha(payload));
  assert.equal(cache.activeDownloads().length, 0);
  assert.equal(await settlesSoon(cache.idle()), true, 'nothing running: idle at once');
});

test('a body that fails its check never releases its last byte, however slow the commit would have been', async () => {
  const good = randomBytes(50_000);
  const bad = Buffer.from(good);
  bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
  const verifier = verifierWith({ expect: () => ({ sha256: sha(good), size: good.length, verification: 'hash-verified' }) });
  const { cache, index, blobs } = gatedSetup(verifier);
  const upstream = new ScriptedUpstream(() => ok(Readable.from([bad]), { 'content-length': String(bad.length) }));
  const l = await cache.get(upstream, '/pool/h.deb', immutable);
  if (l.kind !== 'object') throw new Error('expected an object');
  const got: Buffer[] = [];
  await assert.rejects(
    async () => {
      for await (const c of l.object.stream(0, bad.length - 1)) got.push(Buffer.from(c as Uint8Array));
    },
    (err: unknown) => err instanceof HoardError && err.code === 'HOARD_ERR_DIGEST_MISMATCH',
  );
  assert.equal(Buffer.concat(got).length, bad.length - 1, 'everything but the last byte');
  assert.equal(blobs.commitsStarted, 0, 'nothing unverified is committed');
  await l.object.settled;
  assert.equal(index.count(), 0);
  assert.deepEqual(await listBlobs(blobs), []);
});

test('Releases (awaitAdmission) and indices that teach keep the last byte until stored, admitted and learnt', async () => {
  const body = Buffer.from('Package: a\nSHA256: 00\n');
  const learnt: string[] = [];
  for (const expectation of [
    { verification: 'unverified' as const, awaitAdmission: true },
    { sha256: sha(body), size: body.length, verification: 'hash-verified' as const, teaches: true },
  ]) {
    const verifier = verifierWith({
      expect: () => expectation,
      admit: () => Promise.resolve({ admit: true, verification: expectation.verification }),
      learn: (_u, path) => {
        learnt.push(path);
        return Promise.resolve();
      },
    });
    const { cache, index, blobs } = gatedSetup(verifier);
    const upstream = new ScriptedUpstream(() => ok(Readable.from([body]), { 'content-length': String(body.length) }));
    const path = expectation.awaitAdmission === true ? '/dists/s/InRelease' : '/dists/s/main/binary-amd64/Packages';
    const lookup = cache.get(upstream, path, mutable);
    const read = lookup.then((l) => (l.kind === 'object' ? readAll(l.object) : Promise.reject(new Error('expected an object'))));
    assert.equal(await settlesSoon(read), false, `${path}: the last byte waits for the commit`);
    assert.equal(blobs.commitsStarted, 1);
    blobs.open();
    assert.deepEqual(await read, body);
    // By the time the client has the last byte, the entry exists and the verifier has learnt.
    assert.equal(index.get(`http://upstream.example${path}`)?.digest, sha(body));
    assert.equal(learnt.at(-1), path);
  }
});

test('a durable commit that fails after the release leaves the clients their verified bytes, stores nothing, and the next request fetches again', async () => {
  const payload = randomBytes(200_000);
  const verifier = verifierWith({ expect: () => ({ sha256: sha(payload), size: payload.length, verification: 'hash-verified' }) });
  const { cache, index, blobs } = setup(verifier);
  blobs.failNextCommit(new HoardError('HOARD_ERR_STORE_IO', 'fdatasync: input/output error'));
  const upstream = new ScriptedUpstream(() => ok(Readable.from([payload]), { 'content-length': String(payload.length) }));
  const l = await cache.get(upstream, '/pool/i.deb', immutable);
  if (l.kind !== 'object') throw new Error('expected an object');
  // One client reads it all at once; a slow one still reads after the commit has failed.
  const slow = l.object.stream(0, undefined);
  assert.equal(sha(await readStored(l.object)), sha(payload));
  assert.equal(sha(await collectStream(slow)), sha(payload));
  assert.equal(index.count(), 0);
  assert.deepEqual(await listBlobs(blobs), []);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(blobs.usedBytes, 0, 'the temporary bytes are given back once no client reads them');
  const again = await cache.get(upstream, '/pool/i.deb', immutable);
  if (again.kind !== 'object') throw new Error('expected an object');
  assert.equal(again.source, 'miss');
  assert.equal(sha(await readStored(again.object)), sha(payload));
  assert.equal(index.get('http://upstream.example/pool/i.deb')?.digest, sha(payload));
});

async function collectStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

// --- Bounds on a download (issue 15): size, the index's size, the rate floor. Nothing of an aborted download is stored. ---

/** Download events published while `work` runs. */
async function downloadEvents(work: () => Promise<void>): Promise<DownloadEvent[]> {
  const events: DownloadEvent[] = [];
  const listen = (e: unknown) => events.push(e as DownloadEvent);
  channels.download.subscribe(listen);
  try {
    await work();
  } finally {
    channels.download.unsubscribe(listen);
  }
  return events;
}

test('a Content-Length above maxObjectSize is refused before a writer is opened: every waiting client gets the error', async () => {
  const { cache, blobs, index } = setup(noVerifier, { maxObjectSize: 5_000_000 });
  let writers = 0;
  const createWriter = blobs.createWriter.bind(blobs);
  blobs.createWriter = () => {
    writers += 1;
    return createWriter();
  };
  const { stream } = endlessBody(64 * 1024);
  const upstream = new ScriptedUpstream(() => ok(stream, { 'content-length': String(10 ** 15) }));
  const results = await Promise.allSettled([cache.get(upstream, '/pool/huge.img', immutable), cache.get(upstream, '/pool/huge.img', immutable)]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    if (r.status === 'rejected') {
      assert.ok(r.reason instanceof HoardError && r.reason.code === 'HOARD_ERR_OBJECT_TOO_LARGE', String(r.reason));
      assert.match(r.reason.detail ?? '', /1000000000000000 bytes\) is larger than this cache accepts \(cache\.maxObjectSize, 5000000 bytes\)/);
    }
  }
  assert.equal(upstream.calls.length, 1);
  assert.equal(writers, 0, 'no temporary file was opened');
  assert.ok(stream.destroyed, 'the upstream connection is dropped');
  assert.equal(index.count(), 0);
  assert.deepEqual(upstream.failures, [], "an object too large for this cache is not the mirror's fault");
});

test('an endless body without Content-Length is abandoned at maxObjectSize after the client left; nothing is stored', async () => {
  const { cache, blobs, index } = setup(noVerifier, { maxObjectSize: 1_000_000 });
  const { stream, state } = endlessBody(64 * 1024);
  const upstream = new ScriptedUpstream(() => ok(stream));
  const events = await downloadEvents(async () => {
    const l = await cache.get(upstream, '/pool/endless.deb', immutable);
    if (l.kind !== 'object') throw new Error('expected an object');
    // The client reads a little, then hangs up: the download goes on without it, and must still stop.
    const client = l.object.stream(0, undefined);
    for await (const _chunk of client) break;
    await l.object.settled;
  });
  assert.equal(events.at(-1)?.phase, 'fail');
  assert.equal(events.at(-1)?.errorCode, 'HOARD_ERR_OBJECT_TOO_LARGE');
  assert.ok((events.at(-1)?.bytes ?? Infinity) <= 1_000_000);
  assert.ok(state.pulled < 40, `read ${state.pulled} chunks of 64 KiB`);
  assert.ok(stream.destroyed);
  assert.equal(index.count(), 0);
  assert.equal(blobs.usedBytes, 0, 'the temporary bytes are deleted');
  assert.deepEqual(upstream.failures, []);
});

test('a body without Content-Length longer than the index lists is abandoned at that size: a verification failure, the mirror blamed', async () => {
  const listed = randomBytes(100_000);
  const verifier: ContentVerifier = { ...noVerifier, expect: () => ({ sha256: sha(listed), size: listed.length, verification: 'hash-verified' }) };
  const { cache, blobs, index } = setup(verifier, { maxObjectSize: 1e9 });
  // The listed bytes, then more and more.
  const { stream: tail, state } = endlessBody(32 * 1024);
  const body = Readable.from(
    (async function* () {
      yield listed;
      for await (const chunk of tail) yield chunk as Buffer;
    })(),
  );
  const upstream = new ScriptedUpstream(() => ok(body));
  const failures: VerificationEvent[] = [];
  const listen = (e: unknown) => failures.push(e as VerificationEvent);
  channels.verification.subscribe(listen);
  try {
    const l = await cache.get(upstream, '/pool/padded.deb', immutable);
    if (l.kind !== 'object') throw new Error('expected an object');
    const got: Buffer[] = [];
    await assert.rejects(
      async () => {
        for await (const c of l.object.stream(0, undefined)) got.push(Buffer.from(c as Uint8Array));
      },
      (err: unknown) => err instanceof HoardError && err.code === 'HOARD_ERR_SIZE_MISMATCH' && /the 100000 the index lists/.test(err.message),
    );
    assert.ok(Buffer.concat(got).length < listed.length, 'no client gets a complete-looking body');
    await l.object.settled;
  } finally {
    channels.verification.unsubscribe(listen);
  }
  assert.ok(state.pulled < 10, `read ${state.pulled} chunks past the listed size`);
  assert.equal(failures[0]?.failure, 'size');
  assert.equal(upstream.failures.length, 1, 'the mirror goes to the back of the list');
  assert.equal(index.count(), 0);
  assert.equal(blobs.usedBytes, 0);
});

test('an upstream below the rate floor is abandoned: followers cut, nothing stored, the mirror reported', async () => {
  const { cache, clock, blobs, index } = setup(noVerifier, { rateFloor: { minBytesPerSecond: 1024, windowMs: 2000 }, rateCheckMs: 5 });
  const body = new PassThrough();
  const upstream = new ScriptedUpstream(() => ok(body, { 'content-length': '100000' }));
  const l = await cache.get(upstream, '/pool/trickle.deb', immutable);
  if (l.kind !== 'object') throw new Error('expected an object');
  const follower = readAll(l.object).then(
    () => undefined,
    (err: unknown) => err,
  );
  // One byte at a time, far below 1 KiB/s, each under any idle timeout.
  for (let i = 0; i < 5; i++) {
    body.write(Buffer.alloc(1));
    clock.advance(500);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const deadline = Date.now() + 2000;
  while (!(await settlesSoon(l.object.settled ?? Promise.resolve())) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const cut = await follower;
  assert.ok(cut instanceof HoardError && cut.code === 'HOARD_ERR_UPSTREAM_TOO_SLOW', String(cut));
  assert.ok(body.destroyed, 'the upstream connection is dropped');
  assert.equal(upstream.failures.length, 1);
  assert.match(upstream.failures[0] ?? '', /below upstream\.minBytesPerSecond \(1024\)/);
  assert.equal(index.count(), 0);
  assert.equal(blobs.usedBytes, 0);
});

// --- What a protocol's policy can say: forwarded headers, the query, the upstream's content type, its own max age, its verifier. ---

test('a policy forwards the headers its route picked and the query, never in the key', async () => {
  const { cache, index } = setup();
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('manifest')]), { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }));
  const policy: PathPolicy = {
    protocol: 'test',
    mutable: true,
    kind: 'manifest',
    contentType: 'application/octet-stream',
    contentTypeFromUpstream: true,
    forwardHeaders: ['accept'],
  };
  const lookup = await cache.get(upstream, '/v2/x/manifests/1', policy, {
    query: '?ns=registry.example',
    forward: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(lookup.kind, 'object');
  if (lookup.kind !== 'object') return;
  await readStored(lookup.object);
  assert.deepEqual(upstream.calls, [{ path: '/v2/x/manifests/1?ns=registry.example', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } }]);
  const entry = index.get('http://upstream.example/v2/x/manifests/1');
  assert.equal(entry?.contentType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(entry?.protocol, 'test');
  // The stored object keeps the upstream's type for every later client.
  const hit = await cache.get(upstream, '/v2/x/manifests/1', policy);
  assert.equal(hit.kind === 'object' ? hit.object.contentType : undefined, 'application/vnd.oci.image.manifest.v1+json');
});

test("without contentTypeFromUpstream the policy's type is served whatever the upstream says", async () => {
  const { cache } = setup();
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('<html>')]), { 'content-type': 'text/html' }));
  const lookup = await cache.get(upstream, '/pool/a.deb', immutable);
  assert.equal(lookup.kind === 'object' ? lookup.object.contentType : undefined, 'application/octet-stream');
  if (lookup.kind === 'object') await readStored(lookup.object);
});

test("a policy's own max age overrides the cache's default for mutable objects", async () => {
  const { cache, clock } = setup();
  let n = 0;
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from(`v${++n}`)])));
  const shortLived: PathPolicy = { ...mutable, maxAgeSeconds: 5 };
  const first = await cache.get(upstream, '/index', shortLived);
  if (first.kind === 'object') await readStored(first.object);
  clock.advance(6_000);
  // The default (30 s) would still serve the stored copy; the policy's 5 s sends the request upstream.
  const second = await cache.get(upstream, '/index', shortLived);
  if (second.kind === 'object') await readStored(second.object);
  assert.equal(upstream.calls.length, 2);
});

test("each policy's protocol picks its own verifier", async () => {
  const clock = new ManualClock();
  const blobs = new MemoryBlobStore();
  const index = new MemoryMetadataIndex();
  const good = Buffer.from('good bytes');
  const strictOne: ContentVerifier = { ...noVerifier, expect: () => ({ sha256: sha(Buffer.from('other')), size: good.length, verification: 'hash-verified' }) };
  const verifiers: Record<string, ContentVerifier> = { picky: strictOne, lax: noVerifier };
  const cache = new ReadThroughCache({
    blobs,
    index,
    clock,
    protocol: (name) => ({ verifier: verifiers[name] ?? noVerifier, classify: () => undefined }),
    logger: pino({ level: 'silent' }),
    indexMaxAgeSeconds: 30,
    notFoundTtlSeconds: 10,
  });
  const upstream = new ScriptedUpstream(() => ok(Readable.from([good]), { 'content-length': String(good.length) }));
  const lax = await cache.get(upstream, '/lax', { ...immutable, protocol: 'lax' });
  assert.ok(lax.kind === 'object');
  assert.deepEqual(await readStored(lax.object), good);
  const picky = await cache.get(upstream, '/picky', { ...immutable, protocol: 'picky' });
  assert.ok(picky.kind === 'object');
  await assert.rejects(readStored(picky.object));
  assert.equal(index.get('http://upstream.example/picky'), undefined);
  assert.equal(index.get('http://upstream.example/lax')?.protocol, 'lax');
});

test("a client whose store lookup yields while another's exchange ends joins that download: one upstream fetch", async () => {
  const payload = randomBytes(64 * 1024);
  const verifier: ContentVerifier = { ...noVerifier, expect: () => ({ sha256: sha(payload), verification: 'hash-verified' }) };
  const { cache, blobs } = setup(verifier);
  // The second client's stat is held until the first client's exchange has ended (its download running, its pending promise gone).
  let releaseStat: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (releaseStat = resolve));
  const stat = blobs.stat.bind(blobs);
  let stats = 0;
  blobs.stat = async (digest: string) => {
    stats += 1;
    if (stats === 2) await held;
    return stat(digest);
  };
  const body = new PassThrough();
  const upstream = new ScriptedUpstream(() => ok(body, { 'content-length': String(payload.length) }));
  const firstPending = cache.get(upstream, '/blobs/x', immutable);
  const secondPending = cache.get(upstream, '/blobs/x', immutable);
  const first = await firstPending;
  releaseStat();
  const second = await secondPending;
  body.end(payload);
  assert.equal(upstream.calls.length, 1);
  assert.equal(first.kind === 'object' && second.kind === 'object' && second.source, 'coalesced');
  assert.ok(first.kind === 'object' && (await readStored(first.object)).equals(payload));
});

test('a local miss of an immutable object another node stored is served from the shared store, without the upstream; a mutable one is not looked up', async () => {
  const blobs = new MemoryBlobStore();
  const clock = new ManualClock();
  const index = new MemoryMetadataIndex();
  const bytes = randomBytes(5000);
  const writer = await blobs.createWriter();
  await writer.write(bytes);
  const { digest } = await writer.commit();
  const asked: string[] = [];
  const upstream = new ScriptedUpstream(() => ok(Readable.from([Buffer.from('from upstream')])));
  const now = clock.now();
  // What a fleet's shared entries answer: another node's entry, taken into this node's index.
  const sharedEntries = {
    find: (key: string) => {
      asked.push(key);
      if (!key.endsWith('/pool/a.deb')) return Promise.resolve(undefined);
      const entry = {
        key,
        protocol: 'test',
        upstream: upstream.key,
        path: '/pool/a.deb',
        digest,
        size: bytes.length,
        storedAt: now,
        validatedAt: now,
        lastAccessAt: now,
        verification: 'unverified' as const,
      };
      index.put(entry);
      return Promise.resolve(entry);
    },
  };
  const cache = new ReadThroughCache({
    blobs,
    index,
    clock,
    protocol: () => ({ verifier: noVerifier, classify: () => undefined }),
    logger: pino({ level: 'silent' }),
    indexMaxAgeSeconds: 30,
    notFoundTtlSeconds: 10,
    sharedEntries,
  });
  const found = await cache.get(upstream, '/pool/a.deb', immutable);
  assert.equal(found.kind, 'object');
  if (found.kind !== 'object') return;
  assert.equal(found.source, 'hit');
  assert.ok((await readAll(found.object)).equals(bytes));
  assert.equal(upstream.calls.length, 0, 'the upstream is not asked');

  const other = await cache.get(upstream, '/pool/b.deb', immutable);
  assert.equal(other.kind === 'object' ? other.source : other.kind, 'miss', 'not in the shared store: fetched upstream');
  if (other.kind === 'object') await readAll(other.object);
  await cache.get(upstream, '/dists/x/InRelease', mutable);
  assert.deepEqual(asked, [`${upstream.key}/pool/a.deb`, `${upstream.key}/pool/b.deb`], 'a mutable file is never looked up in the shared store');
});
