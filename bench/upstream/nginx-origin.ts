// The upstream mirror: nginx serving the repository on loopback, one port unlimited and one limited to 20 MB/s; counts what it sent.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePortBelow } from '../system/free-port.ts';
import type { Origin } from '../peers/peer.ts';
import { startNginx, stopNginx } from '../peers/nginx-config.ts';
import type { ManagedProcess } from '../system/managed-process.ts';

export interface OriginRequestLog {
  readonly path: string;
  readonly status: number;
  readonly bodyBytes: number;
}

function accessLogPath(prefix: string, port: number): string {
  return join(prefix, `access-${port}.log`);
}

export class NginxOrigins {
  readonly fast: Origin;
  readonly limited: Origin;
  readonly #nginx: ManagedProcess;
  readonly #prefix: string;

  private constructor(nginx: ManagedProcess, prefix: string, fast: Origin, limited: Origin) {
    this.#nginx = nginx;
    this.#prefix = prefix;
    this.fast = fast;
    this.limited = limited;
  }

  /**
   * nginx's limit_rate lets one second's worth through at once (it allows rate x (elapsed s + 1)),
   * so a file of N x rate bytes arrives in about N - 1 s; the cold scenario reports the time a
   * direct client takes beside the peers' times for that reason.
   */
  static async start(prefix: string, repoRoot: string, urlPrefix: string, rateLimitBytesPerSecond: number): Promise<NginxOrigins> {
    const fastPort = await findFreePortBelow(32768);
    const limitedPort = await findFreePortBelow(32768);
    const location = `location ${urlPrefix}/ { alias ${repoRoot}/; }`;
    const body = `
  server { listen 127.0.0.1:${fastPort}; access_log ${accessLogPath(prefix, fastPort)} bench; ${location} }
  server { listen 127.0.0.1:${limitedPort}; access_log ${accessLogPath(prefix, limitedPort)} bench; limit_rate ${rateLimitBytesPerSecond}; ${location} }`;
    const nginx = await startNginx('origin-nginx', prefix, body, [fastPort, limitedPort]);
    const origin = (port: number, rateLimit: number | undefined): Origin => ({ port, base: `http://127.0.0.1:${port}`, rateLimit });
    return new NginxOrigins(nginx, prefix, origin(fastPort, undefined), origin(limitedPort, rateLimitBytesPerSecond));
  }

  /** Requests `origin` has logged so far (nginx writes a line when a response ends, cut or not). */
  async requests(origin: Origin): Promise<OriginRequestLog[]> {
    const text = await readFile(accessLogPath(this.#prefix, origin.port), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const [path = '', status = '0', bytes = '0'] = line.split(' ');
        return { path, status: Number(status), bodyBytes: Number(bytes) };
      });
  }

  async stop(): Promise<void> {
    await stopNginx(this.#nginx);
  }
}
