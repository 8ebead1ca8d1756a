// What cached manifests refer to: blobs named by a stored manifest are referenced, others are not, manifests are left to LRU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../storage/blob-store.ts';
import type { MetadataIndex, ObjectEntry, PathQuery } from '../../storage/metadata-index.ts';
import { OciReferences, manifestReferences } from './oci-references.ts';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

test('manifestReferences reads config, layers, manifests and blobs; only sha256 digests', () => {
  const [a, b, c] = [hex('a'), hex('b'), hex('c')];
  assert.deepEqual(manifestReferences(JSON.stringify({ config: { digest: `sha256:${a}` }, layers: [{ digest: `sha256:${b}` }, { digest: 'sha512:x' }] })), [
    a,
    b,
  ]);
  assert.deepEqual(manifestReferences(JSON.stringify({ manifests: [{ digest: `sha256:${c}` }] })), [c]);
  for (const bad of ['', 'null', '[]', '{"layers":"x"}', '{"config":{"digest":5}}']) assert.deepEqual(manifestReferences(bad), [], bad);
});

test('a blob is referenced while a stored manifest names it; tags and unnamed manifests are left to LRU', async () => {
  const layer = hex('layer');
  const stray = hex('stray');
  const manifestText = JSON.stringify({ schemaVersion: 2, config: { digest: `sha256:${hex('config')}` }, layers: [{ digest: `sha256:${layer}` }] });
  const manifest = hex(manifestText);
  const entries: ObjectEntry[] = [];
  const entry = (path: string, digest: string): ObjectEntry => ({
    key: `oci:lab${path}`,
    protocol: 'oci',
    upstream: 'oci:lab',
    path,
    digest,
    size: 1,
    lastModified: undefined,
    upstreamEtag: undefined,
    contentType: 'x',
    storedAt: 0,
    validatedAt: 0,
    lastAccessAt: 0,
    verification: 'unverified',
  });
  const tagEntry = entry('/v2/team/app/manifests/1', manifest);
  entries.push(tagEntry);
  const index = {
    findByPath: (query: PathQuery) =>
      entries.filter((e) => (query.protocol === undefined || e.protocol === query.protocol) && e.path.includes(query.pathContains ?? '')),
    byDigest: (d: string) => entries.filter((e) => e.digest === d),
  } as unknown as MetadataIndex;
  const blobs = {
    stat: (d: string) => Promise.resolve(d === manifest ? { digest: d, size: manifestText.length } : undefined),
    createReadStream: () => Readable.from([Buffer.from(manifestText)]),
  } as unknown as BlobStore;
  const references = new OciReferences(blobs, index);
  await references.start();
  assert.equal(references.isReferenced(entry(`/v2/team/app/blobs/sha256:${layer}`, layer)), true);
  assert.equal(references.isReferenced(entry(`/v2/team/app/blobs/sha256:${stray}`, stray)), false);
  assert.equal(references.isReferenced(tagEntry), undefined);
  assert.equal(references.isReferenced({ ...tagEntry, protocol: 'apt' }), undefined);
  // The manifest leaves the store: its layer is no longer referenced.
  entries.length = 0;
  assert.equal(references.isReferenced(entry(`/v2/team/app/blobs/sha256:${layer}`, layer)), false);
});
