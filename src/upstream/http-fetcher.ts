// Fetcher over undici: pooled keep-alive connections, connect/idle timeouts, bounded redirects, optional extra CA.
import type { Agent, buildConnector as UndiciConnect } from 'undici';
// The dispatcher and its request call alone, not the package's index: the index also sets up fetch,
// WebSocket, caches and mocks, and touches the globals that load Node's own bundled copy of undici.
// Together with the node:http import in http/proxy-server.ts, 3-6 MB resident at idle (measured).
import UndiciAgent from 'undici/lib/dispatcher/agent.js';
import undiciRequest from 'undici/lib/api/api-request.js';
import buildConnector from 'undici/lib/core/connect.js';
import type { Readable } from 'node:stream';
import { publishUpstream } from '../events.ts';
import { HoardError } from '../errors.ts';
import type { FetchInit, Fetcher, UpstreamResponse } from './fetcher.ts';
import { trustedSecureContext } from './tls-trust.ts';
import { upstreamErrorFrom } from './upstream-errors.ts';

export interface HttpFetcherOptions {
  connectTimeoutMs: number;
  /** Longest wait for response headers, and longest silence between body chunks. */
  idleTimeoutMs: number;
  /** Extra trusted CA certificates (PEM), added to the system store; never a replacement for it. */
  ca?: string[] | undefined;
  /** Sent upstream so that a chain of caches can detect loops. */
  via: string;
  userAgent: string;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 5;

export class HttpFetcher implements Fetcher {
  readonly #agent: Agent;
  readonly #options: HttpFetcherOptions;

  constructor(options: HttpFetcherOptions) {
    this.#options = options;
    this.#agent = new UndiciAgent({
      connect: lazyTlsConnector(options.connectTimeoutMs, options.ca ?? []),
      headersTimeout: options.idleTimeoutMs,
      bodyTimeout: options.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      connections: 64,
    });
  }

  async fetch(url: URL, init: FetchInit): Promise<UpstreamResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const started = performance.now();
      let response;
      try {
        response = await undiciRequest.call(this.#agent, {
          origin: current.origin,
          path: current.pathname + current.search,
          method: init.method,
          headers: {
            ...init.headers,
            'user-agent': this.#options.userAgent,
            via: this.#options.via,
            // Bytes are stored and hashed exactly as the repository published them.
            'accept-encoding': 'identity',
          },
          signal: init.signal ?? null,
        });
      } catch (err) {
        const error = upstreamErrorFrom(err, current.href);
        publishUpstream({ upstream: current.origin, url: current.href, method: init.method, durationMs: performance.now() - started, errorCode: error.code, error: error.message });
        throw error;
      }
      // undici errors a body destroyed before its end (RequestAbortedError); with no listener that error would
      // crash the process. Consumers that read the body still see real errors through their own listeners.
      response.body.on('error', ignoreError);
      const headers = flattenHeaders(response.headers);
      publishUpstream({ upstream: current.origin, url: current.href, method: init.method, status: response.statusCode, durationMs: performance.now() - started });
      const location = headers.location;
      if (redirectStatuses.has(response.statusCode) && location !== undefined) {
        response.body.destroy();
        if (hop >= maxRedirects) throw new HoardError('HOARD_ERR_UPSTREAM_STATUS', `too many redirects from ${url.href}`, { detail: 'upstream redirect loop' });
        const next = new URL(location, current);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new HoardError('HOARD_ERR_UPSTREAM_STATUS', `upstream redirected ${current.href} to a non-HTTP URL`, { detail: 'upstream redirect refused' });
        }
        // Never follow a redirect from https down to http: that would silently downgrade the transport.
        if (current.protocol === 'https:' && next.protocol === 'http:') {
          throw new HoardError('HOARD_ERR_UPSTREAM_STATUS', `upstream redirected ${current.href} from https to http`, { detail: 'upstream redirect downgrade refused' });
        }
        current = next;
        continue;
      }
      return { status: response.statusCode, headers, body: response.body as unknown as Readable, url: current };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

function ignoreError(): void {}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(raw)) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

/**
 * Dials plain and TLS connections; the TLS trust (the system store plus any extra CAs: a certificate
 * none of them vouches for fails the handshake) is built at the first https connection, not before.
 * Parsing the system store costs about 16 MB resident, which a cache of http mirrors (apt's usual
 * case) never needs.
 */
function lazyTlsConnector(timeout: number, extraCas: readonly string[]): UndiciConnect.connector {
  const plain = buildConnector({ timeout });
  let secure: UndiciConnect.connector | undefined;
  return (options, callback) => {
    if (options.protocol !== 'https:') {
      plain(options, callback);
      return;
    }
    secure ??= buildConnector({ timeout, secureContext: trustedSecureContext(extraCas) });
    secure(options, callback);
  };
}
