// `hoard client-config`: each output is parsed by a real parser for its format and carries the proxy URL.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { presentedCertificate } from '../../src/cli/cache-certificate.ts';
import { ClientConfigCatalog, clientConfig, clientConfigTargets } from '../../src/cli/client-config.ts';
import { protocolModules } from '../../src/protocols/installed-protocols.ts';
import { runChecked, runCommand } from '../support/command-runner.ts';
import { findFreePort, HoardProcess, repoRoot } from '../support/hoard-process.ts';
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
      'glance',
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

  describe('image settings over the https listener', () => {
    // The installed protocols' renderers: the images protocol's ahead of apt's, as the routing order has them (apt, the catch-all, last).
    const catalog = new ClientConfigCatalog(protocolModules);
    let hoard: HoardProcess;
    let httpsUrl: string;
    let certFile: string;

    before(async () => {
      const port = await findFreePort();
      hoard = await HoardProcess.start({ config: { logLevel: 'info', https: { listen: `127.0.0.1:${port}` } } });
      await hoard.waitForLog(/https listener up/);
      httpsUrl = `https://127.0.0.1:${port}`;
      certFile = join(hoard.dataDir, 'tls', 'hoard.crt');
    });
    after(async () => {
      await hoard?.cleanup();
    });

    test('lxd, maas and juju: an https images URL gets image settings, an http one still the apt proxy settings', () => {
      assert.match(catalog.render('lxd', `${httpsUrl}/images/ubuntu`), /^lxc remote add hoard-ubuntu /m);
      assert.equal((parseYaml(catalog.render('lxd', url)) as { name: string }).name, 'hoard-apt');
      assert.match(catalog.render('maas', `${httpsUrl}/images/ubuntu`), /boot-source update 1 url=/);
      assert.match(catalog.render('maas', url), /set-config name=http_proxy value=/);
      assert.deepEqual(parseYaml(catalog.render('juju', url)), { 'apt-http-proxy': url });
      assert.deepEqual(Object.keys(parseYaml(catalog.render('juju', `${httpsUrl}/images/ubuntu`)) as object).sort(), [
        'container-image-metadata-url',
        'image-metadata-url',
      ]);
      assert.ok(catalog.targets.includes('glance'));
    });

    test('lxd: the script, run with the real lxc client, adds the remote and pins the certificate hoard presents', async () => {
      const certificate = await presentedCertificate(httpsUrl, (why) => assert.fail(why));
      assert.ok(certificate);
      assert.equal(certificate.pem, new X509Certificate(await readFile(certFile)).toString());
      assert.equal(certificate.selfSigned, true);
      const script = join(dir, 'hoard-lxd.sh');
      await writeFile(script, catalog.render('lxd', `${httpsUrl}/images/ubuntu`, certificate));
      const conf = join(dir, 'lxc-conf');
      // lxc reaches out on its own to its default remotes: nothing may leave the machine.
      const lxcEnv = {
        ...env,
        HOME: dir,
        LXD_CONF: conf,
        HTTP_PROXY: 'http://127.0.0.1:9',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '127.0.0.1,localhost',
      };
      await runChecked('sh', [script], { env: lxcEnv });
      const remotes = await runChecked('lxc', ['remote', 'list', '--format', 'csv'], { env: lxcEnv });
      assert.match(remotes.stdout, new RegExp(`^hoard-ubuntu,${httpsUrl}/images/ubuntu,simplestreams,none,YES,`, 'm'));
      assert.equal(await readFile(join(conf, 'servercerts', 'hoard-ubuntu.crt'), 'utf8'), `${certificate.pem.trimEnd()}\n`);
      // lxc trusts hoard's listener with the pinned certificate: it gets as far as asking for the stream (no images
      // upstream is configured here, so hoard has none to give), where without the pin TLS refuses.
      const pinned = await runCommand('lxc', ['image', 'list', 'hoard-ubuntu:'], { env: lxcEnv, timeoutMs: 30_000 });
      assert.match(pinned.stderr, /streams\/v1\/index\.json: 40\d/, pinned.stderr);
      assert.doesNotMatch(pinned.stderr, /x509|certificate/);
      await runChecked('lxc', ['remote', 'add', 'unpinned', `${httpsUrl}/images/ubuntu`, '--protocol', 'simplestreams', '--public'], { env: lxcEnv });
      const unpinned = await runCommand('lxc', ['image', 'list', 'unpinned:'], { env: lxcEnv, timeoutMs: 30_000 });
      assert.match(unpinned.stderr, /x509: certificate signed by unknown authority/);
    });

    test('maas and glance scripts pass sh -n; juju parses as YAML carrying the certificate for cloud-init', async () => {
      const certificate = await presentedCertificate(httpsUrl, (why) => assert.fail(why));
      for (const [target, at] of [
        ['maas', `${httpsUrl}/images/ubuntu`],
        ['glance', `${httpsUrl}/images/ubuntu/noble/current/noble-server-cloudimg-amd64.img`],
      ] as const) {
        const file = join(dir, `${target}-images.sh`);
        await writeFile(file, catalog.render(target, at, certificate));
        const check = await runCommand('sh', ['-n', file], { env });
        assert.equal(check.exitCode, 0, check.stderr);
      }
      const juju = parseYaml(catalog.render('juju', `${httpsUrl}/images/ubuntu`, certificate)) as Record<string, string>;
      assert.deepEqual(parseYaml(juju['cloudinit-userdata'] ?? ''), { ca_certs: { trusted: [certificate?.pem] } });
    });

    test('the CLI asks an https URL for its certificate and prints the fingerprint hoard shows, on stderr', async () => {
      const health = (await (await fetch(`${hoard.url}/_hoard/health`)).json()) as { https: { fingerprint256: string } };
      const node = join(repoRoot, 'node_modules/.bin/node');
      const asked = await runChecked(node, ['src/main.ts', 'client-config', 'docker-mirror', '--url', httpsUrl], { cwd: repoRoot });
      assert.deepEqual(JSON.parse(asked.stdout), { 'registry-mirrors': [httpsUrl] });
      assert.ok(asked.stderr.includes(`  ${health.https.fingerprint256}\n`), asked.stderr);
      // --cert reads a file instead (on the cache host, or a copy): the same fingerprint, no connection needed.
      const offline = await runChecked(node, ['src/main.ts', 'client-config', 'docker-mirror', '--url', 'https://127.0.0.1:9', '--cert', certFile], {
        cwd: repoRoot,
      });
      assert.ok(offline.stderr.includes(`  ${health.https.fingerprint256}\n`), offline.stderr);
      assert.doesNotMatch(offline.stderr, /not valid for/);
      // A URL under a name the certificate does not carry: said, since apt, curl and MAAS check names.
      const misnamed = await runChecked(node, ['src/main.ts', 'client-config', 'docker-mirror', '--url', 'https://cache.example:8443', '--cert', certFile], {
        cwd: repoRoot,
      });
      assert.match(misnamed.stderr, /the certificate is not valid for cache\.example: clients that check names/);
      // Nothing answers: said on stderr, the settings still printed (with where to copy the certificate from).
      const unreachable = await runChecked(node, ['src/main.ts', 'client-config', 'docker-mirror', '--url', 'https://127.0.0.1:9'], { cwd: repoRoot });
      assert.match(unreachable.stderr, /cannot read the certificate of 127\.0\.0\.1:9/);
      const refused = await runCommand(node, ['src/main.ts', 'client-config', 'glance', '--url', `${httpsUrl}/images/ubuntu`], { cwd: repoRoot });
      assert.equal(refused.exitCode, 2);
      assert.match(refused.stderr, /glance needs the URL of one image file/);
      // Through the real CLI: an https images URL gets the lxc remote, the plain http one apt's LXD profile.
      const lxd = await runChecked(node, ['src/main.ts', 'client-config', 'lxd', '--url', `${httpsUrl}/images/ubuntu`], { cwd: repoRoot });
      assert.ok(lxd.stdout.includes(`\nlxc remote add hoard-ubuntu ${httpsUrl}/images/ubuntu --protocol simplestreams --public\n`), lxd.stdout);
      const aptLxd = await runChecked(node, ['src/main.ts', 'client-config', 'lxd', '--url', hoard.url], { cwd: repoRoot });
      assert.equal((parseYaml(aptLxd.stdout) as { name: string }).name, 'hoard-apt');
    });
  });
});
