// The OCI protocol behind the seam: a read-only pull-through mirror of several registries on the cache's port.
import { createHash } from 'node:crypto';
import type { CachedObject, PathPolicy } from '../../cache/cached-object.ts';
import type { ContentVerifier, Expectation } from '../../cache/content-verifier.ts';
import { HoardError } from '../../errors.ts';
import type { Upstream, UpstreamResponse } from '../../upstream/fetcher.ts';
import type { ItemName, LocalAnswer, Protocol, ProtocolContext, ProtocolModule, RequestTarget, Route } from '../protocol.ts';
import { absoluteTarget, underBase } from '../proxy-form-target.ts';
import { splitQuery } from '../target-grammar.ts';
import { ociClientConfigs } from './oci-client-configs.ts';
import { effectiveRegistries, type OciConfig } from './oci-config.ts';
import { ClientAuth, unauthorized } from './oci-client-auth.ts';
import { renderOciError, renderOciStatus } from './oci-errors.ts';
import { chooseRegistry, type ChosenRegistry } from './oci-registry-choice.ts';
import { endpointOfPath, endpointPath, type OciEndpoint } from './oci-reference.ts';
import { OciReferences } from './oci-references.ts';
import { parseTagPage, rewriteTagsLink, tagPageQuery } from './oci-tag-pages.ts';
import { TokenCache } from './oci-token-cache.ts';
import { RegistryUpstream } from './registry-upstream.ts';

export const ociProtocolModule: ProtocolModule = {
  name: 'oci',
  clientConfigs: ociClientConfigs,
  create: createOciProtocol,
};

/**
 * Sent upstream with every manifest request, whatever the client's Accept: the union of what docker,
 * containerd and podman accept (OCI index and manifest, Docker manifest list and v2 manifest). The
 * stored bytes then do not depend on which client asked first, and are passed through as they came,
 * never converted.
 */
export const manifestAccept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

// OCI distribution spec v1.1, "Determining support": a registry answers `GET /v2/` with 200; Docker checks this header.
const apiVersionHeaders = { 'docker-distribution-api-version': 'registry/2.0' };

/** Bound on the token services (realm origins) remembered: a handful per registry in practice. */
const maxTokenServices = 64;

/** The policy of an upstream path: immutable by digest, short-lived by tag. */
export function ociPolicy(endpoint: OciEndpoint, tagMaxAgeSeconds: number): PathPolicy {
  switch (endpoint.kind) {
    case 'manifest': {
      const byTag = 'tag' in endpoint;
      return {
        protocol: 'oci',
        mutable: byTag,
        kind: byTag ? 'manifest-tag' : 'manifest',
        contentType: 'application/vnd.oci.image.manifest.v1+json',
        // OCI distribution spec v1.1, "Pulling manifests": the Content-Type is the manifest's media type.
        contentTypeFromUpstream: true,
        maxAgeSeconds: byTag ? tagMaxAgeSeconds : undefined,
        forwardHeaders: ['accept'],
      };
    }
    case 'blob':
      return { protocol: 'oci', mutable: false, kind: 'blob', contentType: 'application/octet-stream' };
    case 'tags':
      return { protocol: 'oci', mutable: true, kind: 'tags', contentType: 'application/json', contentTypeFromUpstream: true, maxAgeSeconds: tagMaxAgeSeconds };
  }
}

/**
 * Vouches for what is asked by digest (the cache checks a sha256 itself; the registry upstream checks
 * sha512 and `Docker-Content-Digest`). A manifest asked by tag waits until whole, so that its answer
 * can carry the `Docker-Content-Digest` of the bytes, which clients resolve tags with; a tag list (small) too,
 * so that every answer carries one.
 */
export function ociExpectation(path: string): Expectation | undefined {
  const endpoint = endpointOfPath(path);
  if (endpoint === undefined) return undefined;
  if (endpoint.kind === 'tags') return { awaitAdmission: true, verification: 'unverified' };
  if ('digest' in endpoint) return endpoint.digest.algorithm === 'sha256' ? { sha256: endpoint.digest.hex, verification: 'hash-verified' } : undefined;
  return { awaitAdmission: true, verification: 'unverified' };
}

export const ociVerifier: ContentVerifier = {
  expect: (_upstream: string, path: string) => ociExpectation(path),
  admit(candidate) {
    const endpoint = endpointOfPath(candidate.path);
    const byDigest = endpoint !== undefined && 'digest' in endpoint;
    return Promise.resolve({ admit: true, verification: byDigest ? 'hash-verified' : 'unverified' });
  },
  learn: () => Promise.resolve(),
};

