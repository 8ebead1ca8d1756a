// The fleet end to end: three hoard nodes on one Swift bucket (s3api) behind Debian's haproxy; apt-get and skopeo through it; a node SIGKILLed mid-run; gc on one node.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { AptClient } from '../support/apt-client.ts';
import { runCommand } from '../support/command-runner.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { HaproxyFront } from '../support/haproxy-front.ts';
import { HoardProcess, repoRoot } from '../support/hoard-process.ts';
import { DockerRegistry, buildOciLayout, skopeo, type BuiltImage, pushLayout } from '../support/oci-registry.ts';
import { RegistryFront } from '../support/registry-front.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { SwiftObjectStore } from '../support/swift-object-store.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const bucket = 'hoard-fleet';
const prefix = 'fleet/';
const adminToken = 'fleet-admin-token-0123456789';
const packageNames = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a fleet of three hoard nodes on one bucket behind haproxy', () => {
  let swift: SwiftObjectStore;
  let s3: S3Client;
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let registry: DockerRegistry;
  let registryFront: RegistryFront;
  let image: BuiltImage;
  let work: string;
  const nodes: HoardProcess[] = [];
  let front: HaproxyFront;
  const clients: AptClient[] = [];
  let killed: number | undefined;

  /** Node ids that hold a reference to a blob, from the bucket. */
  const referrers = async (digest: string): Promise<string[]> => {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}v1/refs/${digest}/` }));
    return (out.Contents ?? []).map((c) => (c.Key ?? '').split('/').at(-1) ?? '').sort();
  };
  const blobInBucket = async (digest: string): Promise<boolean> => {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}v1/blobs/sha256/${digest.slice(0, 2)}/${digest}` }));
    return (out.KeyCount ?? 0) > 0;
  };
  const newClient = async (options: Record<string, string> = {}) => {
    const client = await AptClient.create({
      sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
      route: { kind: 'proxy', proxyUrl: front.url },
      options: { 'Acquire::Retries': '5', 'Acquire::http::Timeout': '20', ...options },
    });
    clients.push(client);
    return client;
  };
  const checkDebs = async (debs: readonly string[]) => {
    assert.equal(debs.length, packageNames.length, `all packages downloaded: ${debs.join(', ')}`);
    for (const name of packageNames) {
      const deb = debs.find((d) => basename(d).startsWith(`${name}_`));
      assert.ok(deb !== undefined, name);
      assert.equal(sha256(await readFile(deb)), repo.package(name).sha256, `${name} byte for byte`);
    }
  };

  before(async () => {
    work = await makeTempDir('fleet-e2e');
    // Each assigned as it starts, so that `after` stops whatever did start when another one failed.
    await Promise.all([
      SwiftObjectStore.start({ buckets: [bucket] }).then((started) => (swift = started)),
      SignedRepo.create({ packages: packageNames.map((name) => ({ name, version: '1.0', size: 1_500_000 })) }).then((created) => (repo = created)),
      DockerRegistry.start().then((started) => (registry = started)),
    ]);
    s3 = new S3Client(swift.clientConfig());
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    image = await buildOciLayout(join(work, 'app'), '1', 3 * 1024 * 1024);
    await pushLayout(registry, image.dir, 'team/app:1', work);
    registryFront = await RegistryFront.start(registry.url);
    for (let i = 1; i <= 3; i++) {
      nodes.push(
        await HoardProcess.start({
          config: {
            logLevel: 'info',
            node: { id: `node${i}` },
            admin: { token: adminToken },
            storage: {
              s3: {
                endpoint: swift.endpoint,
                bucket,
                region: swift.region,
                accessKeyId: swift.accessKeyId,
                secretAccessKey: swift.secretAccessKey,
                forcePathStyle: true,
                prefix,
                partSize: '5MiB',
                deleteGraceSeconds: 2,
                sweepIntervalSeconds: 3600,
                leaseSeconds: 30,
              },
            },
            oci: { registries: { lab: { url: registryFront.url } }, defaultRegistry: 'lab' },
          },
        }),
      );
    }
    front = await HaproxyFront.start({ servers: nodes.map((n) => `${n.host}:${n.port}`), checkIntervalMs: 500 });
  });

  after(async () => {
    for (const client of clients) await client.cleanup();
    await front?.stop();
    for (const node of nodes) await node.cleanup();
    await registryFront?.stop();
    await registry?.stop();
    await upstream?.close();
    await repo?.cleanup();
    s3?.destroy();
    await swift?.stop();
    if (work !== undefined) await removeDir(work);
  });

  test('apt-get clients and a skopeo pull through haproxy: every object is fetched upstream once across the fleet, and lands in the bucket', async () => {
    const first = await Promise.all([newClient(), newClient(), newClient()]);
    for (const client of first) {
      const updated = await client.update();
      assert.equal(updated.exitCode, 0, updated.stderr);
    }
    const downloads = await Promise.all(first.map((client) => client.download(packageNames)));
    for (const got of downloads) {
      assert.equal(got.exitCode, 0, got.stderr);
      await checkDebs(got.debs);
    }
    for (const name of packageNames) assert.equal(upstream.hits(repo.package(name).poolPath), 1, `${name} fetched upstream once`);

    const host = front.url.slice('http://'.length);
    const pulled = await skopeo(
      ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/team/app:1`, `oci:${join(work, 'pulled')}:1`],
      work,
    );
    assert.equal(pulled.exitCode, 0, pulled.stderr);
    for (const digest of [...image.layers, image.configDigest]) {
      assert.equal(sha256(await readFile(join(work, 'pulled', 'blobs', 'sha256', digest.slice('sha256:'.length)))), digest.slice('sha256:'.length));
    }

    await Promise.all(nodes.map((n) => n.waitForDownloadsSettled(30_000)));
    await sleep(500);
    // Spread over the nodes by URI, each object stored once, in the bucket, referred to by the node that fetched it.
    const owners = new Set<string>();
    for (const name of packageNames) {
      const digest = repo.package(name).sha256;
      assert.ok(await blobInBucket(digest), `${name} in the bucket`);
      const refs = await referrers(digest);
      assert.equal(refs.length, 1, `${name}: one node refers to it (${refs.join(', ')})`);
      owners.add(refs[0] ?? '');
    }
    assert.ok(owners.size >= 2, `balance uri spreads the packages over the nodes (${[...owners].join(', ')})`);
    for (const digest of image.layers) assert.ok(await blobInBucket(digest.slice('sha256:'.length)), `layer ${digest} in the bucket`);
    for (const digest of [...image.layers, image.configDigest]) {
      assert.equal(registryFront.requests.filter((r) => r.method === 'GET' && r.path.endsWith(digest)).length, 1, `${digest} fetched upstream once`);
    }
  });

  test('a node SIGKILLed while clients download: no client fails, nothing is fetched upstream again, the others serve its objects from the bucket', async () => {
    // apt fetches in name order over one connection: at 300 KB/s the first package (1.5 MB) takes about 5 s,
    // so the node serving it dies 2.5 s in, in the middle of its body.
    const owner = new Map<string, string>();
    for (const name of packageNames) owner.set(name, (await referrers(repo.package(name).sha256))[0] ?? '');
    const victimId = owner.get(packageNames[0] ?? '') ?? 'node1';
    killed = Number(victimId.slice('node'.length)) - 1;
    const victim = nodes[killed] as HoardProcess;
    const itsPackages = packageNames.filter((name) => owner.get(name) === victimId);
    const before = new Map(packageNames.map((name) => [name, upstream.hits(repo.package(name).poolPath)]));

    const second = await Promise.all([newClient({ 'Acquire::http::Dl-Limit': '300' }), newClient({ 'Acquire::http::Dl-Limit': '300' })]);
    for (const client of second) assert.equal((await client.update()).exitCode, 0);
    const running = second.map((client) => client.download(packageNames));
    await sleep(2500);
    await victim.kill9();
    const results = await Promise.all(running);
    for (const [i, got] of results.entries()) {
      assert.equal(got.exitCode, 0, `client ${i}: ${got.stderr}`);
      await checkDebs(got.debs);
    }
    // And a client that starts after the death: everything, every package of the dead node from the others.
    const third = await newClient();
    assert.equal((await third.update()).exitCode, 0);
    const late = await third.download(packageNames);
    assert.equal(late.exitCode, 0, late.stderr);
    await checkDebs(late.debs);
    for (const name of packageNames) {
      assert.equal(upstream.hits(repo.package(name).poolPath), before.get(name), `${name} not fetched upstream again`);
    }
    // The survivors took the dead node's packages into their own index (from the bucket): they refer to them now too.
    for (const name of itsPackages) {
      const refs = await referrers(repo.package(name).sha256);
      assert.ok(refs.includes(victimId) && refs.length > 1, `${name} of ${victimId} is now served by another node too (${refs.join(', ')})`);
    }
    assert.match(front.output(), new RegExp(`node${killed + 1} is DOWN`), 'haproxy saw the node go');
  });

  test('hoard gc on one node deletes nothing another node refers to, and what nobody refers to once the grace period is over', async () => {
    // The survivor that took over most of the dead node's packages: it shares those with the dead node's references.
    const refsOf = new Map<string, string[]>();
    for (const name of packageNames) refsOf.set(repo.package(name).sha256, await referrers(repo.package(name).sha256));
    const alive = nodes.filter((_, i) => i !== killed);
    const sharing = (node: HoardProcess) => [...refsOf.values()].filter((refs) => refs.length > 1 && refs.includes(`node${nodes.indexOf(node) + 1}`)).length;
    const gcNode = [...alive].sort((a, b) => sharing(b) - sharing(a))[0] as HoardProcess;
    const gcId = `node${nodes.indexOf(gcNode) + 1}`;
    // What gcNode refers to: shared with another node, or its alone.
    const shared: string[] = [];
    const alone: string[] = [];
    for (const [digest, refs] of refsOf) {
      if (!refs.includes(gcId)) continue;
      (refs.length > 1 ? shared : alone).push(digest);
    }
    assert.ok(shared.length > 0, `${gcId} shares at least one object with another node`);
    // The store's own eviction path drops the entries (as cache.maxSize or an admin would); gc then sweeps.
    const evict = async (digest: string) => {
      const res = await fetch(`${gcNode.url}/_hoard/actions/evict`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ target: digest }),
      });
      assert.equal(res.status, 200, await res.text());
    };
    for (const digest of [...shared, ...alone]) await evict(digest);
    await sleep(3500);
    const gc = await runCommand(process.execPath, [join(repoRoot, 'src', 'main.ts'), 'gc', '--config', gcNode.configPath ?? '', '--url', gcNode.url], {
      cwd: repoRoot,
      timeoutMs: 60_000,
    });
    assert.equal(gc.exitCode, 0, gc.stderr + gc.stdout);
    assert.match(gc.stdout, new RegExp(`^bucket: deleted ${alone.length} blobs no node refers to; ${shared.length} kept`, 'm'), gc.stdout);
    for (const digest of shared) {
      assert.ok(await blobInBucket(digest), `${digest}: another node refers to it, still in the bucket`);
      assert.ok(!(await referrers(digest)).includes(gcId));
    }
    for (const digest of alone) assert.equal(await blobInBucket(digest), false, `${digest}: nobody refers to it, deleted after the grace period`);
    // Clients still get every package, nothing upstream: the shared ones from the bucket, the deleted ones fetched again.
    const after = await newClient();
    assert.equal((await after.update()).exitCode, 0);
    const got = await after.download(packageNames);
    assert.equal(got.exitCode, 0, got.stderr);
    await checkDebs(got.debs);
    for (const name of packageNames) {
      const expected = alone.includes(repo.package(name).sha256) ? 2 : 1;
      assert.equal(upstream.hits(repo.package(name).poolPath), expected, `${name} fetched upstream ${expected} times in all`);
    }
  });
});
