// An Upstream for one registry: hoard's own credentials (basic or bearer tokens per scope), 429 as an error, digests checked as bytes stream.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Clock } from '../../clock.ts';
import { HoardError } from '../../errors.ts';
import type { FetchInit, Upstream, UpstreamResponse } from '../../upstream/fetcher.ts';
import { endpointOfPath, parseDigest, type Digest } from './oci-reference.ts';
import { parseChallenge, parseTokenAnswer, type TokenCache } from './oci-token-cache.ts';

export interface RegistryUpstreamOptions {
  /** The registry's name in the configuration; the cache key is `oci:<name>`. */
  readonly name: string;
  /** The registry's configured URL, fetched with failover and guarded redirects (built by the UpstreamFactory). */
  readonly inner: Upstream;
  readonly credentials?: { readonly username: string; readonly password: string } | undefined;
  readonly tokens: TokenCache;
  /** The Upstream of a token service's origin (the realm of a Bearer challenge). */
  readonly tokenService: (realm: URL) => Upstream;
  /** Whether the registry's own URL is https: a token service over plain http then gets no credentials. */
  readonly secure: boolean;
  readonly clock: Clock;
}

/** Bound on a token answer's body: tokens are a few KB. */
const maxTokenAnswerBytes = 64 * 1024;
/** Bound on the Retry-After passed to clients (seconds): an upstream cannot park clients for days. */
const maxRetryAfterSeconds = 3600;

export class RegistryUpstream implements Upstream {
  readonly key: string;
  readonly #o: RegistryUpstreamOptions;
  /** Learnt from the registry's first 401: Basic registries then get credentials up front. */
  #basic = false;
  /** Token requests in flight, by cache key: one for all clients asking the same scope. */
  readonly #pendingTokens = new Map<string, Promise<string>>();

  constructor(options: RegistryUpstreamOptions) {
    this.#o = options;
    this.key = `oci:${options.name}`;
  }

  async fetch(path: string, init: FetchInit): Promise<UpstreamResponse> {
    const unchanged = await this.#unchangedTag(path, init);
    if (unchanged !== undefined) return unchanged;
    return this.#authenticated(path, init);
  }

