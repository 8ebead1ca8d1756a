// Composition root: the only place that builds concrete classes and wires them; also the CLI entry point.
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { AdminHostPolicy, machineNames } from './admin/admin-host-policy.ts';
import type { Logger } from 'pino';
import { createAdminRoutes } from './admin/admin-routes.ts';
import { importDebs } from './admin/deb-importer.ts';
import { MetricsCollector } from './admin/metrics-collector.ts';
import { waterMarks } from './cache/eviction-policy.ts';
import { ReadThroughCache } from './cache/read-through-cache.ts';
import { StoreJanitor } from './cache/store-janitor.ts';
import { parseCliArgs, splitListen, usage } from './cli/cli-args.ts';
import { runServiceCommand } from './cli/service-commands.ts';
import { formatVerifyReport, verifyStore } from './cli/verify-command.ts';
import { systemClock, type Clock } from './clock.ts';
import { loadConfig } from './config/config-loader.ts';
import type { HoardConfig } from './config/config-schema.ts';
import type { MdnsAdvertiser } from './discovery/mdns-advertiser.ts';
import { HoardError, isHoardError } from './errors.ts';
import { channels, type RequestEvent, type TunnelEvent } from './events.ts';
import { HostAccess } from './http/client-access.ts';
import { ConnectTunnels } from './http/connect-tunnel.ts';
import { createHttpsListener } from './http/https-listener.ts';
import { createProxyServer } from './http/proxy-server.ts';
import { createLogging } from './logging/logger.ts';
import { protocolModules } from './protocols/installed-protocols.ts';
import type { UpstreamFactory } from './protocols/protocol.ts';
import { ProtocolSet } from './protocols/protocol-set.ts';
import { FsBlobStore } from './storage/fs-blob-store.ts';
import type { BlobStore } from './storage/blob-store.ts';
import type { MetadataIndex } from './storage/metadata-index.ts';
import { loadNodeId } from './storage/node-identity.ts';
import { loadServerIdentity, type ServerIdentity } from './tls/server-identity.ts';
import { ReaderTrackingBlobStore } from './storage/reader-tracking-blob-store.ts';
import { SqliteMetadataIndex } from './storage/sqlite-metadata-index.ts';
import type { ServingThreads, ServingThreadsOptions } from './serving/serving-threads.ts';
import { servingThreadCount } from './serving/thread-count.ts';
import { HeapGrowthCollector } from './runtime/heap-growth-collector.ts';
import { WriteWatchingIndex } from './serving/write-watching-index.ts';
import { reconcileStore } from './storage/store-reconciler.ts';
import { HttpFetcher } from './upstream/http-fetcher.ts';
import { MirrorHealth } from './upstream/mirror-health.ts';
import { MirrorSet } from './upstream/mirror-set.ts';
import { DestinationGuard } from './upstream/destination-guard.ts';
import { OriginTable } from './upstream/origin-table.ts';
import { OutboundRoutes, outboundSettings } from './upstream/outbound-routes.ts';
import { redirectGuard } from './upstream/redirect-rules.ts';
import { readCaFile } from './upstream/tls-trust.ts';

const version = '0.1.0';

export interface RunningHoard {
  server: Server;
  /** The HTTPS port, when `https.listen` is set: TLS in front of `server`. */
  https?: NetServer | undefined;
  close(): Promise<void>;
}

/** The shared seams every protocol builds on: the content-addressed store and the metadata index (on a shared bucket: docs/fleet.md). */
async function openStore(config: HoardConfig, dataDir: string, clock: Clock, logger: Logger) {
  const localIndex = new SqliteMetadataIndex(dataDir);
  const s3 = config.storage.s3;
  if (s3 !== undefined) {
    // Loaded only on a shared bucket: the AWS SDK adds about 30 MB to the process (docs/performance.md, "Memory").
    const { openFleetStore } = await import('./storage/s3/fleet-store.ts');
    const fleet = await openFleetStore({ settings: s3, dataDir, nodeId: loadNodeId(dataDir, config.node.id), localIndex, clock, logger });
    return { blobs: new ReaderTrackingBlobStore(fleet.blobs), index: fleet.index, fleet, closedCleanly: localIndex.closedCleanly };
  }
  const fsBlobs = new FsBlobStore(dataDir);
  await fsBlobs.init();
  // Counts open read streams per blob, so eviction never removes an object a client is reading.
  const blobs = new ReaderTrackingBlobStore(fsBlobs);
  logger.debug({ dataDir }, 'store opened');
  return { blobs, index: localIndex as MetadataIndex, fleet: undefined, closedCleanly: localIndex.closedCleanly };
}

