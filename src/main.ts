// Composition root: the only place that builds concrete classes and wires them; also the CLI entry point.
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Server } from 'node:http';
import { createAdminRoutes } from './admin/admin-routes.ts';
import { ReadThroughCache } from './cache/read-through-cache.ts';
import { parseCliArgs, splitListen, usage } from './cli/cli-args.ts';
import { systemClock } from './clock.ts';
import { loadConfig } from './config/config-loader.ts';
import type { HoardConfig } from './config/config-schema.ts';
import { HoardError, isHoardError } from './errors.ts';
import { channels, type RequestEvent, type TunnelEvent } from './events.ts';
import { ConnectTunnels } from './http/connect-tunnel.ts';
import { createProxyServer } from './http/proxy-server.ts';
import type { UpstreamRef } from './http/request-target.ts';
import type { Logger } from 'pino';
import { createLogging } from './logging/logger.ts';
import { importDebs } from './admin/deb-importer.ts';
import { MetricsCollector } from './admin/metrics-collector.ts';
import { waterMarks } from './cache/eviction-policy.ts';
import { StoreJanitor } from './cache/store-janitor.ts';
import { runServiceCommand } from './cli/service-commands.ts';
import { formatVerifyReport, verifyStore } from './cli/verify-command.ts';
import { advertiseMdns, type MdnsAdvertiser } from './discovery/mdns-advertiser.ts';
import { ReaderTrackingBlobStore } from './storage/reader-tracking-blob-store.ts';
import { hostname } from 'node:os';
import { classifyAptPath } from './protocols/apt/path-class.ts';
import { FsBlobStore } from './storage/fs-blob-store.ts';
import { SqliteMetadataIndex } from './storage/sqlite-metadata-index.ts';
import { reconcileStore } from './storage/store-reconciler.ts';
import type { Upstream } from './upstream/fetcher.ts';
import { HttpFetcher } from './upstream/http-fetcher.ts';
import { MirrorHealth } from './upstream/mirror-health.ts';
import { MirrorSet } from './upstream/mirror-set.ts';
import { httpsUpgradeTable, upgradedMirror, upgradedOrigin } from './upstream/https-upgrade.ts';
import { readCaFile } from './upstream/tls-trust.ts';
import { AptContentVerifier } from './verification/apt-content-verifier.ts';
import { cacheIndexFetch } from './verification/cache-index-fetch.ts';
import { aptKeyringLocations, loadKeyrings } from './verification/keyring-loader.ts';
import { ReleaseSignatureChecker } from './verification/release-signature-checker.ts';

const version = '0.1.0';

export interface RunningHoard {
  server: Server;
  close(): Promise<void>;
}

