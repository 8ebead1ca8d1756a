// Debian's haproxy on loopback, with a config derived from packaging/haproxy.cfg (only the addresses and the check pace differ).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { runCommand } from './command-runner.ts';
import { findFreePort, repoRoot } from './hoard-process.ts';
import { loopbackOnlyEnv } from './oci-registry.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export interface HaproxyFrontOptions {
  /** Backend servers, `host:port`, named node1, node2... in order. */
  readonly servers: readonly string[];
  /** Health check interval; the shipped 2 s by default. */
  readonly checkIntervalMs?: number;
}

/**
 * The shipped file with: no syslog (`log` lines dropped: no /dev/log in a test), the frontend bound to
 * 127.0.0.1 on a free port, its example servers replaced by `servers`, the check interval set, and a
 * global maxconn of 1,000 (the shipped 20,000 needs more file descriptors than a test may have).
 * Everything else (balance uri, hash-type consistent, httpchk, retries, redispatch, timeouts) is the file's.
 */
export function deriveHaproxyConfig(shipped: string, port: number, options: HaproxyFrontOptions): string {
  const lines: string[] = [];
  for (const line of shipped.split('\n')) {
    const trimmed = line.trim();
    if (/^log\s/.test(trimmed) || trimmed === 'option httplog') continue;
    if (/^server\s/.test(trimmed)) continue;
    // 20,000 connections need 40,000 descriptors, more than a test shell may open.
    if (/^maxconn\s/.test(trimmed)) {
      lines.push('    maxconn 1000');
      continue;
    }
    if (/^bind\s/.test(trimmed)) {
      lines.push(`    bind 127.0.0.1:${port}`);
      continue;
    }
    if (/^default-server\s/.test(trimmed) && options.checkIntervalMs !== undefined) {
      lines.push(line.replace(/\binter\s+\S+/, `inter ${options.checkIntervalMs}ms`));
      continue;
    }
    lines.push(line);
  }
  lines.push(...options.servers.map((server, i) => `    server node${i + 1} ${server} id ${i + 1} check`), '');
  return lines.join('\n');
}

export class HaproxyFront {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #output: string[] = [];

  private constructor(port: number, child: ChildProcess, dir: string) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#child = child;
    this.#dir = dir;
  }

  static async start(options: HaproxyFrontOptions): Promise<HaproxyFront> {
    const dir = await makeTempDir('haproxy');
    const port = await findFreePort();
    const config = join(dir, 'haproxy.cfg');
    await writeFile(config, deriveHaproxyConfig(await readFile(join(repoRoot, 'packaging', 'haproxy.cfg'), 'utf8'), port, options));
    const check = await runCommand('haproxy', ['-c', '-f', config], { env: loopbackOnlyEnv });
    if (check.exitCode !== 0) {
      await removeDir(dir);
      throw new Error(`haproxy refuses the derived config: ${check.stderr}${check.stdout}`);
    }
    // -db: foreground, one process, so the PID we hold is haproxy's.
    const child = spawn('haproxy', ['-db', '-f', config], { env: loopbackOnlyEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const front = new HaproxyFront(port, child, dir);
    const keep = (chunk: Buffer) => {
      front.#output.push(chunk.toString('utf8'));
      if (front.#output.length > 500) front.#output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // Bounded: 100 tries, 50 ms apart.
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${front.output()}`);
      if (await accepts(port)) return front;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await front.stop();
    throw new Error('haproxy did not listen within 5 s');
  }

  /** What haproxy printed (server state changes: "Server hoard_nodes/node2 is DOWN"). */
  output(): string {
    return this.#output.join('');
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

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
