// Debian's docker-registry (distribution 2.8) on loopback with storage in a temp dir, and OCI layouts built by hand to push into it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './command-runner.ts';
import { findFreePort } from './hoard-process.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

/** Every tool a test starts gets a closed proxy port, so that nothing it does can leave the machine. */
export const loopbackOnlyEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HTTP_PROXY: 'http://127.0.0.1:9',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  http_proxy: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  NO_PROXY: '127.0.0.1,localhost',
  no_proxy: '127.0.0.1,localhost',
};

export class DockerRegistry {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #dir: string;

  private constructor(url: string, child: ChildProcess, dir: string) {
    this.url = url;
    this.#child = child;
    this.#dir = dir;
  }

  /**
   * `extraConfig`: top-level YAML sections added to the config (`auth:` for a token or htpasswd upstream, `proxy:` for
   * the pull-through peer); it may name files in the registry's own dir, passed to it as `dir`.
   */
  static async start(options: { extraConfig?: (dir: string) => string | Promise<string>; port?: number } = {}): Promise<DockerRegistry> {
    const dir = await makeTempDir('docker-registry');
    const port = options.port ?? (await findFreePort());
    const config = join(dir, 'config.yml');
    await writeFile(
      config,
      `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'storage')}
http:
  addr: 127.0.0.1:${port}
  secret: hoard-test-secret
${options.extraConfig === undefined ? '' : await options.extraConfig(dir)}`,
    );
    const child = spawn('/usr/bin/docker-registry', ['serve', config], { env: { ...loopbackOnlyEnv, HOME: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    const registry = new DockerRegistry(`http://127.0.0.1:${port}`, child, dir);
    // Bounded: 100 tries, 50 ms apart.
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}`);
      // 200, or 401 when the registry demands authentication: it answers either way once it listens.
      const ok = await fetch(`${registry.url}/v2/`).then(
        (r) => r.status === 200 || r.status === 401,
        () => false,
      );
      if (ok) return registry;
      await new Promise((r) => setTimeout(r, 50));
    }
    await registry.stop();
    throw new Error('docker-registry did not start within 5 s');
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      await Promise.race([once(this.#child, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
      if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    }
    await removeDir(this.#dir);
  }
}

export interface BuiltImage {
  /** The OCI layout directory (`oci:<dir>:<tag>` for skopeo). */
  readonly dir: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** Layer digests, in order. */
  readonly layers: readonly string[];
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** An OCI image layout with uncompressed tar layers (one small text file, one of `bigBytes` random bytes), tagged `tag`. */
export async function buildOciLayout(dir: string, tag: string, bigBytes = 1024 * 1024): Promise<BuiltImage> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array) => {
    const digest = sha256(bytes);
    await writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
    return { digest, size: bytes.byteLength };
  };
  const layers = [];
  for (const [name, content] of [
    ['hello.txt', Buffer.from(`hello from ${dir}, tagged ${tag}\n`)],
    ['big.bin', randomBytes(bigBytes)],
  ] as const) {
    const src = join(dir, `src-${name}`);
    await mkdir(src);
    await writeFile(join(src, name), content);
    const tar = await runCommand('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', src, '-cf', '-', name], { env: loopbackOnlyEnv });
    if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    layers.push(await put(tar.stdoutBytes));
  }
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
  );
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { dir, manifestDigest: manifest.digest, configDigest: config.digest, layers: layers.map((l) => l.digest) };
}

export interface BuiltIndex {
  readonly dir: string;
  /** The image index's digest (what the tag names). */
  readonly indexDigest: string;
  readonly images: Readonly<Record<string, { readonly manifestDigest: string; readonly configDigest: string; readonly layers: readonly string[] }>>;
}

/** A two-architecture (or more) image: one image per `architectures` entry, and an OCI image index naming them, tagged `tag`. */
export async function buildOciIndexLayout(dir: string, tag: string, architectures: readonly string[]): Promise<BuiltIndex> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array) => {
    const digest = sha256(bytes);
    await writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
    return { digest, size: bytes.byteLength };
  };
  const images: Record<string, { manifestDigest: string; configDigest: string; layers: string[] }> = {};
  const descriptors = [];
  for (const architecture of architectures) {
    const src = join(dir, `src-${architecture}`);
    await mkdir(src);
    await writeFile(join(src, 'arch.txt'), `${architecture} ${dir}\n${randomBytes(32 * 1024).toString('hex')}\n`);
    const tar = await runCommand('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', src, '-cf', '-', 'arch.txt'], {
      env: loopbackOnlyEnv,
    });
    if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    const layer = await put(tar.stdoutBytes);
    const config = await put(Buffer.from(JSON.stringify({ architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layer.digest] } })));
    const manifest = await put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
        }),
      ),
    );
    images[architecture] = { manifestDigest: manifest.digest, configDigest: config.digest, layers: [layer.digest] };
    descriptors.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture, os: 'linux' } });
  }
  const index = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descriptors })));
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { dir, indexDigest: index.digest, images };
}

/** skopeo with no credentials, no policy file and no way off the machine. */
export async function skopeo(args: readonly string[], home: string) {
  return runCommand('skopeo', ['--insecure-policy', ...args], { env: { ...loopbackOnlyEnv, HOME: home, XDG_RUNTIME_DIR: home }, timeoutMs: 120_000 });
}

/**
 * Puts tag `1` of an OCI layout into a registry as `<repository>:<tag>`, digests unchanged (`all`: every
 * image of an index); anonymous unless `creds` (`user:password`) are given. A failed push throws with skopeo's stderr.
 */
export async function pushLayout(
  registry: { readonly url: string },
  layoutDir: string,
  reference: string,
  home: string,
  options: { readonly all?: boolean; readonly creds?: string | undefined } = {},
): Promise<void> {
  const pushed = await skopeo(
    [
      'copy',
      ...(options.all === true ? ['--all'] : []),
      '--preserve-digests',
      '--dest-tls-verify=false',
      ...(options.creds === undefined ? ['--dest-no-creds'] : ['--dest-creds', options.creds]),
      `oci:${layoutDir}:1`,
      `docker://${registry.url.slice('http://'.length)}/${reference}`,
    ],
    home,
  );
  if (pushed.exitCode !== 0) throw new Error(`skopeo could not push ${reference}: ${pushed.stderr}`);
}
