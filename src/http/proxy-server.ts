// The HTTP edge on port 3142: access control, target parsing, apt path policy, cache lookup, error statuses.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { CacheLookup, PathPolicy } from '../cache/cached-object.ts';
import type { ReadThroughCache } from '../cache/read-through-cache.ts';
import type { HoardConfig } from '../config/config-schema.ts';
import { HoardError, isHoardError } from '../errors.ts';
import { publishRequest, publishTunnel } from '../events.ts';
import { connectionGarbage } from '../runtime/connection-garbage.ts';
import type { Upstream } from '../upstream/fetcher.ts';
import { ClientAccess, HostAccess } from './client-access.ts';
import { statusForCode } from './error-status.ts';
import { parseRequestTarget, type ParsedTarget, type UpstreamRef } from './request-target.ts';
import { SendBufferPool } from './body-sender.ts';
import { HotBodyCache } from './hot-body-cache.ts';
import { serveObject, type SendResources } from './serve-object.ts';
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
  resolveUpstream(ref: UpstreamRef): Upstream;
  classify(path: string): PathPolicy | undefined;
  admin?: AdminHandler | undefined;
  /** Handles an allowed CONNECT; absent means every CONNECT is refused. */
  connect?: ((req: IncomingMessage, socket: Duplex, head: Buffer) => boolean) | undefined;
  logger: Logger;
  /** This instance's token in `Via`, to recognise a request that looped back through it. */
  viaToken: string;
}

interface ResolvedTarget {
  readonly target: ParsedTarget;
  readonly policy: PathPolicy;
}

/** Bound on remembered targets; the memo starts over when full (a scan of unique URLs cannot grow it). */
const maxResolvedTargets = 4096;

interface Outcome {
  result: string;
  status: number;
  bytes: number;
  upstream?: string | undefined;
  errorCode?: string | undefined;
}