/**
 * The Upstreams protocols route to: client-chosen origins (checked against allowedHosts, one per origin)
 * and operator-configured mirror lists, over undici fetchers that share one mirror health table.
 */
function buildUpstreams(config: HoardConfig, clock: Clock, viaToken: string, outbound: OutboundRoutes) {
  const health = new MirrorHealth(clock, config.upstream.mirrorCooldownSeconds * 1000);
  const fetcherOptions = {
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    idleTimeoutMs: config.upstream.idleTimeoutMs,
    via: `1.1 ${viaToken}`,
    userAgent: `hoard/${version}`,
    outbound,
  };
  // Every https upstream is checked against the system store plus tls.extraCaFiles; a backend may add its own CA.
  const extraCas = config.tls.extraCaFiles.map((file, i) => readCaFile(file, `tls.extraCaFiles.${i}`));
  const fetcher = new HttpFetcher({ ...fetcherOptions, ca: extraCas });
  const fetchers = [fetcher];
  // Hosts named by clients are reached only outside deniedUpstreamNetworks, checked on the address connected to.
  // Exempt: hosts the operator named, exactly in allowedHosts or as the target of an https upgrade rule.
  const upgradeTargets = Object.values(config.apt.httpsUpgrade).map((target) => new URL(target).hostname);
  const destinations = new DestinationGuard({ denied: config.deniedUpstreamNetworks, exemptHosts: [...config.allowedHosts, ...upgradeTargets] });
  const originFetcher = destinations.active ? new HttpFetcher({ ...fetcherOptions, ca: extraCas, destinations }) : fetcher;
  if (originFetcher !== fetcher) fetchers.push(originFetcher);
  const hosts = new HostAccess(config.allowedHosts);
  // Origins the operator named: the metrics label them and the health table keeps them, whatever clients ask for.
  const configured = new Set(Object.values(config.apt.httpsUpgrade).map((target) => new URL(target).origin));
  // Origins reached in proxy and prefix mode: one small Upstream per host, the least recently used dropped.
  const origins = new OriginTable();
  // Upstreams the configuration names (`backend:<name>`, `image:<name>`, `oci:<registry>`): the metrics count each under its own label,
  // a label the configuration bounds, unlike the hosts clients name.
  const named = new Set<string>();
  const factory: UpstreamFactory = {
    origin(key, host, fetchFrom, rules) {
      return origins.get(key, () => {
        if (!hosts.allows(host)) {
          throw new HoardError('HOARD_ERR_HOST_NOT_ALLOWED', `host ${host} is not in allowedHosts`, { detail: `host ${host} is not allowed by this cache` });
        }
        // A redirect hop is a new request under the rules of the first: the path table, allowedHosts, the denied networks.
        const redirects = redirectGuard({ hostAllowed: (next) => hosts.allows(next), pathAllowed: rules.pathAllowed, keepQuery: true });
        return new MirrorSet({ key, mirrors: [fetchFrom], fetcher: originFetcher, health, clock, redirectGuard: redirects });
      });
    },
    mirrors(key, mirrors, options) {
      let mirrorFetcher = fetcher;
      if (options.caFile !== undefined) {
        mirrorFetcher = new HttpFetcher({ ...fetcherOptions, ca: [...extraCas, readCaFile(options.caFile, `${options.configKey}.caFile`)] });
        fetchers.push(mirrorFetcher);
      }
      named.add(key);
      // Configured mirrors stay in the health table however many hosts clients name.
      for (const mirror of mirrors) {
        health.pin(mirror.href);
        configured.add(mirror.origin);
      }
      const redirects = redirectGuard({ pathAllowed: options.pathAllowed, keepQuery: true });
      return new MirrorSet({ key, mirrors: [...mirrors], fetcher: mirrorFetcher, health, clock, redirectGuard: redirects });
    },
  };
  return { factory, configured, named, close: () => Promise.all(fetchers.map((f) => f.close())) };
}

