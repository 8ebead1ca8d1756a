// Runs the real apt-get against a fully isolated configuration: direct, through a proxy, or via a prefix URL.
import { readdir, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './command-runner.ts';
import type { CommandResult } from './command-runner.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export interface AptSource {
  /** The repository root as the upstream serves it, e.g. `http://127.0.0.1:PORT/debian`. */
  readonly url: string;
  readonly suite: string;
  /** Default `['main']`. */
  readonly components?: readonly string[];
  /** Binary keyring for `signed-by=`; the only key apt will trust for this source. */
  readonly keyringPath: string;
}

/**
 * How apt reaches the repository:
 * - direct: no cache, for baselines;
 * - proxy: `Acquire::http::Proxy` names the cache, sources keep the upstream URL;
 * - prefix: sources name `http://CACHE/<upstream host:port>/<path>` (apt-cacher-ng style).
 */
export type AptRoute =
  { readonly kind: 'direct' } | { readonly kind: 'proxy'; readonly proxyUrl: string } | { readonly kind: 'prefix'; readonly cacheUrl: string };

export interface AptClientOptions {
  readonly sources: readonly AptSource[];
  readonly route: AptRoute;
  /** Default `amd64`. */
  readonly arch?: string;
  /** Default `deb822` (a .sources file); `one-line` writes sources.list lines. */
  readonly sourcesFormat?: 'deb822' | 'one-line';
  /** Translation languages to fetch; default none. */
  readonly languages?: readonly string[];
  /** Extra `-o` options, e.g. `{ 'Debug::Acquire::http': 'true', 'Acquire::http::Pipeline-Depth': '0' }`. */
  readonly options?: Readonly<Record<string, string>>;
  /** Per-run bound; default 120 s. */
  readonly timeoutMs?: number;
}

export interface AptRunResult extends CommandResult {
  /** `W: ...` lines of stderr, prefix included. */
  readonly warnings: readonly string[];
  /** `E: ...` lines of stderr, prefix included. */
  readonly errors: readonly string[];
  /** `Get:`, `Hit:`, `Ign:`, `Err:` progress lines of stdout. */
  readonly gets: readonly string[];
  readonly hits: readonly string[];
  readonly igns: readonly string[];
  readonly errs: readonly string[];
}

export interface AptDownloadResult extends AptRunResult {
  /** Every .deb in the output directory after the run, sorted. */
  readonly debs: readonly string[];
}

/** The URI apt's sources should name for `upstreamUrl` when it goes through `route`. */
export function sourceUri(upstreamUrl: string, route: AptRoute): string {
  if (route.kind !== 'prefix') return upstreamUrl.replace(/\/+$/, '');
  const upstream = new URL(upstreamUrl);
  return `${route.cacheUrl.replace(/\/+$/, '')}/${upstream.host}${upstream.pathname.replace(/\/+$/, '')}`;
}

export class AptClient {
  /** Everything apt reads and writes lives under here. */
  readonly root: string;
  readonly aptConfigPath: string;
  readonly listsDir: string;
  readonly archivesDir: string;
  /** Output directory of `aptGetDownload`. */
  readonly downloadsDir: string;
  readonly route: AptRoute;
  readonly #options: AptClientOptions;

  private constructor(root: string, options: AptClientOptions) {
    this.root = root;
    this.#options = options;
    this.route = options.route;
    this.aptConfigPath = join(root, 'etc/apt/hoard-test.conf');
    this.listsDir = join(root, 'var/lib/apt/lists');
    this.archivesDir = join(root, 'var/cache/apt/archives');
    this.downloadsDir = join(root, 'downloads');
  }

  static async create(options: AptClientOptions): Promise<AptClient> {
    if (options.sources.length === 0) throw new Error('AptClient needs at least one source');
    const client = new AptClient(await makeTempDir('apt'), options);
    try {
      await client.#writeConfiguration();
      await client.resetState();
    } catch (error) {
      await client.cleanup();
      throw error;
    }
    return client;
  }

  async update(extraArgs: readonly string[] = []): Promise<AptRunResult> {
    return this.run(['update', ...extraArgs]);
  }

