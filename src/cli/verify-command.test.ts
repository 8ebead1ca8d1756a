// Tests of `hoard verify` over a real FsBlobStore: flipped bytes are found, quarantined and their entries dropped.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FsBlobStore } from '../storage/fs-blob-store.ts';
import { MemoryMetadataIndex } from '../storage/memory-metadata-index.ts';
import type { ObjectEntry } from '../storage/metadata-index.ts';
import { formatVerifyReport, verifyStore } from './verify-command.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('verify finds a flipped byte, quarantines the blob, drops its entries, and reports missing blobs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hoard-verify-'));
  try {
    const blobs = new FsBlobStore(root);
    await blobs.init();
    const index = new MemoryMetadataIndex();
    const entry = (key: string, bytes: Buffer): ObjectEntry => ({
      key,
      protocol: 'apt',
      upstream: 'http://u',
      path: key.slice('http://u'.length),
      digest: sha(bytes),
      size: bytes.length,
      storedAt: 0,
      validatedAt: 0,
      lastAccessAt: 0,
      verification: 'hash-verified',
    });
    const good = Buffer.from('intact bytes');
    const rotten = Buffer.from('bytes about to rot');
    for (const bytes of [good, rotten]) {
      const writer = await blobs.createWriter();
      await writer.write(bytes);
      await writer.commit();
    }
    index.put(entry('http://u/pool/good.deb', good));
    index.put(entry('http://u/pool/rotten.deb', rotten));
    index.put(entry('http://u/dists/s/by-hash/SHA256/x', rotten));
    index.put(entry('http://u/pool/gone.deb', Buffer.from('never stored')));

    const file = join(root, 'blobs/sha256', sha(rotten).slice(0, 2), sha(rotten));
    const bytes = await readFile(file);
    bytes[3] = (bytes[3] ?? 0) ^ 0x01;
    await writeFile(file, bytes);

    const report = await verifyStore(blobs, index);
    assert.equal(report.checkedBlobs, 2);
    assert.deepEqual(
      report.damaged.map((d) => [d.digest, [...d.keys].sort()]),
      [[sha(rotten), ['http://u/dists/s/by-hash/SHA256/x', 'http://u/pool/rotten.deb']]],
    );
    assert.deepEqual(report.missing, ['http://u/pool/gone.deb']);
    assert.deepEqual(
      [...index.all()].map((e) => e.key),
      ['http://u/pool/good.deb'],
    );
    await access(join(root, 'quarantine', sha(rotten)));
    assert.equal(await blobs.stat(sha(rotten)), undefined);
    assert.match(formatVerifyReport(report), new RegExp(`DAMAGED ${sha(rotten)}[\\s\\S]*1 damaged, 1 missing\\n$`));

    const again = await verifyStore(blobs, index);
    assert.equal(again.damaged.length + again.missing.length, 0);
    assert.match(formatVerifyReport(again), /all objects intact/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
