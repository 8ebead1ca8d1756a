// The HTTP edge on port 3142: access control, routing through the protocols, cache lookup, error statuses.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { CacheLookup, CachedObject } from '../cache/cached-object.ts';
import type { ReadThroughCache } from '../cache/read-through-cache.ts';
import type { HoardConfig } from '../config/config-schema.ts';
import { HoardError, isHoardError } from '../errors.ts';
import { publishRequest, publishTunnel } from '../events.ts';
import { connectionGarbage } from '../runtime/connection-garbage.ts';
import type { LocalAnswer, Protocol } from '../protocols/protocol.ts';
import type { Claimed, ProtocolSet, RouteScope } from '../protocols/protocol-set.ts';
import { ClientAccess } from './client-access.ts';
import { statusForCode } from './error-status.ts';
import { ResponseOrder } from './response-order.ts';
import { viaChain } from './via-chain.ts';
import { answerRawRefusals } from './raw-refusals.ts';
import { nosniffHeaders, nosniffLine } from './security-headers.ts';
import { SendBufferPool } from './body-sender.ts';
import { HotBodyCache } from './hot-body-cache.ts';
import { HitMemo, isPlainGet, memoKeyOf } from './hit-memo.ts';
import { serveObject, wholeBodyHeaders, type SendResources, type ServeResult } from './serve-object.ts';
import { usagePage } from './usage-page.ts';

// Not `import ... from 'node:http'`: an ES import of node:http reads every export, and its lazy
// WebSocket, CloseEvent and MessageEvent getters load Node's bundled undici (about 14 MB resident in
// a bare process, measured), which hoard never uses. The CommonJS module object leaves them alone.
const { createServer } = process.getBuiltinModule('node:http');

/** Handles requests under the admin prefix; returns false when the path is not one of its own. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, subpath: string) => Promise<boolean>;

export interface ProxyServerDeps {
  config: HoardConfig;
  cache: ReadThroughCache;
  protocols: ProtocolSet;
  admin?: AdminHandler | undefined;
  /** Handles an allowed CONNECT; absent means every CONNECT is refused. */
  connect?: ((req: IncomingMessage, socket: Duplex, head: Buffer) => boolean) | undefined;
  logger: Logger;
  /** This instance's token in `Via`, to recognise a request that looped back through it. */
  viaToken: string;
  /**
   * Hands a stored object to the serving thread that relayed the request (src/serving/serving-threads.ts), which sends
   * it; resolves with what was sent, or `handedBack` (the blob was gone: the request comes again and counts then).
   * Undefined: sent here.
   */
  offload?:
    | ((
        req: IncomingMessage,
        res: ServerResponse,
        object: CachedObject,
        headers: Record<string, string>,
        reuse: { key: string; upstream: string; protocol: string; item?: string | undefined } | undefined,
      ) => Promise<ServeResult & { handedBack?: boolean }> | undefined)
    | undefined;
  /** Present: plain hits on small immutable objects are answered again from memory for up to a second (no lookup). */
  hitReuse?: HitReuse | undefined;
}

/**
 * What the HTTP edge needs to answer a plain hit again without a lookup (src/http/hit-memo.ts): a count of index
 * writes and download ends, which ends every decision kept.
 */
export interface HitReuse {
  epoch(): number;
  /** A request answered from a kept hit on this index key: its access is recorded (eviction order) and counted. */
  reused(key: string): void;
}

/** Bound on the small hot bodies kept in memory (and, apart, on those kept with reused hits). */
const hotBodyBytes = 16 * 1024 * 1024;

/** A plain hit kept for reuse: the whole head and the body in memory, and what to record. */
interface KeptHit {
  readonly headers: readonly string[];
  readonly body: Uint8Array;
  readonly key: string;
  readonly outcome: Outcome;
}

/** The result of a request a serving thread gave back (its blob was gone): it comes again, and is counted then. */
const handedBack = 'handed-back';

interface Outcome {
  result: string;
  status: number;
  bytes: number;
  upstream?: string | undefined;
  protocol?: Protocol | undefined;
  /** The protocol's name for the file, when it is an item worth listing (a package). */
  item?: string | undefined;
  errorCode?: string | undefined;
}

