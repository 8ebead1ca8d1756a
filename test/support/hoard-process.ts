// Starts hoard as a child process on a free loopback port, waits until it answers, and stops or kills it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { makeTempDir, removeDir } from './temp-dir.ts';

/** The repository checkout: hoard runs from here. */
export const repoRoot = resolve(import.meta.dirname, '..', '..');

export interface HoardProcessOptions {
  /** Kept across restart(); by default a fresh temp dir that cleanup() deletes. */
  readonly dataDir?: string;
  /**
   * Written as YAML and passed with --config; a string is written as is. An object without
   * `deniedUpstreamNetworks` gets `deniedUpstreamNetworks: []`, so loopback test upstreams stay reachable.
   */
  readonly config?: Readonly<Record<string, unknown>> | string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default: a free port, kept across restart(). */
  readonly port?: number;
  /** Added to the child's environment (which never inherits the runner's proxy variables: see proxyVariables). */
  readonly env?: Readonly<Record<string, string>>;
  /** Added after the standard arguments. */
  readonly extraArgs?: readonly string[];
  /** Script to run instead of `src/main.ts` (relative to the checkout or absolute); for testing this helper. */
  readonly entry?: string;
  /** Bound on waiting for the first answer; default 15 s. */
  readonly startTimeoutMs?: number;
}

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  readonly at: number;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A port that was free a moment ago (the kernel picks it; a race with other listeners is possible but rare). */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  return port;
}

export class HoardProcess {
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  readonly dataDir: string;
  readonly configPath: string | undefined;
  /** Every line the process printed, across restarts. */
  readonly logs: LogLine[] = [];
  readonly #options: HoardProcessOptions;
  readonly #ownedDirs: readonly string[];
  #child: ChildProcess | undefined;
  #exit: Promise<ExitStatus> | undefined;
  #exitStatus: ExitStatus | undefined;
  readonly #killOnExit = () => {
    // The test runner is going away; do not leave a server behind.
    if (this.#child?.pid !== undefined && this.#exitStatus === undefined) this.#child.kill('SIGKILL');
  };

  private constructor(options: HoardProcessOptions, host: string, port: number, dataDir: string, configPath: string | undefined, ownedDirs: readonly string[]) {
    this.#options = options;
    this.host = host;
    this.port = port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.dataDir = dataDir;
    this.configPath = configPath;
    this.#ownedDirs = ownedDirs;
  }

