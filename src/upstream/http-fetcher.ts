// Fetcher over undici: pooled keep-alive connections, connect/idle timeouts, guarded redirects, checked destinations, extra CAs.
import type { Agent, Dispatcher, Pool, ProxyAgent, buildConnector as UndiciConnect } from 'undici';
// The dispatcher and its request call alone, not the package's index: the index also sets up fetch,
// WebSocket, caches and mocks, and touches the globals that load Node's own bundled copy of undici.
// Together with the node:http import in http/proxy-server.ts, 3-6 MB resident at idle (measured).
// These paths are not undici's public API: package.json pins the exact version, and undici-modules.test.ts
// fails when an update moves them or they stop being the index's Agent, Dispatcher#request and buildConnector.
import UndiciAgent from 'undici/lib/dispatcher/agent.js';
import undiciRequest from 'undici/lib/api/api-request.js';
import buildConnector from 'undici/lib/core/connect.js';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { publishUpstream } from '../events.ts';
import { HoardError, errorCodes, type ErrorCode } from '../errors.ts';
import type { DestinationGuard } from './destination-guard.ts';
import type { FetchInit, Fetcher, RedirectGuard, UpstreamResponse } from './fetcher.ts';
import type { OutboundRoute, OutboundRoutes } from './outbound-routes.ts';
import { trustedSecureContext } from './tls-trust.ts';
import { proxyErrorFrom, upstreamErrorFrom } from './upstream-errors.ts';

export interface HttpFetcherOptions {
  connectTimeoutMs: number;
  /** Longest wait for response headers, and longest silence between body chunks. */
  idleTimeoutMs: number;
  /** Extra trusted CA certificates (PEM), added to the system store; never a replacement for it. */
  ca?: string[] | undefined;
  /** Sent upstream so that a chain of caches can detect loops. */
  via: string;
  userAgent: string;
  /**
   * Checks every connection's destination (deniedUpstreamNetworks); for the fetcher of client-chosen
   * origins only. Redirect hops use the same connections, so they are checked the same way.
   */
  destinations?: DestinationGuard | undefined;
  /** Direct, through the outbound proxy or to the parent, per URL (every redirect hop is routed anew); absent: direct. */
  outbound?: OutboundRoutes | undefined;
}

const directRoute: OutboundRoute = { kind: 'direct' };

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 5;
// RFC 9110 15.4: a user agent must not send these along a redirect to another origin (RFC 9110 11.6.2, 11.7.2; RFC 6265 5.4).
const credentialHeaders = ['authorization', 'proxy-authorization', 'cookie'];

export class HttpFetcher implements Fetcher {
  readonly #agent: Agent;
  readonly #options: HttpFetcherOptions;
  /** Built at the first request that needs them: the parent's agent, and one ProxyAgent per proxy and scheme. */
  #parentAgent: Agent | undefined;
  readonly #proxyAgents = new Map<string, ProxyAgent>();