/** Eviction past the disk cap, relief when the disk fills, scheduled garbage collection. */
function startHousekeeping(config: HoardConfig, janitor: StoreJanitor, logger: Logger, relieve: () => Promise<unknown> = () => janitor.relieve()) {
  // Every stored download may push the store over its cap; a full disk below the cap frees a share of it.
  const onDownload = (message: unknown) => {
    if ((message as { phase: string }).phase === 'end') janitor.requestEviction();
  };
  const onStore = (message: unknown) => {
    if ((message as { state: string }).state !== 'full') return;
    logger.warn({ detail: (message as { detail?: string }).detail }, 'disk full: passing downloads through uncached, evicting to make room');
    void relieve().catch((err: unknown) => logger.error({ err }, 'eviction after a full disk failed'));
  };
  channels.download.subscribe(onDownload);
  channels.store.subscribe(onStore);
  janitor.requestEviction();
  const hours = config.cache.gcIntervalHours;
  const collect = () => {
    void janitor.collectGarbage({ dryRun: false }).then(
      (report) => logger.info({ freed: report.freedBytes, removed: report.removed.length }, 'scheduled garbage collection'),
      (err: unknown) => logger.error({ err }, 'scheduled garbage collection failed'),
    );
  };
  const gcTimer = hours > 0 ? setInterval(collect, hours * 3600 * 1000).unref() : undefined;
  return () => {
    channels.download.unsubscribe(onDownload);
    channels.store.unsubscribe(onStore);
    if (gcTimer !== undefined) clearInterval(gcTimer);
  };
}

/** Request lines and tunnel openings into the log. */
function startRequestLogging(logger: Logger, logRequest: (event: RequestEvent) => void) {
  const onRequest = (message: unknown) => {
    logRequest(message as RequestEvent);
  };
  const onTunnel = (message: unknown) => {
    const e = message as TunnelEvent;
    // Closes, failures and refusals are in the request log line; the opening is logged as it happens.
    if (e.phase === 'open') logger.info({ client: e.client, target: e.target }, 'tunnel open');
  };
  channels.request.subscribe(onRequest);
  channels.tunnel.subscribe(onTunnel);
  return () => {
    channels.request.unsubscribe(onRequest);
    channels.tunnel.unsubscribe(onTunnel);
  };
}

/**
 * Checks the index against the blob store after hoard is listening, when the last run did not close the
 * index: a walk over every blob and every entry, so it must not delay start-up on a large store. Until it
 * has passed an entry whose blob is gone, a hit on it fails the way a disk error does. Stopped at shutdown.
 */
function reconcileInBackground(blobs: BlobStore, index: MetadataIndex, janitor: StoreJanitor, logger: Logger) {
  const started = performance.now();
  const stopping = new AbortController();
  const done = reconcileStore(blobs, index, { onOrphanBlob: (blob) => janitor.noteOrphan(blob.digest, blob.size) }, stopping.signal).then(
    (report) => {
      if (!stopping.signal.aborted) logger.info({ ...report, ms: Math.round(performance.now() - started) }, 'store reconciled');
    },
    (err: unknown) => logger.error({ err }, 'reconciling the index with the blob store failed'),
  );
  return {
    async stop() {
      stopping.abort();
      await done;
    },
  };
}

/** The serving threads' module is loaded only when some are configured. */
async function startServingThreads(options: ServingThreadsOptions): Promise<ServingThreads> {
  const { ServingThreads } = await import('./serving/serving-threads.ts');
  return ServingThreads.start(options);
}

/** The port a listener is bound to (the configured one, or the kernel's pick for port 0). */
function boundPort(server: NetServer, listenAddress: string): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : splitListen(listenAddress).port;
}

/** The HTTPS listener's certificate and key, when `https.listen` is set. */
async function httpsIdentity(config: HoardConfig, dataDir: string, logger: Logger): Promise<ServerIdentity | undefined> {
  if (config.https.listen === undefined) return undefined;
  const identity = await loadServerIdentity({
    certFile: config.https.certFile,
    keyFile: config.https.keyFile,
    names: config.https.names,
    dataDir,
    now: new Date(),
    warn: (message) => logger.warn(message),
  });
  if (identity.source === 'generated')
    logger.info({ certificate: identity.certPath, names: identity.names }, 'self-signed certificate made for the https listener');
  return identity;
}