  static async start(options: HoardProcessOptions = {}): Promise<HoardProcess> {
    const host = options.host ?? '127.0.0.1';
    const owned: string[] = [];
    const work = await makeTempDir('hoard');
    owned.push(work);
    const dataDir = options.dataDir ?? join(work, 'data');
    await mkdir(dataDir, { recursive: true });
    let configPath: string | undefined;
    if (options.config !== undefined) {
      configPath = join(work, 'hoard.yaml');
      await writeFile(configPath, typeof options.config === 'string' ? options.config : stringify(withTestDefaults(options.config)));
    }
    // A port picked here can be taken by someone else before hoard binds it; retry a few times.
    const attempts = options.port === undefined ? 3 : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      const port = options.port ?? (await findFreePort(host));
      const hoard = new HoardProcess(options, host, port, dataDir, configPath, owned);
      try {
        await hoard.#launch();
        return hoard;
      } catch (error) {
        lastError = error;
        await hoard.kill9();
        if (!hoard.output().includes('EADDRINUSE')) break;
      }
    }
    await Promise.all(owned.map((dir) => removeDir(dir)));
    throw lastError;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#exitStatus === undefined;
  }

  /** All output so far as text, `[stream] line` per line; for assertion messages. */
  output(): string {
    return this.logs.map((l) => `[${l.stream}] ${l.text}`).join('\n');
  }

  /** Resolves with the first log line (from now or already printed) matching `pattern`. */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    while (Date.now() < deadline) {
      for (; seen < this.logs.length; seen += 1) {
        const line = this.logs[seen];
        if (line !== undefined && pattern.test(line.text)) return line;
      }
      await sleep(25);
    }
    throw new Error(`no log line matching ${pattern} within ${timeoutMs} ms\n${this.output()}`);
  }

  /**
   * Waits until no download is in flight (stats.json), i.e. every finished one is stored and indexed:
   * a response ends once its bytes are verified, the fsync, rename and index entry follow it.
   */
  async waitForDownloadsSettled(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const response = await fetch(`${this.url}/_hoard/stats.json`);
      const stats = (await response.json()) as { downloads?: { inFlight?: unknown[] } };
      if (stats.downloads?.inFlight?.length === 0) return;
      await sleep(25);
    }
    throw new Error(`downloads still in flight after ${timeoutMs} ms\n${this.output()}`);
  }

  /** SIGTERM, then SIGKILL if hoard has not exited within `graceMs` (default 5 s). */
  async stop(graceMs = 5000): Promise<ExitStatus | undefined> {
    const child = this.#child;
    const exit = this.#exit;
    if (child === undefined || exit === undefined) return undefined;
    if (this.#exitStatus !== undefined) return this.#exitStatus;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exit;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL: a crash, with no chance to flush or clean up. */
  async kill9(): Promise<ExitStatus | undefined> {
    const child = this.#child;
    const exit = this.#exit;
    if (child === undefined || exit === undefined) return undefined;
    if (this.#exitStatus !== undefined) return this.#exitStatus;
    child.kill('SIGKILL');
    return exit;
  }

  /** Stops hoard (gracefully unless `hard`) and starts it again on the same port and data dir. */
  async restart(options: { hard?: boolean } = {}): Promise<void> {
    if (options.hard === true) await this.kill9();
    else await this.stop();
    await this.#launch();
  }

  /** Stops hoard and deletes the temp dirs this helper made (never a dataDir that was passed in). */
  async cleanup(): Promise<void> {
    await this.stop();
    await Promise.all(this.#ownedDirs.map((dir) => removeDir(dir)));
  }

  async #launch(): Promise<void> {
    const args = [this.#options.entry ?? 'src/main.ts', 'serve', '--listen', `${this.host}:${this.port}`, '--data-dir', this.dataDir];
    if (this.configPath !== undefined) args.push('--config', this.configPath);
    args.push(...(this.#options.extraArgs ?? []));
    // The test runner marks its own children with NODE_TEST_CONTEXT; hoard is not a test file.
    const { NODE_TEST_CONTEXT: _testContext, ...inherited } = withoutProxyVariables(process.env);
    const child = spawn(join(repoRoot, 'node_modules/.bin/node'), args, {
      cwd: repoRoot,
      env: { ...inherited, ...this.#options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exitStatus = undefined;
    this.#exit = new Promise<ExitStatus>((resolveExit) => {
      child.once('error', (error) => {
        this.logs.push({ stream: 'stderr', text: `spawn failed: ${error.message}`, at: Date.now() });
        this.#exitStatus = { code: null, signal: null };
        resolveExit(this.#exitStatus);
      });
      child.once('exit', (code, signal) => {
        this.#exitStatus = { code, signal };
        process.off('exit', this.#killOnExit);
        resolveExit(this.#exitStatus);
      });
    });
    process.on('exit', this.#killOnExit);
    this.#capture(child.stdout, 'stdout');
    this.#capture(child.stderr, 'stderr');
    await this.#waitUntilAnswering(this.#options.startTimeoutMs ?? 15_000);
  }

  #capture(stream: NodeJS.ReadableStream | null, name: LogLine['stream']): void {
    if (stream === null) return;
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) this.logs.push({ stream: name, text, at: Date.now() });
    });
    stream.on('end', () => {
      if (pending !== '') this.logs.push({ stream: name, text: pending, at: Date.now() });
      pending = '';
    });
  }

  async #waitUntilAnswering(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#exitStatus !== undefined) {
        throw new Error(`hoard exited during startup (code ${this.#exitStatus.code}, signal ${this.#exitStatus.signal})\n${this.output()}`);
      }
      if ((await canConnect(this.host, this.port)) && (await answersHttp(this.host, this.port))) return;
      await sleep(50);
    }
    throw new Error(`hoard did not answer GET / on ${this.url} within ${timeoutMs} ms\n${this.output()}`);
  }
}

/** The standard proxy variables hoard honours (upstream.proxy unset); never inherited from the test runner. */
export const proxyVariables = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY'];

/**
 * `env` without the proxy variables: the machine's own proxy would send test upstream requests elsewhere (or
 * stop start-up, if it is not an http:// URL). A test that wants them passes them in `env`.
 */
export function withoutProxyVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = { ...env };
  for (const name of proxyVariables) delete kept[name];
  return kept;
}

/**
 * Test upstreams listen on 127.0.0.1, which `deniedUpstreamNetworks` denies to client-chosen hosts by
 * default: tests reach them unless they set the key themselves (the hostile-upstream tests do).
 */
function withTestDefaults(config: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  return 'deniedUpstreamNetworks' in config ? config : { deniedUpstreamNetworks: [], ...config };
}

async function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolveConnect(false);
    });
    socket.once('error', () => resolveConnect(false));
  });
}

/** Any status counts: the point is that hoard's HTTP edge is up, not what `/` shows. */
async function answersHttp(host: string, port: number): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const req = request({ host, port, path: '/', method: 'GET', timeout: 2000, agent: false }, (res) => {
      res.resume();
      resolveAnswer(true);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolveAnswer(false));
    req.end();
  });
}

async function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
