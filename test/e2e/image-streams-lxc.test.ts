// End-to-end: Debian's lxc client uses hoard as a simplestreams remote (list, info, export by alias and fingerprint), over hoard's own https listener.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runChecked, runCommand, type CommandResult } from '../support/command-runner.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess, findFreePort, repoRoot } from '../support/hoard-process.ts';
import { ImageStream, lxdAlias, unifiedAlias } from '../support/image-stream-builder.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('lxc (lxd-client) with hoard as a simplestreams remote', () => {
  let stream: ImageStream;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let lxdConf: string;
  let scratch: string;
  let env: NodeJS.ProcessEnv;
  let exports = 0;

  const lxc = (args: readonly string[]): Promise<CommandResult> => runCommand('lxc', args, { env, timeoutMs: 120_000 });

  /** `lxc image export` into a fresh directory: the files it wrote, by name -> sha256. */
  async function exportImage(ref: string): Promise<{ result: CommandResult; files: Map<string, string> }> {
    const dir = join(scratch, `export-${++exports}`);
    await runCommand('mkdir', ['-p', dir]);
    const result = await lxc(['image', 'export', `hoard-test:${ref}`, join(dir, 'image')]);
    const files = new Map<string, string>();
    for (const name of await readdir(dir)) files.set(name, sha256(await readFile(join(dir, name))));
    return { result, files };
  }

  before(async () => {
    stream = await ImageStream.create();
    upstream = await FakeUpstreamServer.start({ root: stream.root, prefix: '/lxd' });
    const httpsPort = await findFreePort();
    hoard = await HoardProcess.start({
      config: {
        logLevel: 'info',
        images: { test: { url: `${upstream.baseUrl}/`, keyring: stream.keyring.publicKeyringPath, maxAgeSeconds: 300 } },
        // lxc accepts only https remotes: hoard's own listener, with the certificate it makes at the first start.
        https: { listen: `127.0.0.1:${httpsPort}` },
      },
    });
    await hoard.waitForLog(/https listener up/);
    lxdConf = await makeTempDir('lxd-conf');
    scratch = await makeTempDir('lxc-export');
    const closed = await findFreePort();
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: lxdConf,
      LXD_CONF: lxdConf,
      // Nothing lxc does may leave the machine: a proxy at a closed port, loopback exempt.
      HTTP_PROXY: `http://127.0.0.1:${closed}`,
      HTTPS_PROXY: `http://127.0.0.1:${closed}`,
      NO_PROXY: '127.0.0.1,localhost',
      LC_ALL: 'C',
    };
    // What an operator runs: `hoard client-config lxd` reads the certificate the listener presents, prints its
    // fingerprint (the one /_hoard/health shows) and a script that pins it and adds the remote.
    const imagesUrl = `https://127.0.0.1:${httpsPort}/images/test`;
    const settings = await runChecked(join(repoRoot, 'node_modules/.bin/node'), ['src/main.ts', 'client-config', 'lxd', '--url', imagesUrl], { cwd: repoRoot });
    const health = (await (await fetch(`${hoard.url}/_hoard/health`)).json()) as { https: { fingerprint256: string } };
    assert.ok(settings.stderr.includes(`  ${health.https.fingerprint256}\n`), settings.stderr);
    assert.ok(settings.stdout.includes(`\nlxc remote add hoard-test ${imagesUrl} --protocol simplestreams --public\n`), settings.stdout);
    const script = join(scratch, 'hoard-lxd.sh');
    await writeFile(script, settings.stdout);
    const added = await runCommand('sh', [script], { env });
    assert.equal(added.exitCode, 0, added.stdout + added.stderr);
    assert.equal(await readFile(join(lxdConf, 'servercerts', 'hoard-test.crt'), 'utf8'), await readFile(join(hoard.dataDir, 'tls', 'hoard.crt'), 'utf8'));
  });

  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await stream?.cleanup();
    if (lxdConf !== undefined) await removeDir(lxdConf);
    if (scratch !== undefined) await removeDir(scratch);
  });

  test('image list and image info see the stream through hoard', async () => {
    const list = await lxc(['image', 'list', 'hoard-test:', '--format', 'csv', '-c', 'lfd']);
    assert.equal(list.exitCode, 0, list.stderr);
    assert.match(list.stdout, new RegExp(lxdAlias.replace('/', '\\/')));
    assert.match(list.stdout, new RegExp(stream.fingerprints.squashfs.slice(0, 12)));
    const info = await lxc(['image', 'info', `hoard-test:${lxdAlias}`]);
    assert.equal(info.exitCode, 0, info.stderr);
    assert.match(info.stdout, /Fingerprint: [0-9a-f]{64}/);
  });

  test('image export by alias and by fingerprint, twice: the fixture files, each item fetched upstream once', async () => {
    const meta = stream.file('lxd-meta');
    const squashfs = stream.file('lxd-squashfs');
    const rootxz = stream.file('lxd-rootxz');
    const byRole = new Map([
      [meta.sha256, 'meta'],
      [squashfs.sha256, 'squashfs'],
      [rootxz.sha256, 'rootxz'],
    ]);
    for (const ref of [lxdAlias, stream.fingerprints.squashfs, lxdAlias, stream.fingerprints.squashfs]) {
      const { result, files } = await exportImage(ref);
      assert.equal(result.exitCode, 0, `export ${ref}: ${result.stdout}${result.stderr}`);
      const roles = [...files.values()].map((digest) => byRole.get(digest));
      assert.ok(roles.includes('meta'), `export ${ref} wrote the metadata tarball: ${[...files.keys()].join(', ')}`);
      assert.ok(roles.includes('squashfs') || roles.includes('rootxz'), `export ${ref} wrote a rootfs equal to the fixture`);
      assert.ok(!roles.includes(undefined), `export ${ref}: every file equals a fixture file`);
    }
    assert.equal(upstream.hits(meta.path, 'GET'), 1);
    assert.ok(upstream.hits(squashfs.path, 'GET') <= 1 && upstream.hits(rootxz.path, 'GET') <= 1, 'each rootfs fetched at most once');
    assert.equal(upstream.hits(squashfs.path, 'GET') + upstream.hits(rootxz.path, 'GET'), 1, 'one rootfs was fetched');
  });

  test('a corrupted upstream item makes the export fail and is not stored', async () => {
    const unified = stream.file('unified');
    upstream.misbehave(unified.path, faults.corrupt(), { times: 1 });
    const bad = await exportImage(unifiedAlias);
    assert.notEqual(bad.result.exitCode, 0, 'the export must fail');
    assert.ok(![...bad.files.values()].includes(unified.sha256), 'no whole image written');
    await hoard.waitForDownloadsSettled();
    const good = await exportImage(unifiedAlias);
    assert.equal(good.result.exitCode, 0, good.result.stderr);
    assert.ok([...good.files.values()].includes(unified.sha256), 'the unified tarball equals the fixture');
    assert.equal(upstream.hits(unified.path, 'GET'), 2, 'fetched again: the corrupt bytes were not stored');
  });
});