  /**
   * `apt-get install --download-only`: resolves dependencies as a real install would and fetches
   * into the archives directory, where apt verifies size and hash against the Packages index.
   */
  async download(packages: readonly string[], extraArgs: readonly string[] = []): Promise<AptDownloadResult> {
    const result = await this.run(['install', '--download-only', '--yes', '--no-install-recommends', ...extraArgs, ...packages]);
    return { ...result, debs: await listDebs(this.archivesDir) };
  }

  /** `apt-get download`: exactly the named packages, no dependencies, into `downloadsDir`. */
  async aptGetDownload(packages: readonly string[], extraArgs: readonly string[] = []): Promise<AptDownloadResult> {
    await mkdir(this.downloadsDir, { recursive: true });
    const result = await this.run(['download', ...extraArgs, ...packages], this.downloadsDir);
    return { ...result, debs: await listDebs(this.downloadsDir) };
  }

  /** Any apt-get command with this client's configuration. */
  async run(args: readonly string[], cwd: string = this.root): Promise<AptRunResult> {
    return this.#run('apt-get', args, cwd);
  }

  /** Any apt-cache command (policy, show, ...) with this client's configuration. */
  async aptCache(args: readonly string[]): Promise<AptRunResult> {
    return this.#run('apt-cache', args, this.root);
  }

  /** apt-config with this client's configuration (`['dump']` shows everything apt will use). */
  async aptConfig(args: readonly string[]): Promise<AptRunResult> {
    return this.#run('apt-config', args, this.root);
  }

  /** Back to a never-updated apt: no lists, no archives, no package caches, no downloads. */
  async resetState(): Promise<void> {
    for (const dir of [this.listsDir, join(this.root, 'var/cache/apt'), this.downloadsDir]) await rm(dir, { recursive: true, force: true });
    await mkdir(join(this.listsDir, 'partial'), { recursive: true });
    await mkdir(join(this.archivesDir, 'partial'), { recursive: true });
  }

  /** Forgets downloaded .debs but keeps the lists, so the next download fetches again. */
  async clearArchives(): Promise<void> {
    await rm(this.archivesDir, { recursive: true, force: true });
    await rm(this.downloadsDir, { recursive: true, force: true });
    await mkdir(join(this.archivesDir, 'partial'), { recursive: true });
  }

  async cleanup(): Promise<void> {
    await removeDir(this.root);
  }

