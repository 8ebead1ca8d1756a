// `hoard client-config`: each output is parsed by a real parser for its format and carries the proxy URL.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { clientConfig, clientConfigTargets } from '../../src/cli/client-config.ts';
import { runChecked, runCommand } from '../support/command-runner.ts';
import { repoRoot } from '../support/hoard-process.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const url = 'http://cache.example:3142';
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

describe('hoard client-config', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('client-config');
  });
  after(async () => {
    await removeDir(dir);
  });

  test('apt: the snippet loads in apt-config and sets Acquire::http::Proxy (through the real CLI)', async () => {
    const cli = await runChecked(join(repoRoot, 'node_modules/.bin/node'), ['src/main.ts', 'client-config', 'apt', '--url', url], { cwd: repoRoot });
    const file = join(dir, '01hoard-proxy');
    await writeFile(file, cli.stdout);
    const dump = await runChecked('apt-config', ['-c', file, 'dump', 'Acquire::http::Proxy'], { env });
    assert.match(dump.stdout, new RegExp(`^Acquire::http::Proxy "${url}";$`, 'm'));
  });

  test('juju: model-config YAML with apt-http-proxy', () => {
    assert.deepEqual(parseYaml(clientConfig('juju', url)), { 'apt-http-proxy': url });
  });

  test('cloud-init: #cloud-config user-data with apt: proxy:', () => {
    const text = clientConfig('cloud-init', url);
    assert.ok(text.startsWith('#cloud-config\n'));
    assert.deepEqual(parseYaml(text), { apt: { proxy: url } });
  });

  test('lxd: a profile whose cloud-init.user-data is that same cloud-config', () => {
    const profile = parseYaml(clientConfig('lxd', url)) as { name: string; config: Record<string, string>; devices: unknown };
    assert.equal(profile.name, 'hoard-apt');
    assert.deepEqual(profile.devices, {});
    const userData = profile.config['cloud-init.user-data'] ?? '';
    assert.ok(userData.startsWith('#cloud-config\n'));
    assert.deepEqual(parseYaml(userData), { apt: { proxy: url } });
  });

  test('conjure-up and MAAS: shell scripts that sh accepts, passing the URL as the apt proxy', async () => {
    for (const target of ['conjure-up', 'maas'] as const) {
      const file = join(dir, `${target}.sh`);
      const text = clientConfig(target, url);
      await writeFile(file, text);
      const check = await runCommand('sh', ['-n', file], { env });
      assert.equal(check.exitCode, 0, check.stderr);
    }
    assert.match(clientConfig('conjure-up', url), new RegExp(`^exec conjure-up --apt-proxy ${url} "\\$@"$`, 'm'));
    assert.match(clientConfig('maas', url), new RegExp(`set-config name=http_proxy value=${url}$`, 'm'));
    assert.match(clientConfig('maas', url), /set-config name=enable_http_proxy value=true$/m);
  });

  test('docker: Dockerfile instructions (ARG, RUN) and the --build-arg line', () => {
    const text = clientConfig('docker', url);
    const instructions = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    for (const line of instructions) assert.match(line, /^(ARG|RUN) /, line);
    assert.ok(instructions.includes(`ARG APT_PROXY=${url}`));
    assert.match(text, new RegExp(`docker build --build-arg http_proxy=${url} \\.`));
    // The RUN line writes an apt.conf line that apt itself accepts once the ARG is substituted.
    const run = instructions.find((l) => l.startsWith('RUN ')) ?? '';
    assert.match(run, /Acquire::http::Proxy \\"\$\{APT_PROXY\}\\";/);
  });

  test('docker-mirror: daemon.json with registry-mirrors (through the real CLI)', async () => {
    const cli = await runChecked(join(repoRoot, 'node_modules/.bin/node'), ['src/main.ts', 'client-config', 'docker-mirror', '--url', url], { cwd: repoRoot });
    assert.deepEqual(JSON.parse(cli.stdout), { 'registry-mirrors': [url] });
  });

  test('containerd and podman: TOML that a real parser reads, naming the cache as a pull mirror', async () => {
    // Python's tomllib is a complete TOML 1.0 parser; podman's own reading of its file is in test/e2e/oci-mirror.test.ts.
    const read = async (target: string) => {
      const file = join(dir, `${target}.toml`);
      await writeFile(file, clientConfig(target, url));
      const out = await runChecked('python3', ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],"rb"))))', file], { env });
      return JSON.parse(out.stdout) as Record<string, unknown>;
    };
    assert.deepEqual(await read('containerd'), { host: { [url]: { capabilities: ['pull', 'resolve'] } } });
    assert.deepEqual(await read('podman'), {
      registry: [{ prefix: 'docker.io', location: 'docker.io', mirror: [{ location: 'cache.example:3142/docker.io', insecure: true }] }],
    });
  });

  test('containerd, podman and k3s list the configured registries (through the real CLI with --config); k3s registries.yaml has a mirror for each', async () => {
    const config = join(dir, 'hoard.yaml');
    await writeFile(
      config,
      `oci:
  registries:
    images.example: { url: "https://images.example" }
    registry.lab:5000: { url: "http://registry.lab:5000", username: puller, password: secret }
    lab: { url: "http://127.0.0.1:5000" }
  users:
    alice: { password: "correct horse" }
`,
    );
    const cli = (target: string) =>
      runChecked(join(repoRoot, 'node_modules/.bin/node'), ['src/main.ts', 'client-config', target, '--url', url, '--config', config], { cwd: repoRoot });
    const k3s = parseYaml((await cli('k3s')).stdout) as Record<string, unknown>;
    assert.deepEqual(k3s, {
      mirrors: { 'docker.io': { endpoint: [url] }, 'images.example': { endpoint: [url] }, 'registry.lab:5000': { endpoint: [url] } },
    });
    const podmanFile = join(dir, 'podman-several.toml');
    await writeFile(podmanFile, (await cli('podman')).stdout);
    const podman = await runChecked('python3', ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],"rb"))))', podmanFile], { env });
    assert.deepEqual(
      (JSON.parse(podman.stdout) as { registry: Array<{ prefix: string; mirror: Array<{ location: string }> }> }).registry.map((r) => [
        r.prefix,
        r.mirror[0]?.location,
      ]),
      [
        ['docker.io', 'cache.example:3142/docker.io'],
        ['images.example', 'cache.example:3142/images.example'],
        ['registry.lab:5000', 'cache.example:3142/registry.lab:5000'],
      ],
    );
    assert.match((await cli('containerd')).stdout, /for r in docker\.io images\.example registry\.lab:5000; do/);
    // apt's targets never read the configuration: a broken file does not stop them.
    await writeFile(join(dir, 'broken.yaml'), 'oci: [not, a, mapping]\n');
    const apt = await runChecked(
      join(repoRoot, 'node_modules/.bin/node'),
      ['src/main.ts', 'client-config', 'apt', '--url', url, '--config', join(dir, 'broken.yaml')],
      {
        cwd: repoRoot,
      },
    );
    assert.match(apt.stdout, /Acquire::http::Proxy/);
  });

  test('every target is covered, and a URL with quotes or credentials is refused', () => {
    assert.deepEqual([...clientConfigTargets].sort(), [
      'apt',
      'cloud-init',
      'conjure-up',
      'containerd',
      'docker',
      'docker-mirror',
      'juju',
      'k3s',
      'lxd',
      'maas',
      'podman',
    ]);
    assert.throws(() => clientConfig('apt', 'http://cache:3142/"; evil'), /must not carry/);
    assert.throws(() => clientConfig('apt', 'http://user:pw@cache:3142'), /must not carry/);
    assert.throws(() => clientConfig('apt', 'ftp://cache'), /http/);
  });
});
