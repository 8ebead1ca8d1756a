// The apt protocol behind the seam: apt-cacher-ng style routing, the path table, the signed-index verifier.
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { HoardError } from '../../errors.ts';
import { AptContentVerifier } from './verification/apt-content-verifier.ts';
import { DeferredSignatureChecker } from './verification/signature-checker.ts';
import type { Upstream } from '../../upstream/fetcher.ts';
import type { ItemName, Protocol, ProtocolContext, ProtocolModule, RequestTarget, Route } from '../protocol.ts';
import { aptClientConfigs } from './apt-client-configs.ts';
import type { AptConfig } from './apt-config.ts';
import { parseRequestTarget, type TargetRules } from './apt-target.ts';
import { httpsUpgradeTable, upgradedMirror, upgradedOrigin } from './https-upgrade.ts';
import { classifyAptPath } from './path-class.ts';

export const aptProtocolModule: ProtocolModule = {
  name: 'apt',
  clientConfigs: aptClientConfigs,
  create: createAptProtocol,
};

async function createAptProtocol(context: ProtocolContext): Promise<Protocol> {
  const { config, upstreams, logger } = context;
  const apt = config.apt;
  const upgrades = httpsUpgradeTable(apt.httpsUpgrade);
  // A redirect hop must lead to a file of a repository too, as the first request did.
  const pathAllowed = (path: string) => classifyAptPath(path) !== undefined;
  const backends = new Map<string, Upstream>();
  for (const [name, backend] of Object.entries(apt.backends)) {
    const mirrors = backend.mirrors.map((m) => upgradedMirror(upgrades, new URL(m)));
    backends.set(name, upstreams.mirrors(`backend:${name}`, mirrors, { caFile: backend.caFile, configKey: `apt.backends.${name}`, pathAllowed }));
  }
  // An upgraded host keeps its http cache key (objects cached before the rule stay valid) but is fetched over TLS only.
  const origin = (key: string, host: string): Upstream => upstreams.origin(key, host, upgradedOrigin(upgrades, key), { pathAllowed });
  const verifier = new AptContentVerifier({
    blobs: context.blobs,
    index: context.index,
    signatures: await signatureChecker(apt, logger),
    logger,
    strict: apt.strict,
    maxIndexExpandedSize: apt.maxIndexExpandedSize,
  });
  const rules: TargetRules = { backends: new Set(backends.keys()), maxTargetLength: config.server.maxTargetLength };

  return {
    name: 'apt',
    // Last in the fixed order: every target the protocols before it pass is read as apt's, and refused here if it is not.
    route(target: RequestTarget): Route {
      const parsed = parseRequestTarget(target.raw, rules);
      const ref = parsed.upstream;
      const upstream = ref.kind === 'backend' ? (backends.get(ref.name) as Upstream) : origin(ref.key, ref.host);
      const policy = classifyAptPath(parsed.path);
      if (!policy) {
        throw new HoardError('HOARD_ERR_NOT_REPOSITORY_PATH', `${parsed.path} is not an apt repository file`, {
          detail: 'only apt repository files (dists/, pool/, by-hash/) are proxied',
        });
      }
      return { upstream, path: parsed.path, policy, mode: parsed.mode };
    },
    classify: classifyAptPath,
    upstreamFor(key: string): Upstream | undefined {
      if (key.startsWith('backend:')) return backends.get(key.slice('backend:'.length));
      const url = URL.parse(key);
      if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
      return origin(key, url.hostname);
    },
    verifier,
    references: verifier,
    itemName(path: string): ItemName | undefined {
      const name = path.slice(path.lastIndexOf('/') + 1);
      return /\.(u|d)?deb$/.test(name) ? { name } : undefined;
    },
    start: () => verifier.start(),
  };
}

/**
 * The Release signature checker. OpenPGP and apt's own keyrings are loaded at the first signature
 * checked; keyrings the config names are read at start-up, so a missing or broken one stops it.
 */
async function signatureChecker(apt: AptConfig, logger: Logger): Promise<DeferredSignatureChecker> {
  if (apt.keyrings.length === 0) return new DeferredSignatureChecker(() => trustedKeys(apt, logger));
  const keys = await trustedKeys(apt, logger);
  return new DeferredSignatureChecker(() => Promise.resolve(keys));
}

/** apt's keyrings (whatever of them exists) and those the config names (which must exist). */
async function trustedKeys(apt: AptConfig, logger: Logger) {
  const { aptKeyringLocations, loadKeyrings } = await import('./verification/keyring-loader.ts');
  let loaded;
  try {
    const required = apt.keyrings.map((path) => ({ path: resolve(path), required: true }));
    loaded = await loadKeyrings([...aptKeyringLocations.map((path) => ({ path, required: false })), ...required]);
  } catch (cause) {
    throw new HoardError('HOARD_ERR_CONFIG', `apt.keyrings: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  for (const skipped of loaded.skipped) logger.debug(skipped, 'keyring skipped');
  logger.info({ keys: loaded.keys.length, files: loaded.files.length }, 'trusted keys for Release signatures loaded');
  return loaded.keys;
}