export function createProxyServer(deps: ProxyServerDeps): Server {
  const { config } = deps;
  const clients = new ClientAccess(config.allowedClients);
  // Parsing, the host check and the path table depend only on the target and the configuration, and
  // clients ask the same URLs again and again: a hit then skips a dozen regular expressions.
  const resolvedTargets = new Map<string, ResolvedTarget>();
  // Small hot bodies (packages of a few KB, Release files) are answered from memory; 16 MB bounds it.
  const sendResources: SendResources = {
    hotBodies: new HotBodyCache({ maxBytes: 16 * 1024 * 1024, maxEntryBytes: 128 * 1024 }),
    buffers: new SendBufferPool(),
    sendRate: { minBytesPerSecond: config.server.minSendBytesPerSecond, windowMs: config.server.slowClientWindowSeconds * 1000 },
  };
  const hosts = new HostAccess(config.allowedHosts);
  const backends = new Set(Object.keys(config.backends));
  const targetRules = { backends, maxTargetLength: config.server.maxTargetLength };
  const adminPrefix = config.admin.prefix;

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
    },
    (req, res) => {
      const started = performance.now();
      void handle(req, res).then(
        (outcome) => finish(req, started, outcome),
        (err: unknown) => {
          const outcome = sendError(res, err, deps.logger);
          finish(req, started, outcome);
        },
      );
    },
  );

  // A connection with no traffic either way for this long (a reader that stopped reading, a silent client) is
  // destroyed by node itself, since no 'timeout' listener is installed on the server.
  server.setTimeout(config.server.clientIdleTimeoutMs);
  server.on('connection', (socket: Duplex) => {
    connectionGarbage.opened();
    socket.once('close', () => connectionGarbage.closed());
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || (err.code !== undefined && ['ECONNRESET', 'EPIPE'].includes(err.code))) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`);
  });

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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<Outcome> {
    if (!clients.allows(req.socket.remoteAddress)) {
      throw new HoardError('HOARD_ERR_CLIENT_NOT_ALLOWED', `client ${req.socket.remoteAddress ?? '?'} is outside the allowed networks`, {
        detail: 'your address is not allowed to use this cache',
      });
    }
    // RFC 9112 2.3: HTTP/0.9 has no headers and no framing; a proxy has nothing sound to answer it with.
    if (req.httpVersionMajor !== 1) throw new HoardError('HOARD_ERR_BAD_REQUEST', `HTTP/${req.httpVersion} is not supported; use HTTP/1.0 or 1.1`);
    const rawTarget = req.url ?? '/';
    if (deps.admin && (rawTarget === adminPrefix || rawTarget.startsWith(`${adminPrefix}/`) || rawTarget.startsWith(`${adminPrefix}?`))) {
      const handled = await deps.admin(req, res, rawTarget.slice(adminPrefix.length) || '/');
      if (handled) return { result: 'admin', status: res.statusCode, bytes: 0 };
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw new HoardError('HOARD_ERR_METHOD_NOT_ALLOWED', `method ${req.method ?? '?'} is not served; use GET or HEAD`);
    }
    if (rawTarget === '/' || rawTarget.startsWith('/?')) {
      const page = usagePage(req.headers.host);
      res.writeHead(406, 'Usage Information', { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(page) });
      res.end(req.method === 'HEAD' ? undefined : page);
      return { result: 'usage', status: 406, bytes: 0 };
    }
    const via = req.headers.via;
    if (via !== undefined && via.includes(deps.viaToken)) {
      throw new HoardError('HOARD_ERR_LOOP_DETECTED', `request ${rawTarget} came back through this cache (Via: ${via})`, { detail: 'request loop detected' });
    }
    const resolved = resolvedTargets.get(rawTarget) ?? resolveTarget(rawTarget);
    return serveTarget(req, res, resolved.target, resolved.policy);
  }

  /** Parses, checks and classifies a target; remembers it only when all three pass. */
  function resolveTarget(rawTarget: string): ResolvedTarget {
    const target = parseRequestTarget(rawTarget, targetRules);
    if (target.upstream.kind === 'origin' && !hosts.allows(target.upstream.host)) {
      throw new HoardError('HOARD_ERR_HOST_NOT_ALLOWED', `host ${target.upstream.host} is not in allowedHosts`, { detail: `host ${target.upstream.host} is not allowed by this cache` });
    }
    const policy = deps.classify(target.path);
    if (!policy) {
      throw new HoardError('HOARD_ERR_NOT_REPOSITORY_PATH', `${target.path} is not an apt repository file`, {
        detail: 'only apt repository files (dists/, pool/, by-hash/) are proxied',
      });
    }
    const resolved = { target, policy };
    if (resolvedTargets.size >= maxResolvedTargets) resolvedTargets.clear();
    resolvedTargets.set(rawTarget, resolved);
    return resolved;
  }

  async function serveTarget(req: IncomingMessage, res: ServerResponse, target: ParsedTarget, policy: PathPolicy): Promise<Outcome> {
    const upstream = deps.resolveUpstream(target.upstream);
    let lookup: CacheLookup;
    try {
      lookup = await deps.cache.get(upstream, target.path, policy);
    } catch (err) {
      const outcome = sendError(res, err, deps.logger);
      return { ...outcome, upstream: upstream.key };
    }
    if (lookup.kind === 'status') {
      const body = `${lookup.reason}\n`;
      res.writeHead(lookup.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-hoard-cache': lookup.source.toUpperCase() });
      res.end(req.method === 'HEAD' ? undefined : body);
      return { result: lookup.status === 404 ? 'not-found' : 'upstream-status', status: lookup.status, bytes: 0, upstream: upstream.key };
    }
    const headers: Record<string, string> = { 'x-hoard-cache': lookup.source.toUpperCase(), via: `1.1 ${deps.viaToken}` };
    if (lookup.warning !== undefined) headers.warning = lookup.warning;
    const served = await serveObject(req, res, lookup.object, headers, sendResources);
    const errorCode = served.error && isHoardError(served.error) ? served.error.code : served.error ? 'HOARD_ERR_CLIENT_GONE' : undefined;
    if (served.error && isHoardError(served.error)) {
      deps.logger.warn({ target: req.url, code: served.error.code, err: served.error.message }, 'response cut: the object could not be delivered whole');
    }
    return { result: served.error ? 'error' : lookup.source, status: served.status, bytes: served.bytes, upstream: upstream.key, errorCode };
  }

  function finish(req: IncomingMessage, started: number, outcome: Outcome): void {
    publishRequest({
      client: req.socket.remoteAddress ?? '?',
      method: req.method ?? '?',
      target: req.url ?? '',
      result: outcome.result,
      status: outcome.status,
      bytes: outcome.bytes,
      durationMs: performance.now() - started,
      upstream: outcome.upstream,
      errorCode: outcome.errorCode,
    });
  }

  return server;
}

function sendError(res: ServerResponse, err: unknown, logger: Logger): Outcome {
  const error = isHoardError(err) ? err : new HoardError('HOARD_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
  if (error.code === 'HOARD_ERR_INTERNAL') logger.error({ err }, 'internal error');
  const status = statusForCode[error.code];
  const result = status === 403 || status === 400 || status === 405 || status === 414 || status === 508 ? 'refused' : 'error';
  if (res.headersSent) {
    res.destroy(error);
    return { result, status: res.statusCode, bytes: 0, errorCode: error.code };
  }
  // One line a person can act on; client errors show the message, server-side ones the safe detail.
  const line = `${error.code}: ${status < 500 ? error.message : (error.detail ?? error.message)}\n`;
  const headers = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(line), 'x-hoard-error': error.code };
  // apt prints only the status line of a failed download: a TLS failure carries its reason there, or the operator sees a bare 502.
  if (error.code === 'HOARD_ERR_UPSTREAM_TLS') res.writeHead(status, reasonPhrase(`Bad Gateway: ${error.detail ?? error.message}`), headers);
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
  socket.end(`HTTP/1.1 ${status} ${phrase}\r\nConnection: close\r\nContent-Type: text/plain\r\n${codeHeader}Content-Length: ${Buffer.byteLength(line)}\r\n\r\n${line}`);
}