async function listen(server: NetServer, listenAddress: string, reusePort = false): Promise<void> {
  const { host, port } = splitListen(listenAddress);
  // With reusePort a second process of the same user could join the port and take half the connections; a plain
  // bind first fails as it would without threads when anything holds the port (including another hoard).
  if (reusePort && port !== 0) {
    const probe = createNetServer();
    await listen(probe, listenAddress);
    await new Promise((closed) => probe.close(closed));
  }
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    // reusePort: the serving threads bind the same port, and the kernel spreads connections over all of them.
    server.listen({ host, port, backlog: 1024, reusePort }, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
}

export async function startHoard(config: HoardConfig): Promise<RunningHoard> {
  const { logger, logRequest } = createLogging(config.logLevel);
  const clock = systemClock;
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Settled before the store opens or anything listens: a bad certificate or key stops the start-up with its reason.
  const identity = await httpsIdentity(config, dataDir, logger);
  const store = await openStore(config, dataDir, clock, logger);
  const { blobs, fleet, closedCleanly } = store;
  // Serving threads send hits from every core (src/serving/); a bucket's local copies are not theirs to read.
  const threadCount = fleet === undefined ? servingThreadCount(config.server.threads) : 0;
  if (fleet !== undefined && config.server.threads !== 0) logger.warn('server.threads is ignored with storage.s3: hits are served by the main thread');
  let threads: ServingThreads | undefined;
  // Every index write ends the hit decisions being reused: the main thread's own, or the serving threads'. So does
  // the end of every download (after its entry and whatever the verifier learnt from it); the threads count those themselves.
  let answerEpoch = 0;
  const onDownloadEnd = (message: unknown) => {
    if ((message as { phase: string }).phase !== 'start') answerEpoch += 1;
  };
  channels.download.subscribe(onDownloadEnd);
  /** Requests the main thread answered from a hit decision it kept (src/http/hit-memo.ts), for stats.json. */
  let reusedHits = 0;
  const index = new WriteWatchingIndex(store.index, () => {
    answerEpoch += 1;
    threads?.bump();
  });
  const viaToken = `hoard-${randomBytes(6).toString('hex')}`;
  // The outbound proxy or parent: the configuration's keys, else the standard proxy variables (read once, here).
  const outbound = new OutboundRoutes(outboundSettings(config.upstream, process.env));
  if (outbound.active) logger.info(outbound.description);
  const upstreams = buildUpstreams(config, clock, viaToken, outbound);

  const context = { config, blobs, index, upstreams: upstreams.factory, logger, clock };
  const protocols = new ProtocolSet(await Promise.all(protocolModules.map((module) => module.create(context))));
  const cache = new ReadThroughCache({
    blobs,
    index,
    clock,
    protocol: (name) => protocols.byName(name),
    logger,
    indexMaxAgeSeconds: config.cache.indexMaxAgeSeconds,
    notFoundTtlSeconds: config.cache.notFoundTtlSeconds,
    downloadLimits: {
      maxObjectSize: config.cache.maxObjectSize,
      rateFloor: { minBytesPerSecond: config.upstream.minBytesPerSecond, windowMs: config.upstream.slowWindowSeconds * 1000 },
    },
    sharedEntries: fleet?.index,
  });
  const janitor = new StoreJanitor({
    index,
    blobs,
    // The protocols' indices say which objects are still listed; the rest go first when space is needed.
    oracle: protocols,
    inUse: (digest) => blobs.isReading(digest) || cache.digestsInUse().has(digest) || threads?.inUse(digest) === true,
    marks: config.cache.maxSize === undefined ? undefined : waterMarks(config.cache.maxSize, config.cache.highWaterPercent, config.cache.lowWaterPercent),
    logger,
  });
  // Knowledge kept in the store (stored Releases) is checked again and made current before the first request.
  await protocols.start();

  const collector = new MetricsCollector({ activeDownloads: () => cache.activeDownloads(), storeUsage: () => janitor.usage() }, clock, {
    configuredUpstreams: upstreams.configured,
    namedUpstreams: upstreams.named,
    protocols: protocols.all.map((p) => p.name),
  }).start();
  // On a shared bucket a full local disk drops local copies, never the fleet's objects.
  const stopHousekeeping = startHousekeeping(config, janitor, logger, fleet === undefined ? undefined : () => fleet.relieveLocal());
  const stopRequestLogging = startRequestLogging(logger, logRequest);
  // The dead objects of past requests are collected every 16 MB of old-generation growth rather than when V8 gets to it.
  const stopHeapGrowth = new HeapGrowthCollector(16 * 1024 * 1024).start(500);
  const tunnels = new ConnectTunnels({
    allow: config.connect.allow,
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    idleTimeoutMs: config.connect.idleTimeoutMs,
    // Tunnels leave the way upstream requests do: through the proxy (or the parent, whose connect.allow must list them).
    through: (host, port) => {
      const route = outbound.route(new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`));
      return route.kind === 'direct' ? undefined : { url: route.via, label: route.label };
    },
  });
  const apt = protocols.byName('apt');
  let https: NetServer | undefined;
  const server = createProxyServer({
    config,
    cache,
    protocols,
    admin: createAdminRoutes({
      prefix: config.admin.prefix,
      version,
      token: config.admin.token,
      collector,
      // A name in `listen` is the cache's own too (and what `hoard stats` and `gc` dial), as are those its certificate is made for.
      hosts: new AdminHostPolicy([...machineNames(hostname()), splitListen(config.listen).host, ...config.https.names, ...config.admin.hosts]),
      actions: {
        gc: async (dryRun) => {
          const report = await janitor.collectGarbage({ dryRun });
          if (dryRun || fleet === undefined) return report;
          // On a shared bucket what this node dropped is only condemned; the sweep deletes what is past its grace period.
          const sweep = await fleet.sweep();
          logger.info({ sweep }, 'bucket swept after gc');
          return { ...report, bucket: { ran: sweep.ran, deleted: sweep.deleted.length, rescued: sweep.rescued.length, waiting: sweep.waiting } };
        },
        evict: (target) => janitor.evict(target),
        importDebs: (dir, progress) => importDebs({ index, blobs, clock, contentType: (path) => apt?.classify(path)?.contentType }, dir, progress),
      },
      https: () =>
        identity === undefined || https === undefined
          ? undefined
          : { port: boundPort(https, config.https.listen ?? ''), fingerprint256: identity.fingerprint256 },
      extraStats: () => ({ reusedHits, ...threads?.stats() }),
      // The figures include what the serving threads finished: their reports are collected first (bounded).
      beforeAnswer: () => threads?.flush() ?? Promise.resolve(),
    }),
    connect: (req, socket, head) => tunnels.handle(req, socket, head),
    logger,
    viaToken,
    offload: (req, res, object, headers, reuse) => threads?.offload(req, res, object, headers, reuse),
    // With serving threads, they reuse hit decisions (the main thread's offloads); without, the main thread does.
    hitReuse:
      threadCount > 0
        ? undefined
        : {
            epoch: () => answerEpoch,
            reused: (key) => {
              reusedHits += 1;
              index.touch(key, clock.now());
            },
          },
  });
  await listen(server, config.listen, threadCount > 0);
  // Started in the background, loaded only then: until they listen, the main thread takes every connection.
  const threadsStarting =
    threadCount > 0
      ? startServingThreads({
          count: threadCount,
          server,
          host: splitListen(config.listen).host,
          port: boundPort(server, config.listen),
          dataDir,
          config,
          logger,
          touch: (key) => index.touch(key, clock.now()),
          blobGone: async (digest) => {
            if ((await blobs.stat(digest)) !== undefined) return;
            for (const entry of index.byDigest(digest)) index.delete(entry.key);
            logger.warn({ digest }, 'a stored blob was gone; its entries are dropped and the next request fetches it again');
          },
        }).then(
          (started) => {
            threads = started;
          },
          (err: unknown) => logger.error({ err }, 'serving threads could not start; the main thread serves everything'),
        )
      : undefined;
  if (identity !== undefined && config.https.listen !== undefined) {
    https = createHttpsListener(server, { certPem: identity.certPem, keyPem: identity.keyPem, handshakeTimeoutMs: config.server.headersTimeoutMs });
    await listen(https, config.https.listen);
    logger.info(
      {
        listen: config.https.listen,
        port: boundPort(https, config.https.listen),
        certificate: identity.certPath,
        source: identity.source,
        fingerprint: identity.fingerprint256,
      },
      'https listener up',
    );
  }
  logger.info(
    { listen: config.listen, https: config.https.listen, dataDir, objects: index.count(), protocols: protocols.all.map((p) => p.name) },
    'hoard is serving',
  );
  // After a clean shutdown index and blobs agree (blobs are committed before their entry, entries deleted
  // before their blob); after a crash, entries may lack blobs and blobs entries. On a shared bucket the local
  // disk holds copies, not the store: an entry without a local copy is not broken.
  const reconciling = fleet !== undefined || closedCleanly ? undefined : reconcileInBackground(blobs, index, janitor, logger);
  let mdns: MdnsAdvertiser | undefined;
  if (config.mdns.enabled) {
    const port = boundPort(server, config.listen);
    const { advertiseMdns } = await import('./discovery/mdns-advertiser.ts');
    mdns = advertiseMdns({ name: config.mdns.name ?? `hoard on ${hostname().split('.')[0] ?? 'cache'}`, port, logger });
  }

  return {
    server,
    https,
    async close() {
      // The serving threads go first: their connections to the main thread end with them.
      await threadsStarting;
      await threads?.close();
      stopRequestLogging();
      stopHeapGrowth();
      channels.download.unsubscribe(onDownloadEnd);
      stopHousekeeping();
      collector.stop();
      await mdns?.close();
      tunnels.closeAll();
      // The TLS port stops accepting; the connections it handed over are the HTTP server's to close.
      const httpsClosed = new Promise<void>((done) => (https === undefined ? done() : https.close(() => done())));
      server.closeIdleConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await httpsClosed;
      await upstreams.close();
      // Responses end before their objects are fsynced and indexed: let those finish before the index closes.
      await cache.idle();
      await reconciling?.stop();
      await janitor.idle();
      await fleet?.close();
      index.close();
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const args = parseCliArgs(argv);
  if (args.help) {
    process.stdout.write(usage);
    return 0;
  }
  const [command, sub] = args.command;
  const overrides = { configPath: args.configPath, listen: args.listen, dataDir: args.dataDir, logLevel: args.logLevel };
  if (command === 'config' && sub === 'check') {
    const { config, source, warnings } = loadConfig(overrides);
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    // The proxy variables count as configuration (a bad one stops `serve`): checked here too, and the route they give shown.
    const outbound = outboundSettings(config.upstream, process.env);
    process.stdout.write(`configuration is valid (${source ?? 'built-in defaults'})\n${outbound.description}\n`);
    return 0;
  }
  if (command === 'serve') {
    const { config, warnings } = loadConfig(overrides);
    for (const warning of warnings) process.stderr.write(`hoard: configuration: ${warning}\n`);
    const running = await startHoard(config);
    await new Promise<void>((done) => {
      const stop = () => done();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    // In-flight downloads are abandoned: their temporary files are removed on the next start.
    await Promise.race([running.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
    return 0;
  }
  if (command === 'verify') {
    const { config } = loadConfig(overrides);
    if (config.storage.s3 !== undefined) {
      // Its local disk holds copies of the bucket: an entry without a local copy is not missing, and verify would drop it.
      process.stderr.write(
        'hoard: verify checks a disk store; with storage.s3 the local disk holds copies of the bucket, each checked when fetched (docs/fleet.md)\n',
      );
      return 2;
    }
    const dataDir = resolve(config.dataDir);
    const blobs = new FsBlobStore(dataDir);
    await blobs.init();
    const index = new SqliteMetadataIndex(dataDir);
    try {
      const report = await verifyStore(blobs, index);
      process.stdout.write(formatVerifyReport(report));
      return report.damaged.length + report.missing.length > 0 ? 1 : 0;
    } finally {
      index.close();
    }
  }
  const exitCode = await runServiceCommand(args, overrides);
  if (exitCode !== undefined) return exitCode;
  process.stderr.write(`hoard: unknown command "${args.command.join(' ')}"\n\n${usage}`);
  return 2;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      // A hoard error with its code, as the HTTP edge writes it (`CODE: message`): docs/errors.md explains each.
      process.stderr.write(`hoard: ${isHoardError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(isHoardError(err, 'HOARD_ERR_CONFIG') || isHoardError(err, 'HOARD_ERR_TLS_CERTIFICATE') ? 78 : 1);
    },
  );
}