  constructor(options: HttpFetcherOptions) {
    this.#options = options;
    this.#agent = new UndiciAgent({
      connect: lazyTlsConnector(options.connectTimeoutMs, options.ca ?? [], options.destinations),
      ...this.#poolOptions(),
    });
  }

  #poolOptions() {
    return { headersTimeout: this.#options.idleTimeoutMs, bodyTimeout: this.#options.idleTimeoutMs, keepAliveTimeout: 30_000, connections: 64 };
  }

  /** Where one hop goes: the dispatcher, and the origin and path undici is given for it. */
  #dispatch(route: OutboundRoute, url: URL): { dispatcher: Dispatcher; origin: string; path: string } {
    const path = url.pathname + url.search;
    if (route.kind === 'direct') return { dispatcher: this.#agent, origin: url.origin, path };
    if (route.kind === 'parent') {
      // The parent is the operator's own machine, often on a private network: the denied networks guard the
      // destination (checked before), never the connection to the parent.
      this.#parentAgent ??= new UndiciAgent({
        connect: lazyTlsConnector(this.#options.connectTimeoutMs, this.#options.ca ?? [], undefined),
        ...this.#poolOptions(),
      });
      // RFC 9112 3.2.2: absolute-form, for https:// targets too, so that the parent fetches (and caches) them itself.
      return { dispatcher: this.#parentAgent, origin: route.via.origin, path: url.origin + path };
    }
    const key = `${url.protocol} ${route.via.href}`;
    let agent = this.#proxyAgents.get(key);
    if (agent === undefined) {
      agent = newProxyAgent(route.via, url.protocol === 'https:', this.#options, this.#poolOptions());
      this.#proxyAgents.set(key, agent);
    }
    return { dispatcher: agent, origin: url.origin, path };
  }

  async fetch(url: URL, init: FetchInit): Promise<UpstreamResponse> {
    let current = url;
    let headers: Record<string, string> = {
      ...init.headers,
      'user-agent': this.#options.userAgent,
      // RFC 9110 7.6.3: each proxy appends itself; passing the chain on lets a hoard further up see a loop back to it.
      via: init.via === undefined ? this.#options.via : `${init.via}, ${this.#options.via}`,
      // Bytes are stored and hashed exactly as the repository published them.
      'accept-encoding': 'identity',
    };
    for (let hop = 0; ; hop++) {
      const started = performance.now();
      const route = this.#options.outbound?.route(current) ?? directRoute;
      let response;
      try {
        // Through a proxy or the parent hoard connects to no destination address itself: the guard checks the destination's name here.
        if (route.kind !== 'direct' && this.#options.destinations?.active === true) await this.#options.destinations.check(current.hostname);
        const { dispatcher, origin, path } = this.#dispatch(route, current);
        response = await undiciRequest.call(dispatcher, {
          origin,
          path,
          method: init.method,
          headers: route.kind === 'parent' ? { ...headers, host: current.host } : headers,
          signal: init.signal ?? null,
        });
      } catch (err) {
        let error = route.kind === 'direct' ? upstreamErrorFrom(err, current.href) : proxyErrorFrom(err, current.href, route);
        // A denied network is the client's doing on the first request (403), the upstream's on a redirect (502).
        if (hop > 0 && error.code === 'HOARD_ERR_UPSTREAM_DENIED') error = redirectRefused(url, current, error.message, error);
        publishUpstream({
          upstream: current.origin,
          url: current.href,
          method: init.method,
          durationMs: performance.now() - started,
          errorCode: error.code,
          error: error.message,
        });
        throw error;
      }
      // undici errors a body destroyed before its end (RequestAbortedError); with no listener that error would
      // crash the process. Consumers that read the body still see real errors through their own listeners.
      response.body.on('error', ignoreError);
      const responseHeaders = flattenHeaders(response.headers);
      publishUpstream({
        upstream: current.origin,
        url: current.href,
        method: init.method,
        status: response.statusCode,
        durationMs: performance.now() - started,
      });
      // A hoard further up found this request's Via chain looping back to it: the chain is a loop, ours to report too.
      if (response.statusCode === 508 && responseHeaders['x-hoard-error'] === 'HOARD_ERR_LOOP_DETECTED') {
        response.body.destroy();
        const by = route.kind === 'direct' ? current.origin : `${route.kind} ${route.label}`;
        throw new HoardError('HOARD_ERR_LOOP_DETECTED', `${by} found a loop of caches asking for ${current.href} (Via: ${String(headers.via)})`, {
          detail: 'request loop detected between caches (check upstream.parent and upstream.proxy on each node)',
        });
      }
      // The parent's own failure (its upstream down, a TLS check failed): passed on with its code, so the site's
      // clients and logs say what went wrong up the chain, and a stale copy is served as for any upstream failure.
      const relayed = responseHeaders['x-hoard-error'];
      if (route.kind === 'parent' && response.statusCode >= 500 && relayed !== undefined && Object.hasOwn(errorCodes, relayed)) {
        const said = await firstLine(response.body, responseHeaders['content-type']);
        const why = `parent ${route.label} answered ${response.statusCode}${said === '' ? ` ${relayed}` : `: ${said}`}`;
        throw new HoardError(relayed as ErrorCode, `${why} (asked for ${current.href})`, { detail: why });
      }
      const location = responseHeaders.location;
      if (redirectStatuses.has(response.statusCode) && location !== undefined) {
        response.body.destroy();
        if (hop >= maxRedirects) throw new HoardError('HOARD_ERR_UPSTREAM_STATUS', `too many redirects from ${url.href}`, { detail: 'upstream redirect loop' });
        const next = nextHop(url, current, location, init.redirectGuard);
        if (next.origin !== current.origin) headers = withoutCredentials(headers);
        current = next;
        continue;
      }
      return { status: response.statusCode, headers: responseHeaders, body: mapBodyErrors(response.body, current.href), url: current };
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.#agent.close(), this.#parentAgent?.close(), ...[...this.#proxyAgents.values()].map((a) => a.close())]);
  }
}

// Loaded only when a proxy is configured: most caches never need ProxyAgent's modules in memory.
const requireUndici = createRequire(import.meta.url);

/**
 * undici's ProxyAgent, one per proxy and target scheme. `proxyTunnel: false`: http:// targets go in
 * absolute-form (what every HTTP proxy understands, and what lets a caching proxy cache them), https://
 * ones through CONNECT, then TLS with hoard's trust end to end. The pools get hoard's timeouts (undici's
 * absolute-form wrapper would otherwise use its 300 s defaults). Credentials in the proxy URL are sent as
 * `Proxy-Authorization: Basic` by undici, to the proxy only.
 */
function newProxyAgent(proxy: URL, secure: boolean, options: HttpFetcherOptions, pool: Record<string, number>): ProxyAgent {
  const ProxyAgentClass = requireUndici('undici/lib/dispatcher/proxy-agent.js') as typeof ProxyAgent;
  const PoolClass = requireUndici('undici/lib/dispatcher/pool.js') as typeof Pool;
  // The index would add `connect` to every dispatcher's prototype; ProxyAgent's CONNECT needs it on its client to the proxy.
  const apiConnect = requireUndici('undici/lib/api/api-connect.js') as Dispatcher['connect'];
  const timeout = options.connectTimeoutMs;
  return new ProxyAgentClass({
    uri: proxy.href,
    clientFactory: (origin: URL, opts: object) => Object.assign(new PoolClass(origin, opts as Pool.Options), { connect: apiConnect }),
    proxyTunnel: false,
    proxyTls: { timeout },
    // The TLS context (the system store parsed, ~16 MB) only for the https agent.
    ...(secure ? { requestTls: { timeout, secureContext: trustedSecureContext(options.ca ?? []) } } : {}),
    ...pool,
    factory: (origin: string | URL, opts: object) => new PoolClass(origin, { ...(opts as Pool.Options), ...pool }),
  });
}

/** The URL a redirect leads to, after the fetcher's own rules and the caller's guard; throws HOARD_ERR_REDIRECT_REFUSED. */
function nextHop(first: URL, current: URL, location: string, guard: RedirectGuard | undefined): URL {
  const next = URL.parse(location, current.href);
  if (next === null) throw redirectRefused(first, current, `an unparsable Location ${JSON.stringify(location.slice(0, 200))}`);
  if (next.protocol !== 'http:' && next.protocol !== 'https:') throw redirectRefused(first, current, `a non-HTTP URL (${next.protocol})`);
  // Never follow a redirect from https down to http: that would silently downgrade the transport.
  if (current.protocol === 'https:' && next.protocol === 'http:') throw redirectRefused(first, current, `${next.origin}, from https to http`);
  // Credentials in a Location would be sent as Authorization by no one here, but they must not reach a log line either.
  next.username = '';
  next.password = '';
  next.hash = '';
  return guard === undefined ? next : guard(next, current);
}

function redirectRefused(first: URL, from: URL, why: string, cause?: unknown): HoardError {
  return new HoardError('HOARD_ERR_REDIRECT_REFUSED', `upstream ${from.href} (asked for ${first.href}) redirected to ${why}`, {
    cause,
    detail: 'upstream redirect refused',
  });
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  const kept = { ...headers };
  for (const name of credentialHeaders) delete kept[name];
  return kept;
}

/**
 * Makes the body error with HoardErrors, as the Fetcher contract says. undici errors a response body only
 * through its `destroy(err)` (body timeout, socket closed or reset, abort signal), so mapping the error of
 * that one call on this instance covers every case. A Transform or PassThrough in between would do the
 * same at the price of a second stream: one more push, read and buffer for every chunk of every download,
 * the hottest path there is. Re-emitting a mapped error from an 'error' listener cannot work: listeners
 * attached earlier, and the stream's own `errored`, would keep the raw one. A consumer's own destroy()
 * without an error is not an upstream failure and is left as undici reports it.
 */
function mapBodyErrors(body: Readable, url: string): Readable {
  const destroy = body.destroy.bind(body);
  body.destroy = (err?: Error) => destroy(err === undefined || err === null ? err : upstreamErrorFrom(err, url, true));
  return body;
}

function ignoreError(): void {}

/** The first line of a hoard's plain-text error body (`CODE: detail`), at most 512 bytes; '' for any other body. */
async function firstLine(body: Readable, contentType: string | undefined): Promise<string> {
  if (contentType?.startsWith('text/plain') !== true) {
    body.destroy();
    return '';
  }
  let text = '';
  try {
    for await (const chunk of body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length >= 512 || text.includes('\n')) break;
    }
  } catch {
    // A cut error body leaves what arrived.
  }
  body.destroy();
  // eslint-disable-next-line no-control-regex
  return (text.split('\n')[0] ?? '').slice(0, 512).replace(/[\x00-\x1f\x7f]/g, '');
}

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
function lazyTlsConnector(timeout: number, extraCas: readonly string[], guard: DestinationGuard | undefined): UndiciConnect.connector {
  const checked = guard?.active === true ? guard : undefined;
  // buildConnector passes its other options to net.connect / tls.connect: the guard's lookup resolves for them.
  const lookup = checked === undefined ? {} : { lookup: checked.lookup };
  const plain = buildConnector({ timeout, ...lookup });
  let secure: UndiciConnect.connector | undefined;
  return (options, callback) => {
    // net.connect skips lookup for an IP literal: those are checked here (undici gives IPv6 without brackets).
    const refused = checked !== undefined && isIP(options.hostname) !== 0 ? checked.refusal(options.hostname, [options.hostname]) : undefined;
    if (refused !== undefined) {
      queueMicrotask(() => callback(refused, null));
      return;
    }
    if (options.protocol !== 'https:') {
      plain(options, callback);
      return;
    }
    secure ??= buildConnector({ timeout, secureContext: trustedSecureContext(extraCas), ...lookup });
    secure(options, callback);
  };
}
