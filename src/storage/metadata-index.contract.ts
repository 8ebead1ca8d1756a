// The MetadataIndex contract suite: every MetadataIndex implementation runs it from its own test file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { MetadataIndex, ObjectEntry } from './metadata-index.ts';

export function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A complete entry for `path` on a test upstream; `overrides` replace any field. */
export function sampleEntry(path: string, overrides: Partial<ObjectEntry> = {}): ObjectEntry {
  const upstream = overrides.upstream ?? 'http://mirror.example:80';
  return {
    key: `${upstream}${path}`,
    protocol: 'apt',
    upstream,
    path,
    digest: digestOf(path),
    size: path.length * 100,
    lastModified: 'Sat, 01 Mar 2025 10:00:00 GMT',
    upstreamEtag: '"abc-123"',
    contentType: 'application/vnd.debian.binary-package',
    storedAt: 1_740_000_000_000,
    validatedAt: 1_740_000_000_000,
    lastAccessAt: 1_740_000_000_000,
    verification: 'hash-verified',
    ...overrides,
  };
}

/** An entry without any of the optional fields. */
export function bareEntry(path: string, overrides: Partial<ObjectEntry> = {}): ObjectEntry {
  const { lastModified: _l, upstreamEtag: _e, contentType: _c, ...bare } = sampleEntry(path, overrides);
  return bare;
}

function keys(entries: Iterable<ObjectEntry>): string[] {
  return [...entries].map((entry) => entry.key).sort();
}