function createOciProtocol(context: ProtocolContext): Promise<Protocol> {
  return Promise.resolve(buildOciProtocol(context));
}

function buildOciProtocol(context: ProtocolContext): Protocol {
  const { config, upstreams, clock } = context;
  const oci: OciConfig = config.oci;
  const tokens = new TokenCache(clock);
  const tokenServices = new Map<string, Upstream>();
  const registries = new Map<string, Upstream>();
  for (const [name, registry] of effectiveRegistries(oci)) {
    const url = new URL(registry.url);
    const configKey = `oci.registries.${name}`;
    // A blob GET may redirect to object storage with a signed URL of any shape: any path passes, the host and
    // network rules still apply, and the fetcher drops Authorization on the way to another origin.
    const inner = upstreams.mirrors(`oci:${name}`, [url], { caFile: registry.caFile, configKey, pathAllowed: () => true });
    const tokenService = (realm: URL): Upstream => {
      const known = tokenServices.get(realm.origin);
      if (known !== undefined) return known;
      if (tokenServices.size >= maxTokenServices) {
        throw new HoardError('HOARD_ERR_UPSTREAM_AUTH', `more than ${maxTokenServices} token services named by registries`, {
          detail: 'too many token services',
        });
      }
      const service = upstreams.mirrors(`oci-token:${realm.origin}`, [realm], {
        caFile: registry.caFile,
        configKey: `${configKey} (token realm)`,
        pathAllowed: () => true,
      });
      tokenServices.set(realm.origin, service);
      return service;
    };
    const credentials =
      registry.username !== undefined && registry.password !== undefined ? { username: registry.username, password: registry.password } : undefined;
    registries.set(name, new RegistryUpstream({ name, inner, credentials, tokens, tokenService, secure: url.protocol === 'https:', clock }));
  }
  const rules = { registries: new Set(registries.keys()), defaultRegistry: oci.defaultRegistry };
  const registryUrls = [...effectiveRegistries(oci)].map(([name, r]) => [name, new URL(r.url)] as const);
  const references = new OciReferences(context.blobs, context.index);
  // Registries reached with hoard's credentials are served only to clients that authenticate to hoard, unless public.
  const privateRegistries = new Set([...effectiveRegistries(oci)].filter(([, r]) => r.username !== undefined && !r.public).map(([name]) => name));
  const clients = new ClientAuth(oci.users);
  const privateKeys = new Set([...privateRegistries].map((name) => `oci:${name}`));
  const classify = (path: string): PathPolicy | undefined => {
    const endpoint = endpointOfPath(path);
    return endpoint === undefined ? undefined : ociPolicy(endpoint, oci.tagMaxAgeSeconds);
  };

  /**
   * The /v2/ path and query of a target this protocol spells: origin-form under /v2/, or absolute-form under a
   * configured registry's URL (a child hoard whose parent this is asks with the registry's own URL, `proxiedKey`
   * naming that registry). Undefined for anything else (an absolute-form target elsewhere is an apt spelling).
   */
  const targetParts = (target: RequestTarget): { rawPath: string; query: string; proxiedKey: string | undefined } | undefined => {
    if (!oci.enabled) return undefined;
    const absolute = absoluteTarget(target.raw);
    const proxied = absolute === undefined ? undefined : underBase(absolute, registryUrls, 'v2/');
    if (absolute !== undefined && proxied === undefined) return undefined;
    const { path: rawPath, query } = proxied === undefined ? splitQuery(target.raw) : { path: `/v2/${proxied.rest}`, query: proxied.query };
    if (rawPath !== '/v2' && !rawPath.startsWith('/v2/')) return undefined;
    return { rawPath, query, proxiedKey: proxied?.key };
  };

  /**
   * The registry and endpoint of a /v2/ target, checked (length, method, grammar, who may pull): undefined
   * when the target is not under /v2/; a HoardError for a refusal, before any upstream request.
   */
  const claim = (target: RequestTarget): { chosen: ChosenRegistry; restricted: boolean; ns: string | undefined } | undefined => {
    const parts = targetParts(target);
    if (parts === undefined) return undefined;
    const { rawPath, query, proxiedKey } = parts;
    if (target.raw.length > config.server.maxTargetLength) {
      throw new HoardError('HOARD_ERR_TARGET_TOO_LONG', `request target of ${target.raw.length} characters exceeds ${config.server.maxTargetLength}`);
    }
    // OCI distribution spec v1.1, "Error Codes": UNSUPPORTED for what the registry does not do; a mirror is read-only.
    if (target.method !== 'GET' && target.method !== 'HEAD') {
      throw new HoardError('HOARD_ERR_OCI_UNSUPPORTED', `${target.method} ${rawPath}: this mirror is read-only (no push, no delete)`, {
        detail: 'this registry mirror is read-only: pushes and deletes are not supported',
      });
    }
    const chosen = chooseRegistry(rawPath.slice('/v2/'.length), query, rules, proxiedKey);
    const restricted = privateRegistries.has(chosen.registry);
    if (restricted && !clients.accepts(target.headers.authorization)) {
      throw unauthorized(`registry ${chosen.registry} is reached with credentials and is not public: ${target.method} ${rawPath} needs a configured user`);
    }
    return { chosen, restricted, ns: chosen.rule === 'ns' ? chosen.registry : undefined };
  };

  /**
   * A page of a tag list, fetched for this client alone and never stored: the cache keys objects by path, and
   * would keep neither the page's query nor the upstream's `Link` to the next page, which is rewritten to hoard.
   */
  const pagedTags = async (target: RequestTarget, clientPath: string, query: string): Promise<LocalAnswer> => {
    const page = parseTagPage(query) ?? {};
    const claimed = claim(target);
    if (claimed === undefined) throw new HoardError('HOARD_ERR_INTERNAL', `${clientPath} was not claimed by the OCI protocol`);
    const { chosen, ns } = claimed;
    const upstream = registries.get(chosen.registry) as Upstream;
    const response = await upstream.fetch(endpointPath(chosen.endpoint) + tagPageQuery(page), { method: 'GET', headers: { accept: 'application/json' } });
    const body = await readTagPage(response);
    if (response.status !== 200) {
      const rendered = renderOciStatus(chosen.endpoint, response.status, `upstream answered ${response.status}`);
      return { status: response.status, contentType: rendered.contentType, body: rendered.body, headers: { ...rendered.headers, ...apiVersionHeaders } };
    }
    const hex = createHash('sha256').update(body).digest('hex');
    const headers: Record<string, string> = { ...apiVersionHeaders, 'docker-content-digest': `sha256:${hex}`, etag: `"${hex.slice(0, 32)}"` };
    const link = rewriteTagsLink(response.headers.link, clientPath, ns);
    if (link !== undefined) headers.link = link;
    // The registry's type, as the cached whole list keeps it (RegistryUpstream lets only JSON and vnd types through).
    return { status: 200, contentType: response.headers['content-type'] ?? 'application/json', body, headers };
  };

  return {
    name: 'oci',
    answer(target: RequestTarget): LocalAnswer | Promise<LocalAnswer> | undefined {
      if (!oci.enabled || (target.method !== 'GET' && target.method !== 'HEAD')) return undefined;
      const parts = targetParts(target);
      if (parts === undefined) return undefined;
      if (parts.rawPath.endsWith('/tags/list')) {
        const params = new URLSearchParams(parts.query.startsWith('?') ? parts.query.slice(1) : parts.query);
        // An async answer: a refusal (a bad page, a private registry) is rendered by the OCI protocol as JSON.
        if (params.has('n') || params.has('last')) return pagedTags(target, parts.rawPath, parts.query);
        return undefined;
      }
      // The version check is answered for origin-form targets only (a child hoard's absolute-form one goes to the registry).
      const { path } = splitQuery(target.raw);
      if (path !== '/v2/' && path !== '/v2') return undefined;
      // containers/image (podman, skopeo) sends credentials only when the version check challenges it; without
      // credentials it goes on anonymously, and public registries still serve it. The Docker daemon is not
      // challenged: it uses a mirror for Docker Hub only, cannot log in to one, and skips a mirror that challenges.
      // The challenge only invites credentials: every path of a private registry checks them whatever was answered here.
      const agent = target.headers['user-agent'];
      const dockerDaemon = typeof agent === 'string' && agent.startsWith('docker/');
      if (privateRegistries.size > 0 && !clients.accepts(target.headers.authorization) && (!dockerDaemon || target.headers.authorization !== undefined)) {
        const rendered = renderOciError(unauthorized('authentication to this mirror is needed for some registries'), 401);
        return { status: 401, ...rendered };
      }
      // OCI distribution spec v1.1, "Determining support": 200 means the registry implements the spec.
      return { status: 200, contentType: 'application/json', body: '{}\n', headers: apiVersionHeaders };
    },
    // Claims origin-form targets under /v2/, and absolute-form targets under a configured registry's URL (a child
    // hoard whose parent this is asks with the registry's own URL): apt, after it, never sees them.
    route(target: RequestTarget): Route | undefined {
      const claimed = claim(target);
      if (claimed === undefined) return undefined;
      const { chosen, restricted } = claimed;
      const upstream = registries.get(chosen.registry) as Upstream;
      const path = endpointPath(chosen.endpoint);
      const policy = ociPolicy(chosen.endpoint, oci.tagMaxAgeSeconds);
      // A client's own Authorization (or anything else it sends) never goes upstream; manifests get the fixed Accept.
      // A restricted route always has `forward`: a route shaped by request headers is never remembered for the next client.
      const forward = chosen.endpoint.kind === 'manifest' ? { accept: manifestAccept } : restricted ? {} : undefined;
      return { upstream, path, policy, mode: `oci-${chosen.rule}`, forward };
    },
    classify,
    upstreamFor(key: string): Upstream | undefined {
      return key.startsWith('oci:') ? registries.get(key.slice('oci:'.length)) : undefined;
    },
    // A stored manifest teaches which blobs it names: those stay while it does.
    verifier: {
      ...ociVerifier,
      // Content is shared across registries by digest, but what hoard fetched with a private registry's credentials is
      // not served under a public registry's name: that registry is asked (and must have the bytes) instead.
      expect: (upstreamKey, path) => {
        const expectation = ociExpectation(path);
        const publicRoute = !privateRegistries.has(upstreamKey.slice('oci:'.length));
        return expectation?.sha256 !== undefined && publicRoute ? { ...expectation, reuseFrom: (key) => !privateKeys.has(key) } : expectation;
      },
      learn: (_upstream, path, digest) => references.learn(path, digest),
    },
    references,
    renderError: renderOciError,
    renderStatus(route: Route, status: number, reason: string) {
      const rendered = renderOciStatus(endpointOfPath(route.path), status, reason);
      return { ...rendered, headers: { ...rendered.headers, ...apiVersionHeaders } };
    },
    responseHeaders(route: Route, object: CachedObject): Record<string, string> {
      return ociResponseHeaders(endpointOfPath(route.path), object);
    },
    itemName(path: string): ItemName | undefined {
      const endpoint = endpointOfPath(path);
      if (endpoint?.kind !== 'manifest') return undefined;
      return { name: 'tag' in endpoint ? `${endpoint.name}:${endpoint.tag}` : `${endpoint.name}@${endpoint.digest.text}` };
    },
    start: () => references.start(),
  };
}

