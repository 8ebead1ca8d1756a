// How CLI commands reach the running cache's admin endpoints: URL from --url or the config's listen address, token from the config.
import type { HoardConfig } from '../config/config-schema.ts';
import { splitListen } from './cli-args.ts';

export interface AdminTarget {
  /** e.g. http://127.0.0.1:3142/_hoard */
  readonly base: string;
  readonly token: string | undefined;
}

export function adminTarget(config: HoardConfig, url: string | undefined): AdminTarget {
  let origin = url?.replace(/\/+$/, '');
  if (origin === undefined) {
    const { host, port } = splitListen(config.listen);
    // A wildcard listen address is reached on loopback from the same host.
    const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
    origin = `http://${reachable}:${port}`;
  }
  return { base: `${origin}${config.admin.prefix}`, token: config.admin.token };
}

export async function adminRequest(target: AdminTarget, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${target.base}${path}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? null : JSON.stringify(init.body),
    });
  } catch (err) {
    throw new Error(
      `cannot reach hoard at ${target.base} (is it running? pass --url): ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
      { cause: err },
    );
  }
  if (!response.ok) {
    const text = await response.text();
    throw new Error(`hoard answered ${response.status} to ${path}: ${text.trim()}`);
  }
  return response;
}
