// Image streams behind the seam: simplestreams servers (LXD, MAAS, Juju) and SHA256SUMS trees, under /images/<name>/.
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { HoardError } from '../../errors.ts';
import type { Upstream } from '../../upstream/fetcher.ts';
import { DeferredSignatureChecker } from '../apt/verification/signature-checker.ts';
import type { ItemName, Protocol, ProtocolContext, ProtocolModule, RequestTarget, Route } from '../protocol.ts';
import { absoluteTarget, underBase } from '../proxy-form-target.ts';
import { normalizePath, splitQuery } from '../target-grammar.ts';
import { simplestreamsClientConfigs } from './simplestreams-client-configs.ts';
import type { ImageUpstreamConfig } from './simplestreams-config.ts';
import { streamPathKind, streamPolicy } from './stream-path-class.ts';
import { StreamVerifier, type StreamUpstreamRules } from './verification/stream-verifier.ts';

export const simplestreamsProtocolModule: ProtocolModule = {
  name: 'simplestreams',
  // `hoard client-config lxd|maas|juju|glance --url https://cache:8443/images/<name>`; an http URL falls through to apt's.
  clientConfigs: simplestreamsClientConfigs,
  create: createSimplestreamsProtocol,
};

/** The prefix image upstreams are reached under: `/images/<name>/<path on the upstream>`. */
export const imagesPrefix = '/images/';

/** For a path classified without its upstream (never through the cache, which names it). */
const defaultMaxAgeSeconds = 300;

/** The cache key of an image upstream's objects. */
export const imageUpstreamKey = (name: string): string => `image:${name}`;

async function createSimplestreamsProtocol(context: ProtocolContext): Promise<Protocol> {
  const { config, upstreams, logger } = context;
  const images = config.images;
  const byName = new Map<string, { upstream: Upstream; config: ImageUpstreamConfig }>();
  const rules = new Map<string, StreamUpstreamRules>();
  for (const [name, image] of Object.entries(images)) {
    const configKey = `images.${name}`;
    // A redirect hop must still lead to a file of the stream (not a directory listing).
    const pathAllowed = (path: string) => streamPathKind(path) !== undefined;
    const upstream = upstreams.mirrors(imageUpstreamKey(name), [new URL(image.url)], { caFile: image.caFile, configKey, pathAllowed });
    byName.set(name, { upstream, config: image });
    // A configured keyring is read now (a missing or broken one stops the start-up); OpenPGP's checker is loaded at the first check.
    const keys = image.keyring === undefined ? undefined : await keyringOf(image.keyring, configKey, logger);
    const signatures = keys === undefined ? undefined : new DeferredSignatureChecker(() => Promise.resolve(keys));
    rules.set(upstream.key, { signatures, strict: image.strict, maxAgeSeconds: image.maxAgeSeconds });
  }
  const verifier = new StreamVerifier({ blobs: context.blobs, index: context.index, clock: context.clock, logger, upstreams: rules });
  // An apt backend that happens to be named `images` keeps its URLs when no image upstream is configured.
  const imageUrls = [...byName].map(([name, image]) => [name, new URL(image.config.url)] as const);
  const aptOwnsPrefix = byName.size === 0 || Object.hasOwn(config.apt.backends, 'images');

  return {
    name: 'simplestreams',
    // Claims `/images/<configured name>/...`; any other target passes, so apt (after it) behaves as before.
    route(target: RequestTarget): Route | undefined {
      // A child hoard whose parent this is asks with the image upstream's own URL (absolute-form): it is that upstream's `/images/<name>/...`.
      const proxied = imageUrls.length === 0 ? undefined : underImageUrl(target.raw, imageUrls);
      const raw = proxied ?? target.raw;
      if (!raw.startsWith(imagesPrefix)) return undefined;
      const { path: rawPath } = splitQuery(raw);
      const slash = rawPath.indexOf('/', imagesPrefix.length);
      const name = rawPath.slice(imagesPrefix.length, slash === -1 ? undefined : slash);
      const image = byName.get(name);
      if (image === undefined) {
        if (aptOwnsPrefix) return undefined;
        throw new HoardError('HOARD_ERR_UNKNOWN_IMAGE_UPSTREAM', `no image upstream named "${name.slice(0, 64)}" (images.<name> in the configuration)`, {
          detail: 'no image upstream of that name is configured',
        });
      }
      if (target.raw.length > config.server.maxTargetLength) {
        throw new HoardError('HOARD_ERR_TARGET_TOO_LONG', `request target of ${target.raw.length} characters exceeds ${config.server.maxTargetLength}`);
      }
      if (target.method !== 'GET' && target.method !== 'HEAD') {
        throw new HoardError('HOARD_ERR_METHOD_NOT_ALLOWED', `${target.method} is not served for image streams`);
      }
      // Refuses `..` (also encoded), control bytes and malformed percent-encoding with 400; `:` and `+` are plain characters.
      const path = normalizePath(slash === -1 ? '/' : rawPath.slice(slash));
      const policy = streamPolicy(path, image.config.maxAgeSeconds);
      if (policy === undefined) {
        throw new HoardError('HOARD_ERR_NOT_REPOSITORY_PATH', `${path} is not a file of image stream ${name}`, {
          detail: 'only files of an image stream are proxied, not directory listings',
        });
      }
      // The query is dropped: stream files are named by their path alone, and it is never part of the key.
      return { upstream: image.upstream, path, policy, mode: 'images' };
    },
    classify(path: string, upstream?: string) {
      const image = upstream?.startsWith('image:') === true ? byName.get(upstream.slice('image:'.length)) : undefined;
      return streamPolicy(path, image?.config.maxAgeSeconds ?? defaultMaxAgeSeconds);
    },
    upstreamFor(key: string): Upstream | undefined {
      return key.startsWith('image:') ? byName.get(key.slice('image:'.length))?.upstream : undefined;
    },
    verifier,
    references: verifier,
    itemName(path: string): ItemName | undefined {
      if (streamPathKind(path) !== 'item') return undefined;
      // The version directory says which image it is: `.../20240101_05:24/rootfs.squashfs`.
      const segments = path.split('/').filter((s) => s !== '');
      return { name: segments.slice(-2).join('/') };
    },
    start: () => verifier.start(),
  };
}

async function keyringOf(path: string, configKey: string, logger: Logger) {
  try {
    const { readKeyringFile } = await import('../apt/verification/keyring-loader.ts');
    const keys = await readKeyringFile(resolve(path));
    logger.info({ upstream: configKey, keys: keys.length }, 'keyring for image stream signatures loaded');
    return keys;
  } catch (cause) {
    throw new HoardError('HOARD_ERR_CONFIG', `${configKey}.keyring: ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** `/images/<name>/<rest>` for an absolute-form target under a configured image upstream's URL (the longest matching), else undefined. */
function underImageUrl(raw: string, urls: readonly (readonly [string, URL])[]): string | undefined {
  const url = absoluteTarget(raw);
  const under = url === undefined ? undefined : underBase(url, urls, '');
  return under === undefined ? undefined : `${imagesPrefix}${under.key}/${under.rest}${under.query}`;
}