  async #run(tool: string, args: readonly string[], cwd: string): Promise<AptRunResult> {
    const oOptions = Object.entries(this.#options.options ?? {}).flatMap(([key, value]) => ['-o', `${key}=${value}`]);
    const result = await runCommand(tool, [...oOptions, ...args], {
      cwd,
      // A minimal environment: no http_proxy and friends from the machine, stable English messages.
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        APT_CONFIG: this.aptConfigPath,
        LC_ALL: 'C',
        LANG: 'C',
        DEBIAN_FRONTEND: 'noninteractive',
        HOME: this.root,
        TMPDIR: join(this.root, 'tmp'),
      },
      timeoutMs: this.#options.timeoutMs ?? 120_000,
      processGroup: true,
    });
    const stderrLines = result.stderr.split('\n');
    const stdoutLines = result.stdout.split('\n');
    return {
      ...result,
      warnings: stderrLines.filter((l) => l.startsWith('W: ')),
      errors: stderrLines.filter((l) => l.startsWith('E: ')),
      gets: stdoutLines.filter((l) => l.startsWith('Get:')),
      hits: stdoutLines.filter((l) => l.startsWith('Hit:')),
      igns: stdoutLines.filter((l) => l.startsWith('Ign:')),
      errs: stdoutLines.filter((l) => l.startsWith('Err:')),
    };
  }

  async #writeConfiguration(): Promise<void> {
    const root = this.root;
    const etc = join(root, 'etc/apt');
    for (const dir of ['apt.conf.d', 'sources.list.d', 'trusted.gpg.d', 'preferences.d', 'auth.conf.d']) await mkdir(join(etc, dir), { recursive: true });
    await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
    await mkdir(join(root, 'var/log/apt'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    // An empty status file: nothing is installed, so every requested package is downloaded.
    await writeFile(join(root, 'var/lib/dpkg/status'), '');
    // apt reads Dir::Etc::main after APT_CONFIG; an empty one keeps the configuration read once.
    await writeFile(join(etc, 'apt.conf'), '');

    const options = this.#options;
    const arch = options.arch ?? 'amd64';
    const route = options.route;
    const sources = options.sources.map((s) => ({ ...s, uri: sourceUri(s.url, route) }));
    if ((options.sourcesFormat ?? 'deb822') === 'deb822') {
      const text = sources
        .map((s) =>
          [
            `Types: deb`,
            `URIs: ${s.uri}`,
            `Suites: ${s.suite}`,
            `Components: ${(s.components ?? ['main']).join(' ')}`,
            `Architectures: ${arch}`,
            `Signed-By: ${s.keyringPath}`,
            '',
          ].join('\n'),
        )
        .join('\n');
      await writeFile(join(etc, 'sources.list.d/hoard-test.sources'), text);
      await writeFile(join(etc, 'sources.list'), '');
    } else {
      const text = sources.map((s) => `deb [arch=${arch} signed-by=${s.keyringPath}] ${s.uri} ${s.suite} ${(s.components ?? ['main']).join(' ')}\n`).join('');
      await writeFile(join(etc, 'sources.list'), text);
    }

    const languages = options.languages ?? ['none'];
    const q = (value: string) => JSON.stringify(value);
    // Read first via APT_CONFIG; it moves every Dir:: below `root` before apt looks for
    // /etc/apt/apt.conf.d or /etc/apt/apt.conf, so nothing of the machine's apt setup is read.
    const conf = [
      `Dir ${q(`${root}/`)};`,
      `Dir::Etc ${q(`${etc}/`)};`,
      `Dir::Etc::main "apt.conf";`,
      `Dir::Etc::parts "apt.conf.d";`,
      `Dir::Etc::sourcelist "sources.list";`,
      `Dir::Etc::sourceparts "sources.list.d";`,
      `Dir::Etc::trusted "trusted.gpg";`,
      `Dir::Etc::trustedparts "trusted.gpg.d";`,
      `Dir::Etc::preferences "preferences";`,
      `Dir::Etc::preferencesparts "preferences.d";`,
      `Dir::Etc::netrc "auth.conf";`,
      `Dir::Etc::netrcparts "auth.conf.d";`,
      `Dir::State ${q(`${root}/var/lib/apt/`)};`,
      `Dir::State::lists ${q(`${this.listsDir}/`)};`,
      `Dir::State::status ${q(`${root}/var/lib/dpkg/status`)};`,
      `Dir::Cache ${q(`${root}/var/cache/apt/`)};`,
      `Dir::Cache::archives ${q(`${this.archivesDir}/`)};`,
      `Dir::Log ${q(`${root}/var/log/apt/`)};`,
      `APT::Architecture ${q(arch)};`,
      // Without an explicit list apt asks dpkg for the machine's foreign architectures.
      `APT::Architectures { ${q(arch)}; };`,
      `APT::Sandbox::User "root";`,
      `APT::Get::AllowUnauthenticated "false";`,
      `APT::Install-Recommends "false";`,
      `APT::Install-Suggests "false";`,
      `Acquire::Retries "0";`,
      `Acquire::Languages { ${languages.map(q).join(' ')} };`,
      `Acquire::AllowInsecureRepositories "false";`,
      // No proxy line otherwise: apt takes a global "DIRECT" for a proxy URL (only per-host DIRECT is special).
      ...(route.kind === 'proxy' ? [`Acquire::http::Proxy ${q(route.proxyUrl)};`, `Acquire::https::Proxy ${q(route.proxyUrl)};`] : []),
      `Dpkg::Use-Pty "false";`,
      '',
    ].join('\n');
    await writeFile(this.aptConfigPath, conf);
  }
}

async function listDebs(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith('.deb'))
    .sort()
    .map((n) => join(dir, n));
}