  /**
   * Revalidates a tag with a HEAD (registries count manifest GETs against pull limits, HEADs not): when the
   * `Docker-Content-Digest` (or ETag) it answers is the stored copy's, a 304 is made of it, with no GET.
   */
  async #unchangedTag(path: string, init: FetchInit): Promise<UpstreamResponse | undefined> {
    const stored = init.headers?.['if-none-match'];
    const endpoint = init.method === 'GET' && stored !== undefined ? endpointOfPath(path) : undefined;
    if (endpoint?.kind !== 'manifest' || !('tag' in endpoint)) return undefined;
    const head = await this.#authenticated(path, { ...init, method: 'HEAD' });
    head.body.destroy();
    // The HEAD carries the conditional headers too: a registry that honours them answers 304 itself.
    if (head.status === 304) return head;
    if (head.status !== 200) return undefined;
    const digest = head.headers['docker-content-digest']?.trim();
    const etag = head.headers.etag?.trim();
    // RFC 9110 13.1.2: If-None-Match compares entity tags; the registry's ETag for a manifest is its quoted digest.
    if ((digest === undefined || `"${digest}"` !== stored) && (etag === undefined || etag !== stored)) return undefined;
    return { ...head, status: 304 };
  }

  async #authenticated(path: string, init: FetchInit): Promise<UpstreamResponse> {
    const scope = scopeOf(path);
    const tokenKey = scope === undefined ? undefined : `${this.#o.name} ${scope}`;
    const cached = tokenKey === undefined ? undefined : this.#o.tokens.get(tokenKey);
    let sent = cached === undefined ? this.#basicHeader() : `Bearer ${cached}`;
    let response = await this.#o.inner.fetch(path, withAuthorization(init, sent));
    // Distribution's token spec: a 401 carries the challenge; one new token (or basic credentials), one retry.
    if (response.status === 401) {
      const challenge = parseChallenge(response.headers['www-authenticate']);
      response.body.destroy();
      if (tokenKey !== undefined && cached !== undefined) this.#o.tokens.drop(tokenKey, cached);
      if (challenge?.scheme === 'bearer') {
        const token = await this.#token(challenge.realm, challenge.service, scope ?? challenge.scope, tokenKey);
        sent = `Bearer ${token}`;
      } else if (challenge?.scheme === 'basic' && this.#o.credentials !== undefined && !this.#basic) {
        this.#basic = true;
        sent = this.#basicHeader();
      } else {
        throw authError(`registry ${this.#o.name} answered 401 to ${path}${this.#o.credentials === undefined ? ' (no credentials configured)' : ''}`);
      }
      response = await this.#o.inner.fetch(path, withAuthorization(init, sent));
      if (response.status === 401) {
        response.body.destroy();
        if (tokenKey !== undefined && sent?.startsWith('Bearer ') === true) this.#o.tokens.drop(tokenKey, sent.slice('Bearer '.length));
        throw authError(`registry ${this.#o.name} refused the credentials for ${path} after a retry`);
      }
    }
    // RFC 6585 4: an error, so that the cache serves what it has (a stale tag) and passes Retry-After on when it has nothing.
    if (response.status === 429) {
      response.body.destroy();
      const retryAfter = retryAfterSeconds(response.headers['retry-after'], this.#o.clock.now());
      throw new HoardError('HOARD_ERR_UPSTREAM_RATE_LIMITED', `registry ${this.#o.name} answered 429 to ${path}`, {
        detail: `the upstream registry ${this.#o.name} is rate-limiting; retry later`,
        retryAfterSeconds: retryAfter,
      });
    }
    const headers = withSafeContentType(response.headers);
    if (response.status === 200 && init.method === 'GET') return { ...response, headers, body: this.#checked(path, response) };
    return { ...response, headers };
  }

  reportFailure(url: URL, reason: string): void {
    this.#o.inner.reportFailure?.(url, reason);
  }

  #basicHeader(): string | undefined {
    const c = this.#o.credentials;
    return this.#basic && c !== undefined ? basicAuth(c.username, c.password) : undefined;
  }

  /** A token for `scope` from the realm, shared by every request waiting for the same one. */
  async #token(realm: string, service: string | undefined, scope: string | undefined, tokenKey: string | undefined): Promise<string> {
    const key = tokenKey ?? `${this.#o.name} ${realm} ${service ?? ''}`;
    const pending = this.#pendingTokens.get(key);
    if (pending !== undefined) return pending;
    const started = this.#requestToken(realm, service, scope, key).finally(() => this.#pendingTokens.delete(key));
    this.#pendingTokens.set(key, started);
    return started;
  }

  async #requestToken(realm: string, service: string | undefined, scope: string | undefined, key: string): Promise<string> {
    const url = URL.parse(realm);
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      throw authError(`registry ${this.#o.name} named an unusable token realm ${JSON.stringify(realm.slice(0, 200))}`);
    // Credentials go to the realm only over TLS when the registry itself is reached over TLS: never downgraded to cleartext.
    const c = this.#o.credentials;
    const sendCredentials = c !== undefined && (url.protocol === 'https:' || !this.#o.secure);
    const query = new URLSearchParams(url.search);
    if (service !== undefined) query.set('service', service);
    if (scope !== undefined) query.set('scope', scope);
    const search = query.toString();
    const path = `${url.pathname}${search === '' ? '' : `?${search}`}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (sendCredentials) headers.authorization = basicAuth(c.username, c.password);
    const tokenUpstream = this.#o.tokenService(new URL(url.origin));
    let response: UpstreamResponse;
    try {
      response = await tokenUpstream.fetch(path, { method: 'GET', headers });
    } catch (err) {
      throw authError(`the token service of registry ${this.#o.name} (${url.origin}) failed: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    const text = await readBounded(response, maxTokenAnswerBytes);
    if (response.status !== 200) throw authError(`the token service of registry ${this.#o.name} answered ${response.status}`);
    const answer = text === undefined ? undefined : parseTokenAnswer(text);
    if (answer === undefined) throw authError(`the token service of registry ${this.#o.name} sent no usable token`);
    this.#o.tokens.set(key, answer.token, answer.expiresIn);
    return answer.token;
  }

  /**
   * The body, checked against the digest it must have: the one in the path (a manifest or blob asked
   * by digest; sha512 too, which the cache's own sha256 check cannot do), and the upstream's
   * `Docker-Content-Digest` when it sends one. A mismatch errors the stream before its end, so the
   * download is never stored and every client's response is cut.
   */
  #checked(path: string, response: UpstreamResponse): UpstreamResponse['body'] {
    const endpoint = endpointOfPath(path);
    if (endpoint === undefined || endpoint.kind === 'tags') return response.body;
    const wanted: Digest[] = [];
    if ('digest' in endpoint) wanted.push(endpoint.digest);
    const header = response.headers['docker-content-digest'];
    const announced = header === undefined ? undefined : parseDigest(header.trim());
    if (announced !== undefined && !wanted.some((d) => d.text === announced.text)) wanted.push(announced);
    // Only a sha256 from the path is checked by the cache itself; anything else is checked here.
    const extra = wanted.filter((d) => !(d.algorithm === 'sha256' && 'digest' in endpoint && d.text === endpoint.digest.text));
    if (extra.length === 0) return response.body;
    const source = response.body;
    const checker = new DigestCheck(extra, `${response.url.href}`);
    source.on('error', (err) => checker.destroy(err));
    checker.on('close', () => {
      if (!source.destroyed) source.destroy();
    });
    return source.pipe(checker);
  }
}