/** What one request learnt before it failed: the protocol that claimed (or refused) it renders the error. */
interface RequestScope {
  protocol?: Protocol | undefined;
  /** The protocol whose route refused the target: it renders the refusal, which counts as no protocol's request. */
  refusedBy?: Protocol | undefined;
}

export function createProxyServer(deps: ProxyServerDeps): Server {
  const { config } = deps;
  const clients = new ClientAccess(config.allowedClients);
  // Small hot bodies (packages of a few KB, Release files) are answered from memory; 16 MB bounds it.
  const sendResources: SendResources = {
    hotBodies: new HotBodyCache({ maxBytes: hotBodyBytes, maxEntryBytes: 128 * 1024 }),
    buffers: new SendBufferPool(),
    sendRate: { minBytesPerSecond: config.server.minSendBytesPerSecond, windowMs: config.server.slowClientWindowSeconds * 1000 },
  };
  const adminPrefix = config.admin.prefix;
  const viaHeader = `1.1 ${deps.viaToken}`;
  const order = new ResponseOrder();
  const hitReuse = deps.hitReuse;
  // Bodies kept for reuse are bounded like the hot-body cache they come from: one evicted there may still be held here.
  const kept = hitReuse === undefined ? undefined : new HitMemo<KeptHit>(() => hitReuse.epoch(), hotBodyBytes);

  const server = createServer(
    {
      noDelay: true,
      keepAlive: true,
      headersTimeout: config.server.headersTimeoutMs,
      // Bounds the time to receive a request, not to send the response: long downloads are fine.
      requestTimeout: config.server.headersTimeoutMs * 2,
      // How often header and request timeouts are checked; node's default (30 s) lets a slowloris linger.
      connectionsCheckingInterval: Math.min(1000, config.server.headersTimeoutMs),
      keepAliveTimeout: config.server.keepAliveTimeoutMs,
      maxHeaderSize: 16 * 1024,
      // The missing Host is refused below, as a hoard error with its code and headers, not by node's bare 400.
      requireHostHeader: false,
    },
    (req, res) => {
      const started = performance.now();
      order.track(req, res);
      // The same plain GET of a small immutable object as a moment ago: the answer the lookup gave then stands
      // until an index write or a second has passed. Client access is still asked each time.
      if (kept !== undefined && isPlainGet(req)) {
        const memoKey = memoKeyOf(req);
        const hit = memoKey === undefined ? undefined : kept.recall(memoKey);
        if (hit !== undefined && clients.allows(req.socket.remoteAddress)) {
          res.writeHead(200, hit.headers as string[]);
          res.end(hit.body);
          hitReuse?.reused(hit.key);
          finish(req, started, hit.outcome);
          return;
        }
      }
      const scope: RequestScope = {};
      void handle(req, res, scope).then(
        (outcome) => finish(req, started, outcome),
        (err: unknown) => {
          const outcome = sendError(res, err, deps.logger, scope.protocol ?? scope.refusedBy);
          finish(req, started, { ...outcome, protocol: scope.protocol });
        },
      );
    },
  );

  // A connection with no traffic either way for this long (a reader that stopped reading, a silent client) is
  // destroyed by node itself, since no 'timeout' listener is installed on the server.
  server.setTimeout(config.server.clientIdleTimeoutMs);
  server.on('connection', (socket: Duplex) => {
    connectionGarbage.opened();
    // One shared listener rather than a closure and a once-wrapper per connection: 'close' comes once.
    socket.on('close', connectionClosed);
  });

  answerRawRefusals(server, order);

  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!clients.allows(req.socket.remoteAddress)) {
      refuseRaw(socket, 403, 'client address not allowed');
      return;
    }
    if (deps.connect?.(req, socket, head)) return;
    const target = req.url ?? '?';
    const why = connectRefusal(target);
    // apt shows a refused CONNECT's status line and headers but not its body: the reason goes in both.
    refuseRaw(socket, 403, `HOARD_ERR_CONNECT_REFUSED: ${why}`, 'HOARD_ERR_CONNECT_REFUSED', reasonPhrase(`Forbidden: ${why}`));
    const client = req.socket.remoteAddress ?? '?';
    publishTunnel({ phase: 'refused', client, target, bytesUp: 0, bytesDown: 0, durationMs: 0, errorCode: 'HOARD_ERR_CONNECT_REFUSED' });
    publishRequest({ client, method: 'CONNECT', target, result: 'refused', status: 403, bytes: 0, durationMs: 0, errorCode: 'HOARD_ERR_CONNECT_REFUSED' });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, scope: RequestScope): Promise<Outcome> {
    if (!clients.allows(req.socket.remoteAddress)) {
      throw new HoardError('HOARD_ERR_CLIENT_NOT_ALLOWED', `client ${req.socket.remoteAddress ?? '?'} is outside the allowed networks`, {
        detail: 'your address is not allowed to use this cache',
      });
    }
    // RFC 9112 2.3: HTTP/0.9 has no headers and no framing; a proxy has nothing sound to answer it with.
    if (req.httpVersionMajor !== 1) throw new HoardError('HOARD_ERR_BAD_REQUEST', `HTTP/${req.httpVersion} is not supported; use HTTP/1.0 or 1.1`);
    // RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host header.
    if (req.httpVersionMinor >= 1 && req.headers.host === undefined) throw new HoardError('HOARD_ERR_BAD_REQUEST', 'an HTTP/1.1 request needs a Host header');
    const rawTarget = req.url ?? '/';
    if (deps.admin && (rawTarget === adminPrefix || rawTarget.startsWith(`${adminPrefix}/`) || rawTarget.startsWith(`${adminPrefix}?`))) {
      const handled = await deps.admin(req, res, rawTarget.slice(adminPrefix.length) || '/');
      if (handled) return { result: 'admin', status: res.statusCode, bytes: 0 };
    }
    const method = req.method ?? '?';
    if (method !== 'GET' && method !== 'HEAD') {
      // Routed first, so that the protocol whose spelling this is answers in its clients' format.
      tryRoute(req, rawTarget, scope);
      res.setHeader('allow', 'GET, HEAD');
      throw new HoardError('HOARD_ERR_METHOD_NOT_ALLOWED', `method ${method} is not served; use GET or HEAD`);
    }
    if (rawTarget === '/' || rawTarget.startsWith('/?')) {
      const page = usagePage(req.headers.host);
      res.writeHead(406, 'Usage Information', { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(page), ...nosniffHeaders });
      res.end(req.method === 'HEAD' ? undefined : page);
      return { result: 'usage', status: 406, bytes: 0 };
    }
    const via = req.headers.via;
    if (via !== undefined && via.includes(deps.viaToken)) {
      throw new HoardError('HOARD_ERR_LOOP_DETECTED', `request ${rawTarget} came back through this cache (Via: ${via})`, { detail: 'request loop detected' });
    }
    const target = { method, raw: rawTarget, headers: req.headers };
    const local = deps.protocols.answer(target);
    if (local !== undefined) {
      let answer: LocalAnswer;
      try {
        answer = await local.answer;
      } catch (err) {
        return { ...sendError(res, err, deps.logger, local.protocol), protocol: local.protocol };
      }
      res.writeHead(answer.status, {
        ...answer.headers,
        'content-type': answer.contentType,
        'content-length': Buffer.byteLength(answer.body),
        ...nosniffHeaders,
      });
      res.end(method === 'HEAD' ? undefined : answer.body);
      return { result: 'local', status: answer.status, bytes: 0, protocol: local.protocol };
    }
    const refusal: RouteScope = {};
    let claimed: Claimed | undefined;
    try {
      claimed = deps.protocols.route(target, refusal);
    } catch (err) {
      scope.refusedBy = refusal.protocol;
      throw err;
    }
    if (claimed === undefined) throw new HoardError('HOARD_ERR_BAD_REQUEST', `no protocol serves ${rawTarget}`);
    scope.protocol = claimed.protocol;
    return serveTarget(req, res, claimed);
  }

  /** The claim of a target whose request will be refused anyway: only to pick who renders the refusal. */
  function tryRoute(req: IncomingMessage, rawTarget: string, scope: RequestScope): void {
    const refusal: RouteScope = {};
    try {
      scope.protocol = deps.protocols.route({ method: req.method ?? '?', raw: rawTarget, headers: req.headers }, refusal)?.protocol;
    } catch {
      // The target is in the refusing protocol's spelling: its format renders the answer.
      scope.refusedBy = refusal.protocol;
    }
  }

  async function serveTarget(req: IncomingMessage, res: ServerResponse, claimed: Claimed): Promise<Outcome> {
    const { protocol, route } = claimed;
    const upstream = route.upstream;
    const epochAsked = kept?.epoch();
    let lookup: CacheLookup;
    try {
      // The chain of caches before this one goes upstream with it, so a loop ends at the first repeat.
      lookup = await deps.cache.get(upstream, route.path, route.policy, { query: route.query, forward: route.forward, via: viaChain(req.headers.via) });
    } catch (err) {
      const outcome = sendError(res, err, deps.logger, protocol);
      return { ...outcome, upstream: upstream.key, protocol };
    }
    if (lookup.kind === 'status') {
      const rendered = protocol.renderStatus?.(route, lookup.status, lookup.reason);
      const body = rendered?.body ?? `${lookup.reason}\n`;
      res.writeHead(lookup.status, {
        ...rendered?.headers,
        'content-type': rendered?.contentType ?? 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-hoard-cache': lookup.source.toUpperCase(),
        ...nosniffHeaders,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return { result: lookup.status === 404 ? 'not-found' : 'upstream-status', status: lookup.status, bytes: 0, upstream: upstream.key, protocol };
    }
    const headers: Record<string, string> = { 'x-hoard-cache': lookup.source.toUpperCase(), via: viaHeader, ...nosniffHeaders };
    if (lookup.warning !== undefined) headers.warning = lookup.warning;
    const extra = protocol.responseHeaders?.(route, lookup.object);
    if (extra !== undefined) Object.assign(headers, extra);
    const item = protocol.itemName(route.path)?.name;
    // A plain hit on an immutable object: a serving thread may send it again without asking (src/serving/).
    const reuse =
      lookup.source === 'hit' && lookup.warning === undefined && !route.policy.mutable
        ? { key: upstream.key + route.path, upstream: upstream.key, protocol: protocol.name, item }
        : undefined;
    const served: ServeResult & { handedBack?: boolean } = await (deps.offload?.(req, res, lookup.object, headers, reuse) ??
      serveObject(req, res, lookup.object, headers, sendResources));
    if (served.handedBack === true) return { result: handedBack, status: 0, bytes: 0 };
    const errorCode = served.error && isHoardError(served.error) ? served.error.code : served.error ? 'HOARD_ERR_CLIENT_GONE' : undefined;
    if (served.error && isHoardError(served.error)) {
      deps.logger.warn({ target: req.url, code: served.error.code, err: served.error.message }, 'response cut: the object could not be delivered whole');
    }
    const outcome: Outcome = {
      result: served.error ? 'error' : lookup.source,
      status: served.status,
      bytes: served.bytes,
      upstream: upstream.key,
      protocol,
      item,
      errorCode,
    };
    if (reuse !== undefined && epochAsked !== undefined && served.status === 200 && served.error === undefined)
      keepHit(req, lookup.object, headers, reuse.key, outcome, epochAsked);
    return outcome;
  }

  /** Keeps a plain GET's hit for reuse when its whole body is one the hot-body cache holds (small and stored). */
  function keepHit(req: IncomingMessage, object: CachedObject, headers: Record<string, string>, key: string, outcome: Outcome, epochAsked: number): void {
    const size = object.size;
    if (kept === undefined || size === undefined || object.etag === undefined || !object.complete || !isPlainGet(req)) return;
    const memoKey = memoKeyOf(req);
    const body = sendResources.hotBodies.get(object.etag);
    if (memoKey === undefined || body === undefined || body.byteLength !== size) return;
    kept.remember(memoKey, { headers: wholeBodyHeaders(object, size, headers), body, key, outcome }, epochAsked, size);
  }

  function finish(req: IncomingMessage, started: number, outcome: Outcome): void {
    if (outcome.result === handedBack) return;
    publishRequest({
      client: req.socket.remoteAddress ?? '?',
      method: req.method ?? '?',
      target: req.url ?? '',
      result: outcome.result,
      status: outcome.status,
      bytes: outcome.bytes,
      durationMs: performance.now() - started,
      upstream: outcome.upstream,
      protocol: outcome.protocol?.name,
      item: outcome.item,
      errorCode: outcome.errorCode,
    });
  }

  return server;
}

function connectionClosed(): void {
  connectionGarbage.closed();
}

function sendError(res: ServerResponse, err: unknown, logger: Logger, protocol?: Protocol): Outcome {
  const error = isHoardError(err) ? err : new HoardError('HOARD_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
  if (error.code === 'HOARD_ERR_INTERNAL') logger.error({ err }, 'internal error');
  const status = statusForCode[error.code];
  const result = status === 403 || status === 400 || status === 405 || status === 414 || status === 421 || status === 508 ? 'refused' : 'error';
  if (res.headersSent) {
    res.destroy(error);
    return { result, status: res.statusCode, bytes: 0, errorCode: error.code };
  }
  // A protocol whose clients expect their own error format (JSON for registries) renders it.
  const rendered = protocol?.renderError?.(error, status);
  // Else one line a person can act on; client errors show the message, server-side ones the safe detail.
  const line = rendered?.body ?? `${error.code}: ${status < 500 ? error.message : (error.detail ?? error.message)}\n`;
  // RFC 9110 10.2.3: an upstream's Retry-After (its 429) is the client's to honour too.
  const retryAfter = error.retryAfterSeconds === undefined ? undefined : { 'retry-after': String(error.retryAfterSeconds) };
  const headers = {
    ...retryAfter,
    ...rendered?.headers,
    'content-type': rendered?.contentType ?? 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(line),
    'x-hoard-error': error.code,
    ...nosniffHeaders,
  };
  // apt prints only the status line of a failed download: a TLS failure or an object over cache.maxObjectSize carries its
  // reason there, or the operator sees a bare 502.
  if (error.code === 'HOARD_ERR_UPSTREAM_TLS' || error.code === 'HOARD_ERR_OBJECT_TOO_LARGE')
    res.writeHead(status, reasonPhrase(`Bad Gateway: ${error.detail ?? error.message}`), headers);
  else res.writeHead(status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : line);
  return { result, status, bytes: 0, errorCode: error.code };
}

/** RFC 9112 4: a reason phrase is HTAB, SP and visible characters only; kept short enough for a terminal line. */
function reasonPhrase(text: string): string {
  const clean = text.replace(/[^\t\x20-\x7e]/g, '?');
  return clean.length > 300 ? `${clean.slice(0, 297)}...` : clean;
}

/**
 * Why a CONNECT was refused, in one line: a tunnel would bypass the cache, so it says how to have the
 * repository cached instead (the HTTPS/// spelling) and how to let the tunnel through (connect.allow).
 */
export function connectRefusal(target: string): string {
  const where = target.endsWith(':443') ? target.slice(0, -':443'.length) : target;
  return `no tunnel to ${target}; to cache it, use http://HTTPS///${where}/<path> sources (or http://<cache>/HTTPS///${where}/<path>); to pass it through uncached, add "${target}" to connect.allow`;
}

function refuseRaw(socket: Duplex, status: number, body: string, code?: string, phrase = 'Forbidden'): void {
  const line = `${body}\n`;
  const codeHeader = code === undefined ? '' : `X-Hoard-Error: ${code}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${phrase}\r\nConnection: close\r\nContent-Type: text/plain\r\n${nosniffLine}${codeHeader}Content-Length: ${Buffer.byteLength(line)}\r\n\r\n${line}`,
  );
}