/**
 * OCI distribution spec v1.1, "Pulling manifests" and "Pulling blobs": `Docker-Content-Digest` names the
 * bytes (the digest asked for, else the sha256 of what was fetched by tag). A download asked by digest
 * has no ETag of its own until its last byte: the one its digest will give is sent at once.
 */
export function ociResponseHeaders(endpoint: OciEndpoint | undefined, object: CachedObject): Record<string, string> {
  const headers: Record<string, string> = { ...apiVersionHeaders };
  if (endpoint !== undefined && endpoint.kind !== 'tags' && 'digest' in endpoint) {
    headers['docker-content-digest'] = endpoint.digest.text;
    if (object.etag === undefined && endpoint.digest.algorithm === 'sha256') headers.etag = `"${endpoint.digest.hex.slice(0, 32)}"`;
  } else if (object.digest !== undefined) {
    headers['docker-content-digest'] = `sha256:${object.digest}`;
  }
  return headers;
}

/** Bound on a tag list page read into memory: a page of `maxTagPageSize` tags of 128 characters fits. */
const maxTagPageBytes = 2 * 1024 * 1024;

/** The page's body as text, bounded: a larger one is an upstream failure, not a page. */
async function readTagPage(response: UpstreamResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    const buffer = chunk as Buffer;
    size += buffer.byteLength;
    if (size > maxTagPageBytes) {
      response.body.destroy();
      throw new HoardError('HOARD_ERR_OBJECT_TOO_LARGE', `a tag list page from ${response.url.href} exceeds ${maxTagPageBytes} bytes`, {
        detail: 'the upstream registry sent an oversized tag list page',
      });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
