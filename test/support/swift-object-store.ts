// OpenStack Swift from Debian (proxy, account, container, object servers and memcached) with its S3 API, in a temp dir on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from './command-runner.ts';
import { findFreePort } from './hoard-process.ts';
import { loopbackOnlyEnv } from './oci-registry.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

/**
 * The S3 identity tempauth gives the throwaway account: s3api takes `<account>:<user>` as the access
 * key and the tempauth password as the secret.
 */
const account = 'hoard';
const user = 'tester';
const password = 'throwaway-s3-secret';

export interface SwiftObjectStoreOptions {
  /** Buckets created once the store answers. */
  readonly buckets?: readonly string[];
}

type Server = 'account' | 'container' | 'object';
const servers: readonly Server[] = ['account', 'container', 'object'];

/**
 * One Swift "cluster" of one device per ring (partition power 6, one replica), rings built with
 * swift-ring-builder and every config written here (the sample configs under /etc/swift are not read:
 * `swift_dir` points each server at this directory). Each daemon is stopped by its own PID.
 */
export class SwiftObjectStore {
  /** `http://127.0.0.1:PORT`: the S3 endpoint (path style). */
  readonly endpoint: string;
  readonly region = 'us-east-1';
  readonly accessKeyId = `${account}:${user}`;
  readonly secretAccessKey = password;
  readonly #dir: string;
  readonly #children: ChildProcess[] = [];
  readonly #logs: string[] = [];

  private constructor(dir: string, endpoint: string) {
    this.#dir = dir;
    this.endpoint = endpoint;
  }

  /** Takes a few seconds here (the Python servers load eventlet and paste); start it once per suite. */
  static async start(options: SwiftObjectStoreOptions = {}): Promise<SwiftObjectStore> {
    const dir = await makeTempDir('swift');
    await requireXattrs(dir);
    const [proxyPort, accountPort, containerPort, objectPort, memcachedPort] = (await distinctFreePorts(5)) as [number, number, number, number, number];
    const ports: Record<Server, number> = { account: accountPort, container: containerPort, object: objectPort };
    const store = new SwiftObjectStore(dir, `http://127.0.0.1:${proxyPort}`);
    try {
      await mkdir(join(dir, 'devices', 'd1'), { recursive: true });
      await writeFile(
        join(dir, 'swift.conf'),
        `[swift-hash]\nswift_hash_path_suffix = hoard-test\nswift_hash_path_prefix = hoard-test\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n\n[swift-constraints]\n`,
      );
      for (const server of servers) {
        const builder = join(dir, `${server}.builder`);
        // Partition power 6, 1 replica, min_part_hours 0: the smallest ring that rebalances at once.
        await runChecked('swift-ring-builder', [builder, 'create', '6', '1', '0'], { env: loopbackOnlyEnv });
        await runChecked('swift-ring-builder', [builder, 'add', `r1z1-127.0.0.1:${ports[server]}/d1`, '1'], { env: loopbackOnlyEnv });
        await runChecked('swift-ring-builder', [builder, 'rebalance'], { env: loopbackOnlyEnv });
        await writeFile(join(dir, `${server}-server.conf`), storageServerConf(server, ports[server], dir));
      }
      await writeFile(join(dir, 'proxy-server.conf'), proxyServerConf(proxyPort, memcachedPort, dir));

      // memcached refuses to run as root unless told whom to become.
      const asUser = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
      store.#spawn('memcached', ['-l', '127.0.0.1', '-p', String(memcachedPort), '-U', '0', '-m', '16', ...asUser]);
      for (const server of servers) store.#spawn(`swift-${server}-server`, [join(dir, `${server}-server.conf`)]);
      store.#spawn('swift-proxy-server', [join(dir, 'proxy-server.conf')]);
      await store.#waitHealthy();
      for (const bucket of options.buckets ?? []) await store.createBucket(bucket);
      return store;
    } catch (err) {
      const logs = store.#logs.join('').slice(-4000);
      await store.stop();
      throw new Error(`Swift did not start: ${err instanceof Error ? err.message : String(err)}\n${logs}`, { cause: err });
    }
  }

