// Subscribes to the diagnostics channels and keeps hoard's numbers: Prometheus metrics and the dashboard's snapshot.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../clock.ts';
import {
  channels,
  type DownloadEvent,
  type EvictionEvent,
  type MirrorHealthEvent,
  type RequestEvent,
  type StoreEvent,
  type UpstreamEvent,
  type VerificationEvent,
} from '../events.ts';
import { DeferredCounter } from './deferred-counter.ts';
import { UpstreamLabelSet, otherUpstream } from './upstream-label-set.ts';

/** Numbers that are read when asked for, not counted from events. */
export interface LiveSources {
  activeDownloads(): ReadonlyArray<{ key: string; written: number; expected: number | undefined; relaying: boolean }>;
  storeUsage(): { bytes: number; objects: number; entries: number; maxBytes: number | undefined };
}

/** Results served from what the store holds, and results that had to come from upstream. */
export const cacheResults = new Set(['hit', 'revalidated', 'stale']);
export const upstreamResults = new Set(['miss', 'coalesced', 'passthrough']);
const knownResults = new Set([...cacheResults, ...upstreamResults, 'refused', 'error', 'not-found', 'upstream-status', 'usage', 'admin']);

/** Seconds per point of the dashboard's charts, and how many points are kept (one hour). */
export const bucketSeconds = 10;
const bucketCount = 360;
const maxTrackedPackages = 5000;
const maxRecentFailures = 20;
/**
 * Upstreams beyond the configured ones that get a metrics label, and that the health table keeps. A lab
 * cache proxies a handful to a few dozen repositories; 64 leaves room for that, while the labelled series
 * stay under about 2,000 (a 12-bucket histogram for two outcomes plus a gauge per upstream, ~200 KB).
 */
export const maxUpstreamsTracked = 64;
/** Upstreams that /health lists one by one (the worst first), and failing ones it names in its warnings. */
export const maxUpstreamsListed = 10;

export interface SeriesPoint {
  /** Bucket start, epoch seconds. */
  t: number;
  cacheRequests: number;
  upstreamRequests: number;
  otherRequests: number;
  cacheBytes: number;
  upstreamBytes: number;
}

export interface UpstreamHealth {
  upstream: string;
  /** Configured (a backend's mirror, an httpsUpgrade target): always tracked and labelled. */
  configured: boolean;
  state: 'ok' | 'failing';
  requests: number;
  failures: number;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  lastOkAt: number | undefined;
}

export interface StatsSnapshot {
  at: number;
  startedAt: number;
  requests: Record<string, number>;
  /** (hit + revalidated + stale) / (those + miss + coalesced + passthrough); undefined before any such request. */
  hitRatio: number | undefined;
  bytes: { servedFromCache: number; servedFromUpstream: number; fetchedUpstream: number; saved: number };
  downloads: { inFlight: Array<{ key: string; written: number; expected: number | undefined; relaying: boolean }>; completed: number; failed: number };
  /** Configured upstreams and at most `maxUpstreamsTracked` others, the worst first. */
  upstreams: UpstreamHealth[];
  /** `forgotten`: upstreams dropped from `upstreams` to keep it bounded (the least recently used, never-answered ones first). */
  upstreamCounts: { tracked: number; failing: number; forgotten: number };
  /** The items protocols name (apt: package files), the most requested first, with the protocol that named each. */
  topPackages: Array<{ name: string; protocol: string; requests: number; bytes: number }>;
  /** Figures per protocol, by name; `none` holds requests no protocol claimed. */
  protocols: Record<string, ProtocolFigures>;
  /** Figures per named upstream (an image stream, an apt backend, an OCI registry), by its key, the busiest first. */
  namedUpstreams: NamedUpstreamFigures[];
  store: { bytes: number; objects: number; entries: number; maxBytes: number | undefined; full: boolean; fullDetail: string | undefined };
  verificationFailures: { total: number; recent: Array<VerificationEvent & { at: number }> };
  evictions: { total: number; bytes: number; byReason: Record<string, number> };
  series: SeriesPoint[];
}