export async function startHoard(config: HoardConfig): Promise<RunningHoard> {
  const { logger, logRequest } = createLogging(config.logLevel);
  const clock = systemClock;
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });

  const fsBlobs = new FsBlobStore(dataDir);
  await fsBlobs.init();
  // Counts open read streams per blob, so eviction never removes an object a client is reading.
  const blobs = new ReaderTrackingBlobStore(fsBlobs);
  const index = new SqliteMetadataIndex(dataDir);
  // Blobs being followed by clients of a finished download: known to the cache, built below.
  let cacheDigestsInUse = (): Set<string> => new Set();
  // The verifier fetches indices through the cache that consults it: the cache is bound once built.
  const built: { cache?: ReadThroughCache } = {};
  const verifier = new AptContentVerifier({
    blobs,
    index,
    signatures: new ReleaseSignatureChecker(await trustedKeys(config, logger)),
    fetch: cacheIndexFetch({
      cache: {
        get: (...args) => {
          if (built.cache === undefined) throw new HoardError('HOARD_ERR_INTERNAL', 'the cache is not built yet');
          return built.cache.get(...args);
        },
      },
      upstreamFor: (key) => upstreamForKey(key),
      classify: classifyAptPath,
    }),
    logger,
    strict: config.strict,
    maxIndexExpandedSize: config.cache.maxIndexExpandedSize,
  });
  const janitor = new StoreJanitor({
    index,
    blobs,
    // The signed indices say which objects are still listed; the rest go first when space is needed.
    oracle: verifier,
    inUse: (digest) => blobs.isReading(digest) || cacheDigestsInUse().has(digest),
    marks: config.cache.maxSize === undefined ? undefined : waterMarks(config.cache.maxSize, config.cache.highWaterPercent, config.cache.lowWaterPercent),
    logger,
  });
  const reconciled = await reconcileStore(blobs, index, { onOrphanBlob: (blob) => janitor.noteOrphan(blob.digest, blob.size) });
  if (reconciled.droppedEntries > 0 || reconciled.orphanBlobs > 0) logger.info(reconciled, 'store reconciled at start-up');

  const viaToken = `hoard-${randomBytes(6).toString('hex')}`;
  const health = new MirrorHealth(clock, config.upstream.mirrorCooldownSeconds * 1000);
  const fetcherOptions = { connectTimeoutMs: config.upstream.connectTimeoutMs, idleTimeoutMs: config.upstream.idleTimeoutMs, via: `1.1 ${viaToken}`, userAgent: `hoard/${version}` };
  // Every https upstream is checked against the system store plus tls.extraCaFiles; a backend may add its own CA.
  const extraCas = config.tls.extraCaFiles.map((file, i) => readCaFile(file, `tls.extraCaFiles.${i}`));
  const fetcher = new HttpFetcher({ ...fetcherOptions, ca: extraCas });
  const fetchers = [fetcher];
  const upgrades = httpsUpgradeTable(config.httpsUpgrade);

  const backends = new Map<string, Upstream>();
  for (const [name, backend] of Object.entries(config.backends)) {
    let backendFetcher = fetcher;
    if (backend.caFile !== undefined) {
      backendFetcher = new HttpFetcher({ ...fetcherOptions, ca: [...extraCas, readCaFile(backend.caFile, `backends.${name}.caFile`)] });
      fetchers.push(backendFetcher);
    }
    const mirrors = backend.mirrors.map((m) => upgradedMirror(upgrades, new URL(m)));
    backends.set(name, new MirrorSet({ key: `backend:${name}`, mirrors, fetcher: backendFetcher, health, clock }));
  }
  // Origins reached in proxy and prefix mode; one tiny object per host, created on first use.
  const origins = new Map<string, Upstream>();
  const resolveUpstream = (ref: UpstreamRef): Upstream => {
    if (ref.kind === 'backend') return backends.get(ref.name) as Upstream;
    let upstream = origins.get(ref.key);
    if (!upstream) {
      // An upgraded host keeps its http cache key (objects cached before the rule stay valid) but is fetched over TLS only.
      upstream = new MirrorSet({ key: ref.key, mirrors: [upgradedOrigin(upgrades, ref.key)], fetcher, health, clock });
      origins.set(ref.key, upstream);
    }
    return upstream;
  };
  // The Upstream behind a cache key's upstream part, for fetches the verifier starts itself.
  const upstreamForKey = (key: string): Upstream | undefined => {
    if (key.startsWith('backend:')) return backends.get(key.slice('backend:'.length));
    const url = URL.parse(key);
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
    const scheme = url.protocol === 'https:' ? 'https' : 'http';
    return resolveUpstream({ kind: 'origin', scheme, host: url.hostname, port: Number(url.port || (scheme === 'https' ? 443 : 80)), key });
  };

  const cache = new ReadThroughCache({
    blobs,
    index,
    clock,
    verifier,
    logger,
    indexMaxAgeSeconds: config.cache.indexMaxAgeSeconds,
    notFoundTtlSeconds: config.cache.notFoundTtlSeconds,
  });
  built.cache = cache;
  cacheDigestsInUse = () => cache.digestsInUse();
  // Stored Releases are checked again and made current before the first request is served.
  await verifier.start();

  const collector = new MetricsCollector({ activeDownloads: () => cache.activeDownloads(), storeUsage: () => janitor.usage() }, clock).start();
  // Every stored download may push the store over its cap; a full disk below the cap frees a share of it.
  const onDownload = (message: unknown) => {
    if ((message as { phase: string }).phase === 'end') janitor.requestEviction();
  };
  const onStore = (message: unknown) => {
    if ((message as { state: string }).state !== 'full') return;
    logger.warn({ detail: (message as { detail?: string }).detail }, 'disk full: passing downloads through uncached, evicting to make room');
    void janitor.relieve().catch((err: unknown) => logger.error({ err }, 'eviction after a full disk failed'));
  };
  channels.download.subscribe(onDownload);
  channels.store.subscribe(onStore);
  janitor.requestEviction();
  const gcTimer =
    config.cache.gcIntervalHours > 0
      ? setInterval(
          () => {
            void janitor.collectGarbage({ dryRun: false }).then(
              (report) => logger.info({ freed: report.freedBytes, removed: report.removed.length }, 'scheduled garbage collection'),
              (err: unknown) => logger.error({ err }, 'scheduled garbage collection failed'),
            );
          },
          config.cache.gcIntervalHours * 3600 * 1000,
        ).unref()
      : undefined;

  const onRequest = (message: unknown) => {
    logRequest(message as RequestEvent);
  };
  channels.request.subscribe(onRequest);
  const onTunnel = (message: unknown) => {
    const e = message as TunnelEvent;
    // Closes, failures and refusals are in the request log line; the opening is logged as it happens.
    if (e.phase === 'open') logger.info({ client: e.client, target: e.target }, 'tunnel open');
  };
  channels.tunnel.subscribe(onTunnel);
  const tunnels = new ConnectTunnels({ allow: config.connect.allow, connectTimeoutMs: config.upstream.connectTimeoutMs, idleTimeoutMs: config.connect.idleTimeoutMs });

  const server = createProxyServer({
    config,
    cache,
    resolveUpstream,
    classify: classifyAptPath,
    admin: createAdminRoutes({
      prefix: config.admin.prefix,
      version,
      token: config.admin.token,
      collector,
      actions: {
        gc: (dryRun) => janitor.collectGarbage({ dryRun }),
        evict: (target) => janitor.evict(target),
        importDebs: (dir, progress) => importDebs({ index, blobs, clock, contentType: (path) => classifyAptPath(path)?.contentType }, dir, progress),
      },
    }),
    connect: (req, socket, head) => tunnels.handle(req, socket, head),
    logger,
    viaToken,
  });
  const { host, port } = splitListen(config.listen);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 1024 }, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  logger.info({ listen: config.listen, dataDir, objects: index.count() }, 'hoard is serving');
  let mdns: MdnsAdvertiser | undefined;
  if (config.mdns.enabled) {
    const address = server.address();
    mdns = advertiseMdns({ name: config.mdns.name ?? `hoard on ${hostname().split('.')[0] ?? 'cache'}`, port: typeof address === 'object' && address !== null ? address.port : port, logger });
  }

  return {
    server,
    async close() {
      channels.request.unsubscribe(onRequest);
      channels.download.unsubscribe(onDownload);
      channels.store.unsubscribe(onStore);
      collector.stop();
      if (gcTimer !== undefined) clearInterval(gcTimer);
      await mdns?.close();
      channels.tunnel.unsubscribe(onTunnel);
      tunnels.closeAll();
      server.closeIdleConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await Promise.all(fetchers.map((f) => f.close()));
      // Responses end before their objects are fsynced and indexed: let those finish before the index closes.
      await cache.idle();
      await janitor.idle();
      index.close();
    },
  };
}

/** apt's keyrings (whatever of them exists) and those the config names (which must exist). */
async function trustedKeys(config: HoardConfig, logger: Logger) {
  let loaded;
  try {
    loaded = await loadKeyrings([...aptKeyringLocations.map((path) => ({ path, required: false })), ...config.keyrings.map((path) => ({ path: resolve(path), required: true }))]);
  } catch (cause) {
    throw new HoardError('HOARD_ERR_CONFIG', `keyrings: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  for (const skipped of loaded.skipped) logger.debug(skipped, 'keyring skipped');
  logger.info({ keys: loaded.keys.length, files: loaded.files.length }, 'trusted keys for Release signatures loaded');
  return loaded.keys;
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
    const { source } = loadConfig(overrides);
    process.stdout.write(`configuration is valid (${source ?? 'built-in defaults'})\n`);
    return 0;
  }
  if (command === 'serve') {
    const { config } = loadConfig(overrides);
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
      process.stderr.write(`hoard: ${isHoardError(err) ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(isHoardError(err, 'HOARD_ERR_CONFIG') ? 78 : 1);
    },
  );
}