  /** Creates a bucket (PUT /<bucket>, signed by the S3 client) and waits until it lists. */
  async createBucket(bucket: string): Promise<void> {
    const { S3Client, CreateBucketCommand, HeadBucketCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client(this.clientConfig());
    try {
      // Bounded: 40 tries, 500 ms apart. Right after start-up the account is created on first use, and on a
      // loaded machine the proxy may answer 503 SlowDown ("Please reduce your request rate") meanwhile.
      for (let i = 0; ; i++) {
        try {
          await client.send(new CreateBucketCommand({ Bucket: bucket }));
          break;
        } catch (err) {
          const name = (err as { name?: string }).name;
          if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') break;
          if (i >= 39) throw err;
          await sleep(500);
        }
      }
      // Bounded: 50 tries, 100 ms apart; the container server may answer a moment later.
      for (let i = 0; i < 50; i++) {
        const ok = await client.send(new HeadBucketCommand({ Bucket: bucket })).then(
          () => true,
          () => false,
        );
        if (ok) return;
        await sleep(100);
      }
      throw new Error(`bucket ${bucket} did not appear`);
    } finally {
      client.destroy();
    }
  }

  /** What an S3Client needs to talk to this store. */
  clientConfig(): {
    endpoint: string;
    region: string;
    forcePathStyle: true;
    credentials: { accessKeyId: string; secretAccessKey: string };
  } {
    return {
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: true,
      credentials: { accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey },
    };
  }

  /** The store's daemons' output so far (for a failing test's message). */
  output(): string {
    return this.#logs.join('');
  }

  async stop(): Promise<void> {
    // Proxy first, memcached last: the reverse of the start order.
    for (const child of [...this.#children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await removeDir(this.#dir);
  }

  #spawn(file: string, args: readonly string[]): void {
    const child = spawn(file, args, { env: { ...loopbackOnlyEnv, HOME: this.#dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      this.#logs.push(`[${file}] ${chunk.toString('utf8')}`);
      if (this.#logs.length > 200) this.#logs.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)));
    this.#children.push(child);
  }

  async #waitHealthy(): Promise<void> {
    // Bounded: 300 tries, 100 ms apart (30 s): the servers take seconds to import on a loaded machine.
    for (let i = 0; i < 300; i++) {
      const dead = this.#children.find((c) => c.exitCode !== null);
      if (dead !== undefined) throw new Error(`${String(dead.spawnfile)} exited with ${dead.exitCode}`);
      const ok = await fetch(`${this.endpoint}/healthcheck`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      await sleep(100);
    }
    throw new Error('no answer on /healthcheck within 30 s');
  }
}

function storageServerConf(server: Server, port: number, dir: string): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
swift_dir = ${dir}
devices = ${join(dir, 'devices')}
mount_check = false
log_level = WARNING

[pipeline:main]
pipeline = ${server}-server

[app:${server}-server]
use = egg:swift#${server}
`;
}

/**
 * The proxy's pipeline, in the order Swift's sample proxy-server.conf documents: s3api before tempauth
 * (it turns an S3 signature into a tempauth identity), memcache (`cache`) before both (s3api keeps
 * tokens there), slo after them (S3 multipart uploads are stored as static large objects).
 */
function proxyServerConf(port: number, memcachedPort: number, dir: string): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
swift_dir = ${dir}
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_${account}_${user} = ${password} .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachedPort}

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
`;
}

/** The object server keeps each object's metadata in user xattrs: a filesystem without them fails every PUT. */
async function requireXattrs(dir: string): Promise<void> {
  const probe = join(dir, 'xattr-probe');
  await (await open(probe, 'w')).close();
  try {
    await runChecked('/usr/bin/python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.hoard", b"1")', probe], { env: loopbackOnlyEnv });
  } catch (err) {
    throw new Error(`${dir} does not support user xattrs, which Swift's object server needs: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  } finally {
    await rm(probe, { force: true });
  }
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  // Bounded: the kernel rarely hands the same port twice in a row.
  for (let i = 0; i < n * 10 && ports.size < n; i++) ports.add(await findFreePort());
  if (ports.size < n) throw new Error('could not find distinct free ports');
  return [...ports];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