/** Hashes what passes and fails at the end when a digest differs: a Transform, so the error comes before 'end'. */
class DigestCheck extends Transform {
  readonly #hashes: Array<{ digest: Digest; hash: ReturnType<typeof createHash> }>;
  readonly #url: string;

  constructor(digests: readonly Digest[], url: string) {
    super();
    this.#hashes = digests.map((digest) => ({ digest, hash: createHash(digest.algorithm) }));
    this.#url = url;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (const { hash } of this.#hashes) hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    for (const { digest, hash } of this.#hashes) {
      const got = hash.digest('hex');
      if (got !== digest.hex) {
        callback(
          new HoardError('HOARD_ERR_DIGEST_MISMATCH', `${this.#url}: the body's ${digest.algorithm} is ${got}, expected ${digest.hex}`, {
            detail: 'upstream content does not match its digest',
          }),
        );
        return;
      }
    }
    callback();
  }
}

/**
 * A manifest's Content-Type is stored and served as the registry sent it (its media type). Only
 * `application/json` and `application/vnd.*` types pass: a registry naming `text/html` would otherwise
 * have browsers render what it sent under the cache's own origin, the dashboard's.
 */
const safeMediaType = /^application\/(json|vnd\.[A-Za-z0-9][\w.+-]{0,126})(\s*;[\x20-\x7e]{0,200})?$/;

function withSafeContentType(headers: UpstreamResponse['headers']): UpstreamResponse['headers'] {
  const type = headers['content-type'];
  if (type === undefined || safeMediaType.test(type.trim())) return headers;
  return { ...headers, 'content-type': 'application/octet-stream' };
}

/** Distribution's token spec: the scope a pull of this path needs (`repository:<name>:pull`); none for other paths. */
export function scopeOf(path: string): string | undefined {
  // A tag list's page comes with its query (`?n=..&last=..`): the scope is the repository's all the same.
  const query = path.indexOf('?');
  const endpoint = endpointOfPath(query < 0 ? path : path.slice(0, query));
  return endpoint === undefined ? undefined : `repository:${endpoint.name}:pull`;
}

function withAuthorization(init: FetchInit, authorization: string | undefined): FetchInit {
  if (authorization === undefined) return init;
  return { ...init, headers: { ...init.headers, authorization } };
}

function basicAuth(username: string, password: string): string {
  // RFC 7617 2: user-id ":" password, base64 of UTF-8.
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function authError(message: string, cause?: unknown): HoardError {
  return new HoardError('HOARD_ERR_UPSTREAM_AUTH', message, { cause, detail: 'the upstream registry refused the credentials or token of this mirror' });
}

/** RFC 9110 10.2.3: delay-seconds or an HTTP-date; bounded, and undefined when unparsable. */
export function retryAfterSeconds(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  let seconds: number;
  if (/^\d{1,10}$/.test(trimmed)) seconds = Number(trimmed);
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    seconds = Math.ceil((at - now) / 1000);
  }
  return Math.min(maxRetryAfterSeconds, Math.max(0, seconds));
}

async function readBounded(response: UpstreamResponse, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      size += buffer.byteLength;
      if (size > limit) {
        response.body.destroy();
        return undefined;
      }
      chunks.push(buffer);
    }
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks).toString('utf8');
}