/** What the collector needs to know of the configuration. */
export interface CollectorOptions {
  /** Origins the operator configured (backend mirrors, httpsUpgrade targets): always labelled and tracked. */
  configuredUpstreams?: Iterable<string> | undefined;
  /** The installed protocols' names: the `protocol` label takes only these (and `none`), so it stays bounded. */
  protocols?: readonly string[] | undefined;
  /**
   * Keys of the named upstreams the configuration made (`image:<name>`, `backend:<name>`, `oci:<registry>`): their
   * series exist from the start. Keys that name an origin (an OCI token realm's) are left out, as in `namedUpstreamOf`.
   */
  namedUpstreams?: Iterable<string> | undefined;
}

/**
 * One named upstream's traffic. Named upstreams exist only by configuration (a client cannot make one up), so
 * a label each stays bounded; origins that clients name in proxy and prefix mode are not among them.
 */
export interface NamedUpstreamFigures {
  upstream: string;
  requests: number;
  /** Requests answered from the store (hit, revalidated, stale). */
  hits: number;
  /** hits / (hits + requests answered from the upstream: miss, coalesced, passthrough); undefined before any such request. */
  hitRatio: number | undefined;
  servedFromCache: number;
  servedFromUpstream: number;
  /** Body bytes fetched from this upstream (downloads that ended, stored or failed). */
  fetchedUpstream: number;
  /** Served minus fetched: what clients got without it crossing the upstream link again. */
  saved: number;
  downloadsInFlight: number;
  /**
   * Requests that failed on the upstream's side: an error, a relayed upstream status other than 404, the upstream
   * refusing hoard's credentials. A client's bad request or a name the upstream does not have is not one.
   */
  errors: number;
}

/** Bound on named upstreams tracked; configuration names a handful, this only guards against a bug. */
const maxNamedUpstreams = 256;

/** The named upstream a cache key (or an upstream key) belongs to: `image:ubuntu/streams/...` -> `image:ubuntu`; none for origins. */
export function namedUpstreamOf(key: string | undefined): string | undefined {
  if (key === undefined || key.includes('://')) return undefined;
  const slash = key.indexOf('/');
  return slash === -1 ? key : key.slice(0, slash);
}

/** The `protocol` label of requests no protocol claimed (admin pages excepted: refused before routing, usage page). */
export const noProtocol = 'none';

/** One protocol's share of the traffic, for the dashboard. */
export interface ProtocolFigures {
  requests: number;
  /** (hit + revalidated + stale) / (those + miss + coalesced + passthrough) of this protocol's requests. */
  hitRatio: number | undefined;
  servedFromCache: number;
  servedFromUpstream: number;
}

export class MetricsCollector {
  readonly registry = new Registry();
  readonly #sources: LiveSources;
  readonly #labels: UpstreamLabelSet;
  #forgottenUpstreams = 0;
  #unconfiguredUpstreams = 0;
  readonly #clock: Clock;
  readonly #startedAt: number;
  readonly #requests = new Map<string, number>();
  readonly #bytes = { servedFromCache: 0, servedFromUpstream: 0, fetchedUpstream: 0 };
  readonly #downloads = { completed: 0, failed: 0 };
  readonly #upstreams = new Map<string, UpstreamHealth>();
  readonly #packages = new Map<string, { protocol: string; requests: number; bytes: number }>();
  readonly #protocolNames: ReadonlySet<string>;
  readonly #byProtocol = new Map<
    string,
    { requests: number; cacheRequests: number; upstreamRequests: number; servedFromCache: number; servedFromUpstream: number }
  >();
  readonly #named = new Map<
    string,
    { requests: number; hits: number; upstreamRequests: number; servedFromCache: number; servedFromUpstream: number; fetchedUpstream: number; errors: number }
  >();
  readonly #verification = { total: 0, recent: [] as Array<VerificationEvent & { at: number }> };
  readonly #evictions = { total: 0, bytes: 0, byReason: {} as Record<string, number> };
  #storeFull: string | undefined;
  readonly #series: SeriesPoint[] = [];

