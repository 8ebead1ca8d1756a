// Tests of StagedBlobWriter against a recording staging: what it hands a store and in what order (the BlobWriter contract itself runs per store).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { HoardError, isHoardError } from '../errors.ts';
import type { BlobInfo } from './blob-store.ts';
import { StagedBlobWriter } from './staged-blob-writer.ts';
import type { BlobStaging } from './staged-blob-writer.ts';

/** Keeps what it is given and records every call; `failure` and `publishError` are set by the tests. */
class RecordingStaging implements BlobStaging {
  readonly calls: string[] = [];
  readonly chunks: Uint8Array[] = [];
  failure: HoardError | undefined;
  publishError: HoardError | undefined;
  published: BlobInfo | undefined;

  append(chunk: Uint8Array): Promise<void> | undefined {
    this.calls.push('append');
    this.chunks.push(chunk);
    return undefined;
  }

  read(position: number, length: number): Promise<Uint8Array> {
    this.calls.push(`read ${position} ${length}`);
    return Promise.resolve(Buffer.concat(this.chunks).subarray(position, position + length));
  }

  drain(): Promise<void> {
    this.calls.push('drain');
    return Promise.resolve();
  }

  publish(info: BlobInfo): Promise<void> {
    this.calls.push('publish');
    if (this.publishError !== undefined) return Promise.reject(this.publishError);
    this.published = info;
    return Promise.resolve();
  }

  discard(): Promise<void> {
    this.calls.push('discard');
    return Promise.resolve();
  }
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

void describe('StagedBlobWriter', () => {
  void it('hands each chunk to the staging as it is (no copy), counts and hashes it, and publishes only after drain', async () => {
    const staging = new RecordingStaging();
    const writer = new StagedBlobWriter(staging);
    const a = Buffer.from('hello ');
    const b = new Uint8Array(Buffer.from('world'));
    await writer.write(a);
    await writer.write(new Uint8Array(0));
    await writer.write(b);
    assert.equal(staging.chunks[0], a, 'the very buffer, not a copy');
    assert.equal(staging.chunks[1], b, 'an empty chunk is not handed on');
    assert.equal(writer.written, 11);
    const info = await writer.commit({ size: 11, sha256: sha256(Buffer.from('hello world')) });
    assert.deepEqual(info, { digest: sha256(Buffer.from('hello world')), size: 11 });
    assert.deepEqual(staging.calls, ['append', 'append', 'drain', 'publish']);
    assert.deepEqual(staging.published, info);
    await writer.abort();
    assert.ok(!staging.calls.includes('discard'), "a committed blob is not the writer's to discard");
  });

  void it('offers peekAt only when the staging does', () => {
    assert.equal(new StagedBlobWriter(new RecordingStaging()).peekAt, undefined);
    const peeking = Object.assign(new RecordingStaging(), { peekAt: () => Buffer.from('x') });
    const writer = new StagedBlobWriter(peeking);
    assert.deepEqual(writer.peekAt?.(0, 1), Buffer.from('x'));
    assert.equal(writer.peekAt?.(0, 0), undefined, 'nothing for a zero length');
  });

  void it('reads through the staging only within what was written', async () => {
    const staging = new RecordingStaging();
    const writer = new StagedBlobWriter(staging);
    await writer.write(Buffer.from('abcdef'));
    assert.deepEqual(Buffer.from(await writer.readAt(2, 100)), Buffer.from('cdef'));
    assert.equal((await writer.readAt(6, 10)).length, 0);
    assert.deepEqual(staging.calls, ['append', 'read 2 4']);
  });

  void it('a failed check discards once: never published, abort after it discards nothing more', async () => {
    const staging = new RecordingStaging();
    const writer = new StagedBlobWriter(staging);
    await writer.write(Buffer.from('abc'));
    await assert.rejects(writer.commit({ size: 4 }), (err) => isHoardError(err, 'HOARD_ERR_SIZE_MISMATCH'));
    await assert.rejects(writer.seal(), (err) => isHoardError(err, 'HOARD_ERR_SIZE_MISMATCH'));
    await writer.abort();
    await writer.abort();
    assert.deepEqual(staging.calls, ['append', 'discard']);
    await assert.rejects(writer.readAt(0, 1), (err) => isHoardError(err, 'HOARD_ERR_STORE_IO'));
  });

  void it("refuses a chunk the staging refuses, and reports the staging's failure at commit; abort then discards", async () => {
    const staging = new RecordingStaging();
    const writer = new StagedBlobWriter(staging);
    await writer.write(Buffer.from('abc'));
    staging.failure = new HoardError('HOARD_ERR_STORE_FULL', 'disk full');
    await assert.rejects(writer.write(Buffer.from('d')), (err) => isHoardError(err, 'HOARD_ERR_STORE_FULL'));
    assert.equal(writer.written, 3);
    await assert.rejects(writer.commit(), (err) => isHoardError(err, 'HOARD_ERR_STORE_FULL'));
    assert.ok(!staging.calls.includes('publish'));
    assert.deepEqual(Buffer.from(await writer.readAt(0, 3)), Buffer.from('abc'), 'stranded bytes stay readable');
    await writer.abort();
    assert.equal(staging.calls.filter((c) => c === 'discard').length, 1);
  });

  void it('maps a publish failure to a store error and keeps the bytes until abort', async () => {
    const staging = new RecordingStaging();
    staging.publishError = new HoardError('HOARD_ERR_STORE_IO', 'fsync failed');
    const writer = new StagedBlobWriter(staging);
    await writer.write(Buffer.from('abc'));
    const commit = writer.commit();
    const abort = writer.abort();
    await assert.rejects(commit, (err) => isHoardError(err, 'HOARD_ERR_STORE_IO'));
    await abort;
    assert.deepEqual(staging.calls, ['append', 'drain', 'publish', 'discard'], 'an abort during a commit waits for it');
  });
});
