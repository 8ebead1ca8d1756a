// How each upstream request leaves the machine: direct, through the outbound proxy, or to the parent hoard.
import { HoardError } from '../errors.ts';
import { NoProxyList } from './no-proxy-list.ts';

export type OutboundRoute =
  | { readonly kind: 'direct' }
  /** An HTTP forward proxy: http:// targets in absolute-form, https:// through CONNECT. */
  | { readonly kind: 'proxy'; readonly via: URL; readonly label: string }
  /** Another hoard: every target, http:// and https://, in absolute-form, so that the parent caches it. */
  | { readonly kind: 'parent'; readonly via: URL; readonly label: string };

/** The `upstream` keys this module reads. */
export interface OutboundConfig {
  readonly proxy?: string | undefined;
  readonly noProxy?: readonly string[] | undefined;
  readonly parent?: string | undefined;
}

export interface OutboundSettings {
  readonly httpProxy?: URL | undefined;
  readonly httpsProxy?: URL | undefined;
  readonly parent?: URL | undefined;
  readonly noProxy: readonly string[];
  /** Where each setting came from, credentials left out: for the start-up log line. */
  readonly description: string;
}

const direct: OutboundRoute = { kind: 'direct' };

/**
 * Precedence, one rule: a configuration key wins over its environment variables, whole.
 * - `upstream.parent` set: everything goes to the parent (except `upstream.noProxy` matches); the proxy key
 *   and all the proxy variables, NO_PROXY included, are not read (the parent reaches out through its own proxy).
 * - `upstream.proxy` set: that proxy for http and https; `none` means direct, whatever the environment says.
 * - otherwise `http_proxy`/`HTTP_PROXY` for http:// upstreams and `https_proxy`/`HTTPS_PROXY` for https://
 *   ones, the lower-case spelling first (curl, wget and undici read it first).
 * - `upstream.noProxy` set: it; otherwise, for proxies, `no_proxy`/`NO_PROXY` (curl: `--noproxy` over NO_PROXY).
 */
export function outboundSettings(config: OutboundConfig, env: Readonly<Record<string, string | undefined>>): OutboundSettings {
  const envNoProxy = pick(env, 'no_proxy');
  const noProxy = config.noProxy ?? (envNoProxy === undefined ? [] : [envNoProxy.value]);
  const noProxyFrom = config.noProxy !== undefined ? 'upstream.noProxy' : envNoProxy !== undefined ? envNoProxy.name : undefined;
  const skipping = noProxyFrom === undefined ? '' : `, except what ${noProxyFrom} names`;
  if (config.parent !== undefined) {
    // The environment describes proxies, not parents: only upstream.noProxy exempts hosts from the parent.
    const parent = new URL(config.parent);
    const exempt = config.noProxy === undefined ? '' : ', except what upstream.noProxy names';
    return { parent, noProxy: config.noProxy ?? [], description: `upstream requests go to the parent ${label(parent)} (upstream.parent)${exempt}` };
  }
  if (config.proxy !== undefined) {
    if (config.proxy === 'none') return { noProxy: [], description: 'upstream requests go direct (upstream.proxy: none)' };
    const proxy = proxyUrl(config.proxy, 'upstream.proxy');
    return { httpProxy: proxy, httpsProxy: proxy, noProxy, description: `upstream requests go through ${label(proxy)} (upstream.proxy)${skipping}` };
  }
  const http = pick(env, 'http_proxy');
  const https = pick(env, 'https_proxy');
  const httpProxy = http === undefined ? undefined : proxyUrl(http.value, http.name);
  const httpsProxy = https === undefined ? undefined : proxyUrl(https.value, https.name);
  const parts = [
    httpProxy === undefined ? undefined : `http:// upstreams through ${label(httpProxy)} (${http?.name})`,
    httpsProxy === undefined ? undefined : `https:// upstreams through ${label(httpsProxy)} (${https?.name})`,
  ].filter((p) => p !== undefined);
  const description = parts.length === 0 ? 'upstream requests go direct' : `${parts.join(', ')}${skipping}`;
  return { httpProxy, httpsProxy, noProxy, description };
}

/** Decides the route of each URL; the fetcher asks it for every request and every redirect hop. */
export class OutboundRoutes {
  readonly #settings: OutboundSettings;
  readonly #noProxy: NoProxyList;
  readonly #http: OutboundRoute;
  readonly #https: OutboundRoute;

  constructor(settings: OutboundSettings) {
    this.#settings = settings;
    this.#noProxy = new NoProxyList(settings.noProxy);
    const { parent, httpProxy, httpsProxy } = settings;
    const through = (proxy: URL | undefined): OutboundRoute => (proxy === undefined ? direct : { kind: 'proxy', via: proxy, label: label(proxy) });
    this.#http = parent !== undefined ? { kind: 'parent', via: parent, label: label(parent) } : through(httpProxy);
    this.#https = parent !== undefined ? this.#http : through(httpsProxy);
  }

  /** Whether any request can leave other than directly. */
  get active(): boolean {
    return this.#http.kind !== 'direct' || this.#https.kind !== 'direct';
  }

  get description(): string {
    return this.#settings.description;
  }

  route(url: URL): OutboundRoute {
    const chosen = url.protocol === 'https:' ? this.#https : this.#http;
    if (chosen.kind === 'direct' || this.#noProxy.matches(url)) return direct;
    return chosen;
  }
}

/** A proxy URL with any credentials left out: what logs and error messages show. */
export function label(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/**
 * Parses a proxy URL from the configuration or the environment: http:// only (no TLS to the proxy), no
 * path; a value without a scheme (`proxy.example:3128`) is read as http://, as curl does.
 * Errors name where the value came from and never repeat it (it may hold a password).
 */
export function proxyUrl(value: string, from: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const url = URL.parse(text);
  if (url === null || url.hostname === '') throw new HoardError('HOARD_ERR_CONFIG', `${from}: not a proxy URL (expected http://[user:password@]host:port)`);
  if (url.protocol !== 'http:') {
    throw new HoardError('HOARD_ERR_CONFIG', `${from}: the proxy must be an http:// URL (https:// targets go through it with CONNECT), got ${url.protocol}//`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new HoardError('HOARD_ERR_CONFIG', `${from}: a proxy URL has no path or query (expected http://host:port)`);
  }
  return url;
}

function pick(env: Readonly<Record<string, string | undefined>>, lower: string): { name: string; value: string } | undefined {
  for (const name of [lower, lower.toUpperCase()]) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}