  readonly #m;
  readonly #subscriptions: Array<[{ subscribe(f: (m: unknown) => void): void; unsubscribe(f: (m: unknown) => void): unknown }, (m: unknown) => void]>;

  constructor(sources: LiveSources, clock: Clock, options: CollectorOptions = {}) {
    this.#sources = sources;
    this.#labels = new UpstreamLabelSet(options.configuredUpstreams ?? [], maxUpstreamsTracked);
    this.#protocolNames = new Set(options.protocols ?? []);
    this.#clock = clock;
    this.#startedAt = clock.now();
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'hoard_' });
    this.#m = {
      requests: new DeferredCounter({
        name: 'hoard_requests_total',
        help: 'Client requests by how they were answered (hit, miss, revalidated, stale, coalesced, error, ...).',
        labelNames: ['protocol', 'result'],
        registers,
      }),
      servedBytes: new DeferredCounter({
        name: 'hoard_served_bytes_total',
        help: 'Body bytes sent to clients, by source: cache (stored copy) or upstream (fetched for this request or one it joined).',
        labelNames: ['protocol', 'source'],
        registers,
      }),
      upstreamBytes: new Counter({ name: 'hoard_upstream_bytes_total', help: 'Body bytes fetched from upstreams.', registers }),
      upstreamLatency: new Histogram({
        name: 'hoard_upstream_request_duration_seconds',
        help:
          'Time from sending an upstream request to its response headers (or failure); ' +
          `upstreams beyond the configured ones and the first ${maxUpstreamsTracked} that answered are upstream="${otherUpstream}".`,
        labelNames: ['upstream', 'outcome'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      }),
      downloads: new Counter({
        name: 'hoard_downloads_total',
        help: 'Upstream downloads finished, by outcome (ok or failed).',
        labelNames: ['outcome'],
        registers,
      }),
      verification: new Counter({
        name: 'hoard_verification_failures_total',
        help: 'Objects whose size, hash or signature did not match what the indices promise.',
        labelNames: ['failure'],
        registers,
      }),
      evictions: new Counter({
        name: 'hoard_evictions_total',
        help: 'Objects removed from the store, by reason (orphan, unreferenced, lru, admin).',
        labelNames: ['reason'],
        registers,
      }),
      evictedBytes: new Counter({ name: 'hoard_evicted_bytes_total', help: 'Bytes removed from the store, by reason.', labelNames: ['reason'], registers }),
      namedRequests: new DeferredCounter({
        name: 'hoard_named_upstream_requests_total',
        help: 'Client requests per named upstream (image streams, apt backends, registries), by how they were answered.',
        labelNames: ['upstream', 'result'],
        registers,
      }),
      namedServedBytes: new DeferredCounter({
        name: 'hoard_named_upstream_served_bytes_total',
        help: 'Body bytes sent to clients per named upstream, by source (cache or upstream).',
        labelNames: ['upstream', 'source'],
        registers,
      }),
      namedFetchedBytes: new Counter({
        name: 'hoard_named_upstream_fetched_bytes_total',
        help: 'Body bytes fetched from each named upstream.',
        labelNames: ['upstream'],
        registers,
      }),
      upstreamUp: new Gauge({
        name: 'hoard_upstream_up',
        help: '1 when the last exchange with this upstream succeeded, 0 when it failed; only for upstreams with a label of their own.',
        labelNames: ['upstream'],
        registers,
      }),
    };
    // Series that exist from the start, so a scrape (and a rate()) sees 0 rather than nothing.
    for (const protocol of this.#protocolNames) {
      for (const result of ['hit', 'miss', 'revalidated', 'stale', 'coalesced', 'error']) this.#m.requests.inc(protocol, result, 0);
      for (const source of ['cache', 'upstream']) this.#m.servedBytes.inc(protocol, source, 0);
    }
    for (const outcome of ['ok', 'error']) this.#m.upstreamLatency.zero({ upstream: otherUpstream, outcome });
    for (const key of options.namedUpstreams ?? []) this.#namedFigures(namedUpstreamOf(key));
    const sourcesForGauge = this.#sources;
    const named = this.#named;
    new Gauge({
      name: 'hoard_named_upstream_downloads_in_flight',
      help: 'Upstream downloads in progress per named upstream.',
      labelNames: ['upstream'],
      registers,
      collect() {
        const counts = inFlightByNamed(sourcesForGauge.activeDownloads());
        for (const upstream of named.keys()) this.set({ upstream }, counts.get(upstream) ?? 0);
      },
    });
    const live = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    live('hoard_downloads_in_flight', 'Upstream downloads in progress.', () => this.#sources.activeDownloads().length);
    live('hoard_store_bytes', 'Bytes held by the store.', () => this.#sources.storeUsage().bytes);
    live('hoard_store_objects', 'Distinct objects (blobs) in the store.', () => this.#sources.storeUsage().objects);
    live('hoard_store_entries', 'Cached URLs (several may share one object).', () => this.#sources.storeUsage().entries);
    live('hoard_store_max_bytes', 'The configured disk cap (maxSize); 0 when there is none.', () => this.#sources.storeUsage().maxBytes ?? 0);
    live('hoard_store_full', '1 while the disk is full and downloads are passed through uncached.', () => (this.#storeFull === undefined ? 0 : 1));

    this.#subscriptions = [
      [channels.request, (e) => this.#onRequest(e as RequestEvent)],
      [channels.upstream, (e) => this.#onUpstream(e as UpstreamEvent)],
      [channels.download, (e) => this.#onDownload(e as DownloadEvent)],
      [channels.verification, (e) => this.#onVerification(e as VerificationEvent)],
      [channels.mirrorHealth, (e) => this.#onMirrorHealth(e as MirrorHealthEvent)],
      [channels.eviction, (e) => this.#onEviction(e as EvictionEvent)],
      [channels.store, (e) => this.#onStore(e as StoreEvent)],
    ];
  }

  start(): this {
    for (const [channel, handler] of this.#subscriptions) channel.subscribe(handler);
    return this;
  }

  stop(): void {
    for (const [channel, handler] of this.#subscriptions) channel.unsubscribe(handler);
  }

  /** Why the cache is degraded right now (health answers 503 while there is one). */
  problems(): string[] {
    return this.#storeFull === undefined ? [] : [`store full: downloads are passed through uncached (${this.#storeFull})`];
  }

  /** Worth knowing, but the cache still works (health stays 200). */
  warnings(): string[] {
    const out: string[] = [];
    const failing = this.#worstUpstreams().filter((u) => u.state === 'failing');
    for (const u of failing.slice(0, maxUpstreamsListed)) out.push(`upstream ${u.upstream} failing: ${u.lastError ?? 'unknown error'}`);
    if (failing.length > maxUpstreamsListed) out.push(`${failing.length - maxUpstreamsListed} more upstreams failing (see stats.json)`);
    const usage = this.#sources.storeUsage();
    if (usage.maxBytes !== undefined && usage.bytes > usage.maxBytes) out.push(`store holds ${usage.bytes} bytes, over its cap of ${usage.maxBytes}`);
    return out;
  }

  #point(): SeriesPoint {
    const t = Math.floor(this.#clock.now() / 1000 / bucketSeconds) * bucketSeconds;
    const last = this.#series.at(-1);
    if (last?.t === t) return last;
    const point = { t, cacheRequests: 0, upstreamRequests: 0, otherRequests: 0, cacheBytes: 0, upstreamBytes: 0 };
    this.#series.push(point);
    if (this.#series.length > bucketCount) this.#series.shift();
    return point;
  }

  #onRequest(e: RequestEvent): void {
    if (e.result === 'admin') return;
    const result = knownResults.has(e.result) ? e.result : 'other';
    const protocol = e.protocol !== undefined && this.#protocolNames.has(e.protocol) ? e.protocol : noProtocol;
    this.#requests.set(result, (this.#requests.get(result) ?? 0) + 1);
    this.#m.requests.inc(protocol, result);
    const figures = this.#figures(protocol);
    figures.requests += 1;
    const point = this.#point();
    if (cacheResults.has(result)) {
      this.#bytes.servedFromCache += e.bytes;
      this.#m.servedBytes.inc(protocol, 'cache', e.bytes);
      figures.cacheRequests += 1;
      figures.servedFromCache += e.bytes;
      point.cacheRequests += 1;
      point.cacheBytes += e.bytes;
    } else if (upstreamResults.has(result)) {
      this.#bytes.servedFromUpstream += e.bytes;
      this.#m.servedBytes.inc(protocol, 'upstream', e.bytes);
      figures.upstreamRequests += 1;
      figures.servedFromUpstream += e.bytes;
      point.upstreamRequests += 1;
    } else {
      point.otherRequests += 1;
    }
    if (e.item !== undefined && (cacheResults.has(result) || upstreamResults.has(result))) this.#countItem(e.item, protocol, e.bytes);
    const upstream = namedUpstreamOf(e.upstream);
    const named = this.#namedFigures(upstream);
    if (named !== undefined && upstream !== undefined) {
      named.requests += 1;
      this.#m.namedRequests.inc(upstream, result);
      if (cacheResults.has(result)) {
        named.hits += 1;
        named.servedFromCache += e.bytes;
        this.#m.namedServedBytes.inc(upstream, 'cache', e.bytes);
      } else if (upstreamResults.has(result)) {
        named.upstreamRequests += 1;
        named.servedFromUpstream += e.bytes;
        this.#m.namedServedBytes.inc(upstream, 'upstream', e.bytes);
      } else if (result === 'error' || result === 'upstream-status' || e.errorCode === 'HOARD_ERR_UPSTREAM_AUTH') {
        // Failures of the upstream (or of hoard reaching it), not a client's bad request or a name it does not have.
        named.errors += 1;
      }
    }
  }

  /** The figures of a named upstream, made on first sight (with zeroed series) while under the bound. */
  #namedFigures(upstream: string | undefined) {
    if (upstream === undefined) return undefined;
    let figures = this.#named.get(upstream);
    if (figures === undefined && this.#named.size < maxNamedUpstreams) {
      figures = { requests: 0, hits: 0, upstreamRequests: 0, servedFromCache: 0, servedFromUpstream: 0, fetchedUpstream: 0, errors: 0 };
      this.#named.set(upstream, figures);
      for (const result of ['hit', 'miss', 'revalidated', 'stale', 'coalesced', 'error']) this.#m.namedRequests.inc(upstream, result, 0);
      for (const source of ['cache', 'upstream']) this.#m.namedServedBytes.inc(upstream, source, 0);
      this.#m.namedFetchedBytes.inc({ upstream }, 0);
    }
    return figures;
  }

  #figures(protocol: string) {
    let figures = this.#byProtocol.get(protocol);
    if (figures === undefined) {
      figures = { requests: 0, cacheRequests: 0, upstreamRequests: 0, servedFromCache: 0, servedFromUpstream: 0 };
      this.#byProtocol.set(protocol, figures);
    }
    return figures;
  }

  /** An item the claiming protocol named (a package file, an image): counted for the dashboard's top list. */
  #countItem(name: string, protocol: string, bytes: number): void {
    const key = `${protocol}\n${name}`;
    const seen = this.#packages.get(key);
    if (seen) {
      seen.requests += 1;
      seen.bytes += bytes;
    } else if (this.#packages.size < maxTrackedPackages) {
      this.#packages.set(key, { protocol, requests: 1, bytes });
    }
  }

  #onUpstream(e: UpstreamEvent): void {
    const failed = e.errorCode !== undefined || (e.status !== undefined && e.status >= 500);
    const outcome = failed ? 'error' : 'ok';
    const label = this.#labels.label(e.upstream, e.status !== undefined);
    this.#m.upstreamLatency.observe({ upstream: label, outcome }, e.durationMs / 1000);
    const u = this.#trackUpstream(e.upstream);
    u.requests += 1;
    if (failed) {
      u.failures += 1;
      u.state = 'failing';
      u.lastError = clip(e.error ?? `HTTP ${e.status ?? '?'}`);
      u.lastErrorAt = this.#clock.now();
    } else {
      u.state = 'ok';
      u.lastOkAt = this.#clock.now();
    }
    if (label !== otherUpstream) this.#m.upstreamUp.set({ upstream: label }, failed ? 0 : 1);
  }

  /**
   * The health entry of `upstream`, made the most recently used. Past `maxUpstreamsTracked` entries besides the
   * configured ones, the least recently used one that never answered goes first (so a flood of dead hosts does
   * not push out a working mirror), else the least recently used; `forgotten` counts them.
   */
  #trackUpstream(upstream: string): UpstreamHealth {
    let u = this.#upstreams.get(upstream);
    if (u !== undefined) {
      this.#upstreams.delete(upstream);
      this.#upstreams.set(upstream, u);
      return u;
    }
    const configured = this.#labels.isPinned(upstream);
    u = { upstream, configured, state: 'ok', requests: 0, failures: 0, lastError: undefined, lastErrorAt: undefined, lastOkAt: undefined };
    this.#upstreams.set(upstream, u);
    if (!configured) {
      this.#unconfiguredUpstreams += 1;
      if (this.#unconfiguredUpstreams > maxUpstreamsTracked) this.#forgetOneUpstream();
    }
    return u;
  }

  #forgetOneUpstream(): void {
    let victim: string | undefined;
    for (const [key, u] of this.#upstreams) {
      if (u.configured) continue;
      victim ??= key;
      if (u.lastOkAt === undefined) {
        victim = key;
        break;
      }
    }
    if (victim === undefined) return;
    this.#upstreams.delete(victim);
    this.#unconfiguredUpstreams -= 1;
    this.#forgottenUpstreams += 1;
  }

  /** Failing before working, configured before the rest, the most recent failure first. */
  #worstUpstreams(): UpstreamHealth[] {
    return [...this.#upstreams.values()].sort(
      (a, b) =>
        Number(b.state === 'failing') - Number(a.state === 'failing') ||
        Number(b.configured) - Number(a.configured) ||
        (b.lastErrorAt ?? 0) - (a.lastErrorAt ?? 0) ||
        a.upstream.localeCompare(b.upstream),
    );
  }

  #onMirrorHealth(e: MirrorHealthEvent): void {
    // Mirrors of a backend report through here too; their origin is the upstream label.
    const origin = safeOrigin(e.mirror);
    const u = this.#upstreams.get(origin);
    if (u && !e.healthy && e.error !== undefined) u.lastError = clip(e.error);
  }

  #onDownload(e: DownloadEvent): void {
    if (e.phase === 'start') return;
    this.#bytes.fetchedUpstream += e.bytes;
    const upstream = namedUpstreamOf(e.key);
    const named = this.#namedFigures(upstream);
    if (named !== undefined && upstream !== undefined) {
      named.fetchedUpstream += e.bytes;
      this.#m.namedFetchedBytes.inc({ upstream }, e.bytes);
    }
    this.#m.upstreamBytes.inc(e.bytes);
    this.#point().upstreamBytes += e.bytes;
    if (e.phase === 'end') this.#downloads.completed += 1;
    else this.#downloads.failed += 1;
    this.#m.downloads.inc({ outcome: e.phase === 'end' ? 'ok' : 'failed' });
  }

  #onVerification(e: VerificationEvent): void {
    this.#verification.total += 1;
    this.#verification.recent.unshift({ ...e, at: this.#clock.now() });
    this.#verification.recent.length = Math.min(this.#verification.recent.length, maxRecentFailures);
    this.#m.verification.inc({ failure: e.failure });
  }

  #onEviction(e: EvictionEvent): void {
    this.#evictions.total += 1;
    this.#evictions.bytes += e.bytes;
    this.#evictions.byReason[e.reason] = (this.#evictions.byReason[e.reason] ?? 0) + 1;
    this.#m.evictions.inc({ reason: e.reason });
    this.#m.evictedBytes.inc({ reason: e.reason }, e.bytes);
  }

  #onStore(e: StoreEvent): void {
    this.#storeFull = e.state === 'full' ? (e.detail ?? 'disk full') : undefined;
  }

  #countFailing(): number {
    let n = 0;
    for (const u of this.#upstreams.values()) if (u.state === 'failing') n += 1;
    return n;
  }

  #namedSnapshot(): NamedUpstreamFigures[] {
    const inFlight = inFlightByNamed(this.#sources.activeDownloads());
    return [...this.#named]
      .map(([upstream, f]): NamedUpstreamFigures => ({
        upstream,
        requests: f.requests,
        hits: f.hits,
        hitRatio: f.hits + f.upstreamRequests === 0 ? undefined : f.hits / (f.hits + f.upstreamRequests),
        servedFromCache: f.servedFromCache,
        servedFromUpstream: f.servedFromUpstream,
        fetchedUpstream: f.fetchedUpstream,
        saved: Math.max(0, f.servedFromCache + f.servedFromUpstream - f.fetchedUpstream),
        downloadsInFlight: inFlight.get(upstream) ?? 0,
        errors: f.errors,
      }))
      .sort((a, b) => b.requests - a.requests || a.upstream.localeCompare(b.upstream));
  }

  snapshot(): StatsSnapshot {
    this.#point();
    const requests = Object.fromEntries([...this.#requests].sort());
    let fromCache = 0;
    let fromUpstream = 0;
    for (const [result, n] of this.#requests) {
      if (cacheResults.has(result)) fromCache += n;
      if (upstreamResults.has(result)) fromUpstream += n;
    }
    const usage = this.#sources.storeUsage();
    const served = this.#bytes.servedFromCache + this.#bytes.servedFromUpstream;
    return {
      at: this.#clock.now(),
      startedAt: this.#startedAt,
      requests,
      hitRatio: fromCache + fromUpstream === 0 ? undefined : fromCache / (fromCache + fromUpstream),
      bytes: { ...this.#bytes, saved: Math.max(0, served - this.#bytes.fetchedUpstream) },
      downloads: { inFlight: [...this.#sources.activeDownloads()], ...this.#downloads },
      upstreams: this.#worstUpstreams().map((u) => ({ ...u })),
      upstreamCounts: { tracked: this.#upstreams.size, failing: this.#countFailing(), forgotten: this.#forgottenUpstreams },
      topPackages: [...this.#packages]
        .map(([key, p]) => ({ name: key.slice(key.indexOf('\n') + 1), ...p }))
        .sort((a, b) => b.requests - a.requests || b.bytes - a.bytes || a.name.localeCompare(b.name))
        .slice(0, 10),
      protocols: Object.fromEntries(
        [...this.#byProtocol].map(([name, f]) => {
          const decided = f.cacheRequests + f.upstreamRequests;
          const figures: ProtocolFigures = {
            requests: f.requests,
            hitRatio: decided === 0 ? undefined : f.cacheRequests / decided,
            servedFromCache: f.servedFromCache,
            servedFromUpstream: f.servedFromUpstream,
          };
          return [name, figures];
        }),
      ),
      namedUpstreams: this.#namedSnapshot(),
      store: { ...usage, full: this.#storeFull !== undefined, fullDetail: this.#storeFull },
      verificationFailures: { total: this.#verification.total, recent: [...this.#verification.recent] },
      evictions: { ...this.#evictions, byReason: { ...this.#evictions.byReason } },
      series: this.#series.map((p) => ({ ...p })),
    };
  }
}

/** Downloads in progress per named upstream. */
function inFlightByNamed(downloads: ReturnType<LiveSources['activeDownloads']>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const d of downloads) {
    const upstream = namedUpstreamOf(d.key);
    if (upstream !== undefined) counts.set(upstream, (counts.get(upstream) ?? 0) + 1);
  }
  return counts;
}

/** An error kept per upstream is shown in health and on the dashboard; it may quote a client-chosen URL of 4 KB. */
function clip(text: string): string {
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