export function metadataIndexContract(name: string, makeIndex: () => MetadataIndex | Promise<MetadataIndex>): void {
  void describe(`MetadataIndex contract: ${name}`, () => {
    void it('puts and gets entries, with and without optional fields', async () => {
      const index = await makeIndex();
      const full = sampleEntry('/debian/pool/main/h/hello/hello_2.10-3_amd64.deb', { verification: 'authenticated' });
      const bare = bareEntry('/debian/dists/bookworm/InRelease', { verification: 'unverified' });
      index.put(full);
      index.put(bare);
      assert.deepEqual(index.get(full.key), full);
      assert.deepEqual(index.get(bare.key), bare);
      assert.equal(index.get('http://mirror.example:80/nope'), undefined);
      assert.equal(index.count(), 2);
      index.close();
    });

    void it('keeps the protocol each entry was stored by', async () => {
      const index = await makeIndex();
      const oci = sampleEntry('/v2/library/debian/blobs/sha256:aa', { protocol: 'oci', upstream: 'registry:docker.io' });
      index.put(oci);
      index.put(sampleEntry('/debian/pool/main/a.deb'));
      assert.equal(index.get(oci.key)?.protocol, 'oci');
      assert.deepEqual([...index.all()].map((e) => e.protocol).sort(), ['apt', 'oci']);
      index.close();
    });

    void it('drops optional fields given as undefined', async () => {
      const index = await makeIndex();
      const entry = { ...bareEntry('/a'), lastModified: undefined, upstreamEtag: undefined, contentType: undefined };
      index.put(entry);
      assert.deepEqual(index.get(entry.key), bareEntry('/a'));
      index.close();
    });

    void it('keeps its own copy of a put entry', async () => {
      const index = await makeIndex();
      const entry = sampleEntry('/copy');
      const mutable = { ...entry };
      index.put(mutable);
      mutable.size = 1;
      assert.deepEqual(index.get(entry.key), entry);
      index.close();
    });

    void it('replaces the entry of a key put again, moving it between digests', async () => {
      const index = await makeIndex();
      const first = sampleEntry('/dists/stable/Release');
      const second = sampleEntry('/dists/stable/Release', { digest: digestOf('newer'), size: 42, storedAt: 2 });
      index.put(first);
      index.put(second);
      assert.deepEqual(index.get(first.key), second);
      assert.equal(index.count(), 1);
      assert.deepEqual(index.byDigest(first.digest), []);
      assert.deepEqual(index.byDigest(second.digest), [second]);
      index.close();
    });

    void it('deletes entries; deleting a missing key is no error', async () => {
      const index = await makeIndex();
      const a = sampleEntry('/a');
      const b = sampleEntry('/b');
      index.put(a);
      index.put(b);
      index.delete(a.key);
      index.delete(a.key);
      index.delete('http://nowhere:80/x');
      assert.equal(index.get(a.key), undefined);
      assert.deepEqual(index.get(b.key), b);
      assert.equal(index.count(), 1);
      assert.deepEqual(index.byDigest(a.digest), []);
      index.close();
    });

    void it('records an access with touch without changing an entry already handed out', async () => {
      const index = await makeIndex();
      const entry = sampleEntry('/touched');
      index.put(entry);
      const before = index.get(entry.key);
      index.touch(entry.key, entry.lastAccessAt + 5000);
      assert.deepEqual(index.get(entry.key), { ...entry, lastAccessAt: entry.lastAccessAt + 5000 });
      assert.deepEqual(before, entry);
      index.touch('http://mirror.example:80/never-put', 1);
      assert.equal(index.get('http://mirror.example:80/never-put'), undefined);
      assert.equal(index.count(), 1);
      index.close();
    });

    void it('records a revalidation with markValidated', async () => {
      const index = await makeIndex();
      const entry = sampleEntry('/dists/stable/InRelease');
      index.put(entry);
      index.markValidated(entry.key, entry.validatedAt + 60_000);
      assert.deepEqual(index.get(entry.key), { ...entry, validatedAt: entry.validatedAt + 60_000 });
      index.markValidated('http://mirror.example:80/never-put', 1);
      assert.equal(index.count(), 1);
      index.close();
    });

    void it('lists all entries, and tolerates deletes while listing', async () => {
      const index = await makeIndex();
      const entries = Array.from({ length: 50 }, (_, i) => sampleEntry(`/pool/${i}.deb`));
      for (const entry of entries) index.put(entry);
      assert.deepEqual(keys(index.all()), keys(entries));
      let seen = 0;
      for (const entry of index.all()) {
        seen += 1;
        index.delete(entry.key);
      }
      assert.equal(seen, 50);
      assert.equal(index.count(), 0);
      assert.deepEqual([...index.all()], []);
      index.close();
    });

    void it('finds every entry pointing at a digest', async () => {
      const index = await makeIndex();
      const digest = digestOf('shared');
      const a = sampleEntry('/a.deb', { digest });
      const b = sampleEntry('/b.deb', { digest, upstream: 'https://mirror.example:443' });
      const c = sampleEntry('/c.deb');
      for (const entry of [a, b, c]) index.put(entry);
      assert.deepEqual(keys(index.byDigest(digest)), keys([a, b]));
      assert.deepEqual(index.byDigest(digestOf('nothing')), []);
      index.touch(a.key, 99);
      assert.equal(index.byDigest(digest).find((entry) => entry.key === a.key)?.lastAccessAt, 99);
      index.delete(b.key);
      assert.deepEqual(keys(index.byDigest(digest)), [a.key]);
      index.close();
    });

    void it('skips entries deleted while listing, before their turn came', async () => {
      const index = await makeIndex();
      const entries = Array.from({ length: 1200 }, (_, i) => sampleEntry(`/pool/${String(i).padStart(4, '0')}.deb`));
      for (const entry of entries) index.put(entry);
      const seen: string[] = [];
      for (const entry of index.all()) {
        seen.push(entry.key);
        // Deletes every entry after the first one visited: none of them may be visited.
        if (seen.length === 1) for (const other of entries) if (other.key !== entry.key) index.delete(other.key);
      }
      assert.equal(seen.length, 1);
      assert.equal(index.count(), 1);
      index.close();
    });

    void it('keeps totals of entries, distinct blobs and their bytes as entries come and go', async () => {
      const index = await makeIndex();
      assert.deepEqual(index.totals(), { entries: 0, blobs: 0, bytes: 0 });
      const shared = digestOf('shared');
      index.put(sampleEntry('/a', { digest: shared, size: 100 }));
      index.put(sampleEntry('/b', { digest: shared, size: 100 }));
      index.put(sampleEntry('/c', { size: 7 }));
      assert.deepEqual(index.totals(), { entries: 3, blobs: 2, bytes: 107 });
      assert.equal(index.count(), 3);
      // Moving a key to other bytes moves it between blobs.
      index.put(sampleEntry('/a', { digest: digestOf('other'), size: 50 }));
      assert.deepEqual(index.totals(), { entries: 3, blobs: 3, bytes: 157 });
      index.delete(sampleEntry('/b').key);
      assert.deepEqual(index.totals(), { entries: 2, blobs: 2, bytes: 57 });
      index.touch(sampleEntry('/c').key, 5);
      index.markValidated(sampleEntry('/c').key, 5);
      assert.deepEqual(index.totals(), { entries: 2, blobs: 2, bytes: 57 });
      index.delete(sampleEntry('/a').key);
      index.delete(sampleEntry('/c').key);
      assert.deepEqual(index.totals(), { entries: 0, blobs: 0, bytes: 0 });
      index.close();
    });

    void it('pages through blobs least recently accessed first, one row per blob, deletes between pages safe', async () => {
      const index = await makeIndex();
      const shared = digestOf('shared');
      index.put(sampleEntry('/old', { lastAccessAt: 10, size: 1 }));
      index.put(sampleEntry('/s1', { digest: shared, lastAccessAt: 20, size: 2 }));
      index.put(sampleEntry('/s2', { digest: shared, lastAccessAt: 50, size: 2 }));
      index.put(sampleEntry('/mid', { lastAccessAt: 30, size: 3 }));
      index.put(sampleEntry('/new', { lastAccessAt: 40, size: 4 }));
      // A touch counts at once, written or not.
      index.touch(sampleEntry('/new').key, 60);
      const first = index.blobsByAccess(undefined, 2);
      assert.deepEqual(first, [
        { digest: digestOf('/old'), size: 1, lastAccessAt: 10 },
        { digest: digestOf('/mid'), size: 3, lastAccessAt: 30 },
      ]);
      index.delete(sampleEntry('/mid').key);
      const rest = index.blobsByAccess(first[1], 10);
      assert.deepEqual(rest, [
        { digest: shared, size: 2, lastAccessAt: 50 },
        { digest: digestOf('/new'), size: 4, lastAccessAt: 60 },
      ]);
      assert.deepEqual(index.blobsByAccess(rest[1], 10), []);
      index.close();
    });

    void it('finds entries by path ending, path part and protocol', async () => {
      const index = await makeIndex();
      index.put(sampleEntry('/debian/dists/stable/InRelease'));
      index.put(sampleEntry('/debian/dists/stable/Release'));
      index.put(sampleEntry('/debian/dists/stable/Release.gpg'));
      index.put(sampleEntry('/debian/dists/stable/inrelease'));
      index.put(sampleEntry('/v2/library/debian/manifests/latest', { protocol: 'oci' }));
      index.put(sampleEntry('/v2/library/debian/blobs/sha256:aa', { protocol: 'oci' }));
      const paths = (entries: ObjectEntry[]) => entries.map((e) => e.path).sort();
      assert.deepEqual(paths(index.findByPath({ pathEndsWith: ['/InRelease', '/Release'] })), [
        '/debian/dists/stable/InRelease',
        '/debian/dists/stable/Release',
      ]);
      assert.deepEqual(paths(index.findByPath({ protocol: 'oci', pathContains: '/manifests/' })), ['/v2/library/debian/manifests/latest']);
      assert.deepEqual(paths(index.findByPath({ protocol: 'apt', pathContains: '/manifests/' })), []);
      assert.equal(index.findByPath({ protocol: 'oci' }).length, 2);
      assert.deepEqual(index.findByPath({ pathEndsWith: ['/InRelease'] })[0], sampleEntry('/debian/dists/stable/InRelease'));
      index.close();
    });

    void it('closes twice without complaint', async () => {
      const index = await makeIndex();
      index.put(sampleEntry('/x'));
      index.touch(sampleEntry('/x').key, 5);
      index.close();
      index.close();
    });
  });
}
