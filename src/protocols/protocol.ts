// The protocol seam, types only: what each ecosystem (apt, OCI, image streams) tells the shared server and cache.
import type { CachedObject, PathPolicy } from '../cache/cached-object.ts';
import type { ContentVerifier } from '../cache/content-verifier.ts';
import type { ReferenceOracle } from '../cache/eviction-policy.ts';
import type { HoardError } from '../errors.ts';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { HoardConfig } from '../config/config-schema.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { MetadataIndex } from '../storage/metadata-index.ts';
import type { Upstream } from '../upstream/fetcher.ts';

/** A request as the HTTP edge hands it to the protocols: nothing decoded yet. */
export interface RequestTarget {
  readonly method: string;
  /** The request target exactly as sent: absolute URI (proxy mode) or origin-form path, query included. */
  readonly raw: string;
  /** Lower-case header names, as node parses them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** Where a claimed request goes and how the cache treats it. */
export interface Route {
  readonly upstream: Upstream;
  /** Decoded, normalized path on the upstream; with `upstream.key`, the cache key. */
  readonly path: string;
  /**
   * The raw query to send upstream (with its `?`), when the protocol lets one through; it is never part
   * of the cache key, so a protocol passes only queries that do not change the bytes (or refuses them).
   */
  readonly query?: string | undefined;
  readonly policy: PathPolicy;
  /** How the target was spelled (proxy, prefix, backend, ...), for logs. */
  readonly mode: string;
  /** Request headers to send upstream, already picked by the policy's `forwardHeaders`. */
  readonly forward?: Readonly<Record<string, string>> | undefined;
}

/** What a protocol answers for an error: a body in its clients' format and any extra headers. */
export interface RenderedError {
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * An answer a protocol gives itself, with no upstream and no cache: an API's version check (`GET /v2/`
 * for OCI registries). Small and fixed, so it is a body, not a stream.
 */
export interface LocalAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** One figure for the dashboard: an item the protocol recognises in a path (a package, an image, a stream item). */
export interface ItemName {
  /** Shown as is: `hello_2.10-3_amd64.deb`, `library/debian`, ... */
  readonly name: string;
}

/**
 * One ecosystem behind the shared server. The server asks each protocol in a fixed order; the first
 * whose `route` answers claims the request. Shared machinery (coalescing, the blob store, the index,
 * eviction, metrics) never names a protocol: it sees this interface and `PathPolicy.protocol`.
 */
export interface Protocol {
  /** Short, stable name: stored with every index entry and used as the `protocol` label. */
  readonly name: string;
  /**
   * Claims the request (a Route), passes (undefined: not this protocol's), or refuses it with a
   * HoardError (malformed, not allowed): a refusal ends the search, since the target was this
   * protocol's spelling.
   */
  route(target: RequestTarget): Route | undefined;
  /** The policy for another path of the same upstream (the verifier fetching an index through the cache). */
  classify(path: string, upstream?: string): PathPolicy | undefined;
  /** The Upstream behind a cache key's upstream part, for fetches that no client asked for. */
  upstreamFor(key: string): Upstream | undefined;
  readonly verifier: ContentVerifier;
  /** Which stored objects the protocol's indices still list: eviction and gc take the rest first. */
  readonly references: ReferenceOracle;
  /** Renders an error for a request it claimed or refused; absent: hoard's plain one-line text. */
  renderError?(error: HoardError, status: number): RenderedError;
  /**
   * Answers a request itself (no cache), or undefined to let `route` decide. Asked before `route`, in the
   * same order, for GET and HEAD only. A promise is an answer fetched upstream for this client alone and
   * never stored (OCI's paged tag lists, whose `Link` the cache would not keep); its rejection is rendered
   * by `renderError` like any refusal.
   */
  answer?(target: RequestTarget): LocalAnswer | Promise<LocalAnswer> | undefined;
  /**
   * Renders an upstream's non-2xx answer that the cache relays (404, 401, ...) in its clients' format;
   * absent: hoard's plain one-line text with the status.
   */
  renderStatus?(route: Route, status: number, reason: string): RenderedError;
  /** Extra response headers for a served object (e.g. `Docker-Content-Digest`). */
  responseHeaders?(route: Route, object: CachedObject): Record<string, string> | undefined;
  /** The dashboard's "top items" for this protocol: undefined when the path is not an item worth listing. */
  itemName(path: string): ItemName | undefined;
  /** Work before the first request (rebuilding knowledge from the store); the server listens after it. */
  start(): Promise<void>;
}

/** Builds the Upstreams a protocol routes to; concrete fetchers stay in the composition root. */
export interface UpstreamFactory {
  /**
   * A host a client chose (proxy or prefix mode), cached under `key`, fetched from `fetchFrom` (the same
   * origin, or its https upgrade). `allowedHosts` and the denied networks apply to it and to every
   * redirect hop; throws when refused. `pathAllowed` is the protocol's path table, which every hop must pass too.
   */
  origin(key: string, host: string, fetchFrom: URL, rules: { readonly pathAllowed: (path: string) => boolean }): Upstream;
  /** Mirrors the operator configured (`configKey` names them in messages), tried in order with failover. */
  mirrors(
    key: string,
    mirrors: readonly URL[],
    options: { readonly caFile?: string | undefined; readonly configKey: string; readonly pathAllowed: (path: string) => boolean },
  ): Upstream;
}

/** What the composition root hands a protocol: the shared seams and its configuration. */
export interface ProtocolContext {
  readonly config: HoardConfig;
  readonly blobs: BlobStore;
  readonly index: MetadataIndex;
  readonly upstreams: UpstreamFactory;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** What a client-config renderer may read besides the cache URL and its certificate. */
export interface ClientConfigContext {
  /**
   * The operator's configuration (`--config`, `HOARD_CONFIG`, else the default file or built-in defaults),
   * loaded on first call: only renderers that list configured things (OCI's registries) read it, so a
   * broken file never stops `client-config apt`.
   */
  config(): HoardConfig;
}

/** The certificate a cache's https URL presents, as `hoard client-config` found it: for clients that must trust it. */
export interface CacheCertificate {
  /** The leaf, PEM. */
  readonly pem: string;
  /** SHA-256 of its DER, `AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint256: string;
  /** Its own issuer (hoard's generated pair): trusting it means adding this very certificate to a CA store. */
  readonly selfSigned: boolean;
  readonly issuer: string;
}

/**
 * One `hoard client-config` entry: the whole document for a cache at `cacheUrl` (checked: http(s), no credentials
 * or shell characters), or undefined when this protocol has nothing for that URL, and the next protocol naming
 * the same target is asked (images answer `lxd` for an https URL, apt's proxy profile for an http one). Throws
 * (an Error whose message the command prints) when the URL is this protocol's but incomplete.
 * `context` gives the operator's configuration when the command has one (absent: a renderer assumes the defaults).
 */
export type ClientConfigRenderer = (cacheUrl: string, certificate?: CacheCertificate, context?: ClientConfigContext) => string | undefined;

/** A protocol as installed: its name, what it offers without a server, and how to build it. */
export interface ProtocolModule {
  readonly name: string;
  /** Ready client settings by target name (`hoard client-config <target>`), each a whole document for that tool. */
  readonly clientConfigs: Readonly<Record<string, ClientConfigRenderer>>;
  create(context: ProtocolContext): Promise<Protocol>;
}
