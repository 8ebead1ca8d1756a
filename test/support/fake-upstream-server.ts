// An HTTP(S) origin on loopback that serves a directory like a mirror, counts every request, and misbehaves on demand.
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import { STATUS_CODES, createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { resolve, sep } from 'node:path';

/**
 * Which requests a rule or counter means. A string with a leading `/` is the path on the wire
 * (prefix included); without one it is relative to the served root (`pool/main/a/...`). A RegExp
 * or predicate sees the decoded wire path.
 */
export type PathMatcher = string | RegExp | ((wirePath: string) => boolean);

/** One misbehaviour. Body faults count bytes of the response body as sent (after any Range). */
export type Fault =
  /**
   * Sends the headers with the full Content-Length, `bytes` of body, then closes the connection:
   * with a FIN by default (every byte sent arrives), or a TCP reset with `reset` (the client may
   * then lose bytes that were in flight, as with a real reset).
   */
  | { readonly kind: 'cutAfter'; readonly bytes: number; readonly reset: boolean }
  /** Same length, one byte flipped at file offset `at` (default: the middle). */
  | { readonly kind: 'corrupt'; readonly at: number | undefined }
  /** Answers `code` with a short text body instead of the file. */
  | { readonly kind: 'status'; readonly code: number; readonly body: string | undefined; readonly headers: Readonly<Record<string, string>> }
  /** After `afterBytes` of body (default: half), sends nothing more for `ms`, forever, or until `until` settles. */
  | { readonly kind: 'stall'; readonly ms: number | 'forever'; readonly afterBytes: number | undefined; readonly until: Promise<unknown> | undefined }
  /** Paces the whole body at this rate. */
  | { readonly kind: 'rateLimit'; readonly bytesPerSecond: number }
  /** Paces the whole body so that it takes about `totalMs`, whatever its size. */
  | { readonly kind: 'slow'; readonly totalMs: number }
  /** Waits before sending the status line. */
  | { readonly kind: 'delayHeaders'; readonly ms: number | 'forever' }
  /** Destroys the connection without answering. */
  | { readonly kind: 'drop' }
  /** Adds or overrides response headers (e.g. Cache-Control); not a fault, but matched the same way. */
  | { readonly kind: 'headers'; readonly headers: Readonly<Record<string, string>> }
  /**
   * Answers 200 with a body that does not end: the same 64 KiB of random bytes over and over, whether or
   * not a file exists. `contentLength` is sent as the header when given (a lie, e.g. 10^15), else the body
   * is chunked. Bounded: stops at `maxBytes` (ends a chunked body, cuts a declared one). With `until`, the
   * body pauses after `afterBytes` (default 0) until it settles.
   */
  | {
      readonly kind: 'endless';
      readonly contentLength: number | undefined;
      readonly maxBytes: number;
      readonly until: Promise<unknown> | undefined;
      readonly afterBytes: number;
    }
  /** Serves the file with no Content-Length (chunked), then `appendBytes` more bytes than the file has. */
  | { readonly kind: 'chunked'; readonly appendBytes: number };

export const faults = {
  cutAfter: (bytes: number, options: { reset?: boolean } = {}): Fault => ({ kind: 'cutAfter', bytes, reset: options.reset ?? false }),
  corrupt: (at?: number): Fault => ({ kind: 'corrupt', at }),
  status: (code: number, options: { body?: string; headers?: Record<string, string> } = {}): Fault => ({
    kind: 'status',
    code,
    body: options.body,
    headers: options.headers ?? {},
  }),
  stall: (ms: number | 'forever', options: { afterBytes?: number } = {}): Fault => ({ kind: 'stall', ms, afterBytes: options.afterBytes, until: undefined }),
  /** A stall that lasts until the test settles `until`: deterministic streaming tests without timing guesses. */
  holdUntil: (until: Promise<unknown>, options: { afterBytes?: number } = {}): Fault => ({
    kind: 'stall',
    ms: 'forever',
    afterBytes: options.afterBytes,
    until,
  }),
  rateLimit: (bytesPerSecond: number): Fault => ({ kind: 'rateLimit', bytesPerSecond }),
  slow: (totalMs: number): Fault => ({ kind: 'slow', totalMs }),
  delayHeaders: (ms: number | 'forever'): Fault => ({ kind: 'delayHeaders', ms }),
  drop: (): Fault => ({ kind: 'drop' }),
  headers: (headers: Record<string, string>): Fault => ({ kind: 'headers', headers }),
  endless: (options: { contentLength?: number; maxBytes: number; until?: Promise<unknown>; afterBytes?: number }): Fault => ({
    kind: 'endless',
    contentLength: options.contentLength,
    maxBytes: options.maxBytes,
    until: options.until,
    afterBytes: options.afterBytes ?? 0,
  }),
  chunked: (options: { appendBytes?: number } = {}): Fault => ({ kind: 'chunked', appendBytes: options.appendBytes ?? 0 }),
} as const;

export interface FaultRuleOptions {
  /** Applies to the next `times` matching requests only; default: until removed. */
  readonly times?: number;
  /** Default: every method. */
  readonly methods?: readonly string[];
}

export interface FaultRule {
  readonly faults: readonly Fault[];
  /** Matching requests this rule has been applied to. */
  readonly applied: number;
  /** Applications left, or undefined for unlimited. */
  readonly remaining: number | undefined;
  remove(): void;
}

export type RequestOutcome = 'complete' | 'cut' | 'dropped' | 'client-aborted' | 'server-closed';

export interface RequestRecord {
  readonly seq: number;
  readonly method: string;
  /** The request target as received (absolute-form when the client took this server for a proxy). */
  readonly target: string;
  /** Decoded path on the wire, prefix included, without query. */
  readonly path: string;
  readonly absoluteForm: boolean;
  /** Header names in lower case, as node gives them. */
  readonly headers: IncomingHttpHeaders;
  /** Names and values in the order and case the client sent them. */
  readonly rawHeaders: readonly string[];
  readonly receivedAt: number;
  status: number | undefined;
  /** Body bytes written to the socket. */
  bytesSent: number;
  faults: readonly Fault['kind'][];
  outcome: RequestOutcome | undefined;
  finishedAt: number | undefined;
}

export interface PathStats {
  total: number;
  byMethod: Record<string, number>;
}

export interface FakeUpstreamOptions {
  /** Directory to serve. */
  readonly root: string;
  /** URL prefix the tree is served under, e.g. `/debian`. Default: none. */
  readonly prefix?: string;
  /** Default 127.0.0.1; `::1` also works. */
  readonly host?: string;
  /** Default 0 (a free port). */
  readonly port?: number;
  /** Serves HTTPS with this key and certificate (PEM). */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /**
   * False: a front that sends neither `Last-Modified` nor `ETag` and ignores conditional requests (every
   * GET is a 200 with the whole file), as some archive fronts do. Default true.
   */
  readonly validators?: boolean;
}

interface ActiveRule {
  readonly match: (record: RequestRecord) => boolean;
  readonly methods: readonly string[] | undefined;
  readonly faults: readonly Fault[];
  remaining: number | undefined;
  applied: number;
}

interface BodyPlan {
  cutAfter: number | undefined;
  resetOnCut: boolean;
  corruptAt: number | undefined;
  stall: { afterBytes: number; wait: () => Promise<unknown> } | undefined;
  bytesPerSecond: number | undefined;
  /** Bytes sent after the file's own (a body longer than the file); only with no Content-Length. */
  appendBytes: number;
}

const contentTypes: readonly [RegExp, string][] = [
  [/\.deb$/, 'application/vnd.debian.binary-package'],
  [/\.gz$/, 'application/gzip'],
  [/\.xz$/, 'application/x-xz'],
  [/(?:^|\/)(?:InRelease|Release|Packages|Sources)$/, 'text/plain; charset=utf-8'],
  [/\.gpg$/, 'application/pgp-signature'],
];

export class FakeUpstreamServer {
  readonly root: string;
  readonly prefix: string;
  /** Origin only: `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** Origin plus prefix: the URL of the repository root, what apt's sources should name. */
  readonly baseUrl: string;
  readonly host: string;
  readonly port: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #rules: ActiveRule[] = [];
  readonly #records: RequestRecord[] = [];
  readonly #stats = new Map<string, PathStats>();
  readonly #events = new EventEmitter();
  /** Settles when close() starts, to release every stall and delay. */
  readonly #closing: Promise<void>;
  readonly #signalClosing: () => void;
  #closed = false;
  #seq = 0;
  readonly #validators: boolean;

  private constructor(server: Server, options: FakeUpstreamOptions, host: string, port: number) {
    this.#server = server;
    this.root = resolve(options.root);
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.host = host;
    this.port = port;
    const scheme = options.tls === undefined ? 'http' : 'https';
    this.origin = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.baseUrl = `${this.origin}${this.prefix}`;
    this.#validators = options.validators ?? true;
    const closing = Promise.withResolvers<void>();
    this.#closing = closing.promise;
    this.#signalClosing = closing.resolve;
    this.#events.setMaxListeners(0);
  }

  static async start(options: FakeUpstreamOptions): Promise<FakeUpstreamServer> {
    const server: Server = options.tls === undefined ? createHttpServer() : createHttpsServer({ key: options.tls.key, cert: options.tls.cert });
    const host = options.host ?? '127.0.0.1';
    server.listen(options.port ?? 0, host);
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const instance = new FakeUpstreamServer(server, options, host, port);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      instance.#handle(req, res).catch((error: unknown) => {
        // A bug in the fake must fail loudly in the test's output, not hang the client.
        console.error('fake upstream handler failed:', error);
        res.destroy();
      });
    });
    // Raw TCP sockets, so that close() also ends connections stuck in a TLS handshake.
    server.on('connection', (socket: Socket) => {
      instance.#sockets.add(socket);
      socket.once('close', () => instance.#sockets.delete(socket));
    });
    return instance;
  }

  /** Full URL of a root-relative path (`pool/main/...`) or a wire path (`/debian/pool/...`). */
  url(path: string): string {
    return `${this.origin}${this.wirePath(path)}`;
  }

  /** The wire path a client requests for a root-relative path; wire paths pass through. */
  wirePath(path: string): string {
    return path.startsWith('/') ? path : `${this.prefix}/${path}`;
  }

  /** Applies `fault` (or several, composed) to matching requests. Every active matching rule applies. */
  misbehave(match: PathMatcher, fault: Fault | readonly Fault[], options: FaultRuleOptions = {}): FaultRule {
    if (options.times !== undefined && (!Number.isInteger(options.times) || options.times < 1)) {
      throw new Error(`times must be a positive integer, got ${options.times}`);
    }
    const matcher = this.#matcher(match);
    const rule: ActiveRule = {
      match: (record) => matcher(record.path),
      methods: options.methods?.map((m) => m.toUpperCase()),
      faults: Array.isArray(fault) ? (fault as readonly Fault[]) : [fault as Fault],
      remaining: options.times,
      applied: 0,
    };
    this.#rules.push(rule);
    const rules = this.#rules;
    return {
      faults: rule.faults,
      get applied() {
        return rule.applied;
      },
      get remaining() {
        return rule.remaining;
      },
      remove: () => {
        const index = rules.indexOf(rule);
        if (index >= 0) rules.splice(index, 1);
      },
    };
  }

  clearFaults(): void {
    this.#rules.length = 0;
  }

  /** Every request since start or the last resetStats(), in arrival order. */
  get requests(): readonly RequestRecord[] {
    return this.#records;
  }

  get totalRequests(): number {
    return this.#records.length;
  }

  /** Requests for one path (see PathMatcher for string forms), optionally of one method. */
  hits(match: PathMatcher, method?: string): number {
    const matcher = this.#matcher(match);
    const wanted = method?.toUpperCase();
    return this.#records.filter((r) => matcher(r.path) && (wanted === undefined || r.method === wanted)).length;
  }

  /** Decoded wire path -> request counts. */
  stats(): ReadonlyMap<string, Readonly<PathStats>> {
    return this.#stats;
  }

  /** Requests matching `match`, in order. */
  requestsFor(match: PathMatcher): RequestRecord[] {
    const matcher = this.#matcher(match);
    return this.#records.filter((r) => matcher(r.path));
  }

  resetStats(): void {
    this.#records.length = 0;
    this.#stats.clear();
  }

  /** Resolves with the first request matching `match` that arrives from now on (or within `timeoutMs`, default 10 s). */
  async waitForRequest(match: PathMatcher, timeoutMs = 10_000): Promise<RequestRecord> {
    const matcher = this.#matcher(match);
    return new Promise((resolveWait, reject) => {
      const onRequest = (record: RequestRecord) => {
        if (!matcher(record.path)) return;
        clearTimeout(timer);
        this.#events.off('request', onRequest);
        resolveWait(record);
      };
      const timer = setTimeout(() => {
        this.#events.off('request', onRequest);
        reject(new Error(`no request for ${String(match)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#events.on('request', onRequest);
    });
  }

  /** Stops listening, releases stalls and ends every connection, open or idle. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#signalClosing();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolveClose) => this.#server.close(() => resolveClose()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #matcher(match: PathMatcher): (wirePath: string) => boolean {
    if (typeof match === 'function') return match;
    if (match instanceof RegExp) return (path) => match.test(path);
    const wanted = this.wirePath(match);
    return (path) => path === wanted;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    const absoluteForm = /^[a-z][a-z0-9+.-]*:\/\//i.test(target);
    const rawPath = (absoluteForm ? new URL(target).pathname : target).split('?')[0] ?? '/';
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      path = rawPath;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const record: RequestRecord = {
      seq: ++this.#seq,
      method,
      target,
      path,
      absoluteForm,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      receivedAt: Date.now(),
      status: undefined,
      bytesSent: 0,
      faults: [],
      outcome: undefined,
      finishedAt: undefined,
    };
    this.#records.push(record);
    const stats = this.#stats.get(path) ?? { total: 0, byMethod: {} };
    stats.total += 1;
    stats.byMethod[method] = (stats.byMethod[method] ?? 0) + 1;
    this.#stats.set(path, stats);
    res.once('close', () => {
      record.finishedAt ??= Date.now();
      record.outcome ??= this.#closed ? 'server-closed' : 'client-aborted';
    });
    this.#events.emit('request', record);

    const applied = this.#takeFaults(record);
    record.faults = applied.map((f) => f.kind);
    const extraHeaders: Record<string, string> = {};
    for (const fault of applied) if (fault.kind === 'headers') Object.assign(extraHeaders, fault.headers);

    if (applied.some((f) => f.kind === 'drop')) {
      record.outcome = 'dropped';
      req.socket.destroy();
      return;
    }
    for (const fault of applied) {
      if (fault.kind === 'delayHeaders') await this.#wait(fault.ms, res);
    }
    if (res.destroyed) return;

    const statusFault = applied.find((f) => f.kind === 'status');
    if (statusFault !== undefined) {
      const body = statusFault.body ?? `${statusFault.code} ${STATUS_CODES[statusFault.code] ?? ''}\n`;
      this.#sendText(res, record, statusFault.code, body, { ...extraHeaders, ...statusFault.headers });
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      this.#sendText(res, record, 405, 'method not allowed\n', { ...extraHeaders, Allow: 'GET, HEAD' });
      return;
    }
    const endless = applied.find((f) => f.kind === 'endless');
    if (endless !== undefined) {
      await this.#sendEndless(res, record, endless, extraHeaders);
      return;
    }

    const file = this.#resolveFile(path);
    const info = file === undefined ? undefined : await stat(file).catch(() => undefined);
    if (file === undefined || info === undefined || !info.isFile()) {
      this.#sendText(res, record, 404, 'not found\n', extraHeaders);
      return;
    }

    const size = info.size;
    const mtimeSeconds = Math.floor(info.mtimeMs / 1000);
    const lastModified = new Date(mtimeSeconds * 1000).toUTCString();
    // Size and nanosecond mtime: a file rebuilt under the same name gets a new ETag even at the same size.
    const etag = `"${size.toString(16)}-${(await stat(file, { bigint: true })).mtimeNs.toString(16)}"`;
    const headers: Record<string, string | number> = {
      'Content-Type': contentTypes.find(([pattern]) => pattern.test(path))?.[1] ?? 'application/octet-stream',
      'Accept-Ranges': 'bytes',
    };
    if (this.#validators) {
      headers['Last-Modified'] = lastModified;
      headers.ETag = etag;
    }

    // RFC 9110 13.2.2: If-None-Match is evaluated first and, when present, If-Modified-Since is ignored.
    const ifNoneMatch = this.#validators ? req.headers['if-none-match'] : undefined;
    const ifModifiedSince = this.#validators ? req.headers['if-modified-since'] : undefined;
    let notModified = false;
    if (ifNoneMatch !== undefined) {
      notModified = ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => weakTag(tag) === weakTag(etag));
    } else if (ifModifiedSince !== undefined) {
      const since = Date.parse(ifModifiedSince);
      notModified = !Number.isNaN(since) && mtimeSeconds * 1000 <= since;
    }
    if (notModified) {
      record.status = 304;
      res.writeHead(304, { ETag: etag, 'Last-Modified': lastModified, ...extraHeaders });
      res.end();
      record.outcome = 'complete';
      record.finishedAt = Date.now();
      return;
    }

    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    // RFC 9110 13.1.5: a failed If-Range means "send the whole representation".
    // Without validators no If-Range can match (the client was never given one), so it means the whole file.
    if (
      range !== undefined &&
      (this.#validators || req.headers['if-range'] === undefined) &&
      ifRangeHolds(headerValue(req.headers['if-range']), etag, lastModified)
    ) {
      const parsed = parseSingleRange(range, size);
      if (parsed === 'unsatisfiable') {
        this.#sendText(res, record, 416, 'range not satisfiable\n', { ...extraHeaders, 'Content-Range': `bytes */${size}` });
        return;
      }
      if (parsed !== undefined) {
        [start, end] = parsed;
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      }
    }
    const length = end - start + 1;
    // Without Content-Length node sends the body chunked (HTTP/1.1), so its end is only the last chunk.
    if (!applied.some((f) => f.kind === 'chunked')) headers['Content-Length'] = length;
    Object.assign(headers, extraHeaders);

    record.status = status;
    res.writeHead(status, headers);
    if (method === 'HEAD' || length === 0) {
      res.end();
      record.outcome = 'complete';
      record.finishedAt = Date.now();
      return;
    }
    res.flushHeaders();
    const handle = await open(file, 'r');
    try {
      await this.#sendBody(res, record, handle, start, length, this.#bodyPlan(applied, start, length, size));
    } finally {
      await handle.close();
    }
  }

  #takeFaults(record: RequestRecord): Fault[] {
    const taken: Fault[] = [];
    for (const rule of [...this.#rules]) {
      if (rule.methods !== undefined && !rule.methods.includes(record.method)) continue;
      if (!rule.match(record)) continue;
      taken.push(...rule.faults);
      rule.applied += 1;
      if (rule.remaining !== undefined) {
        rule.remaining -= 1;
        if (rule.remaining <= 0) this.#rules.splice(this.#rules.indexOf(rule), 1);
      }
    }
    return taken;
  }

  #bodyPlan(applied: readonly Fault[], start: number, length: number, size: number): BodyPlan {
    const plan: BodyPlan = { cutAfter: undefined, resetOnCut: false, corruptAt: undefined, stall: undefined, bytesPerSecond: undefined, appendBytes: 0 };
    for (const fault of applied) {
      switch (fault.kind) {
        case 'cutAfter':
          plan.cutAfter = Math.min(plan.cutAfter ?? Infinity, Math.max(0, fault.bytes));
          plan.resetOnCut ||= fault.reset;
          break;
        case 'corrupt':
          plan.corruptAt = fault.at ?? Math.floor(size / 2);
          // A range that misses the chosen byte would be served intact; corrupt its middle instead.
          if (plan.corruptAt < start || plan.corruptAt >= start + length) plan.corruptAt = start + Math.floor(length / 2);
          break;
        case 'stall': {
          const { ms, until } = fault;
          plan.stall = {
            afterBytes: fault.afterBytes ?? Math.floor(length / 2),
            wait: () => (until !== undefined ? until.catch(() => undefined) : this.#delay(ms)),
          };
          break;
        }
        case 'rateLimit':
          plan.bytesPerSecond = Math.max(1, fault.bytesPerSecond);
          break;
        case 'slow':
          plan.bytesPerSecond = Math.max(1, length / (Math.max(1, fault.totalMs) / 1000));
          break;
        case 'chunked':
          plan.appendBytes += Math.max(0, fault.appendBytes);
          break;
        default:
          break;
      }
    }
    return plan;
  }

  async #sendBody(res: ServerResponse, record: RequestRecord, handle: FileHandle, start: number, length: number, plan: BodyPlan): Promise<void> {
    const limit = Math.min(length, plan.cutAfter ?? Infinity);
    const paced = plan.bytesPerSecond !== undefined;
    // Small chunks when paced so the rate is smooth (about 20 writes a second).
    const chunkSize = paced ? Math.max(1, Math.min(64 * 1024, Math.floor((plan.bytesPerSecond ?? 0) / 20))) : 256 * 1024;
    const began = performance.now();
    let stalled = false;
    let sent = 0;
    let lastWrite: Promise<void> = Promise.resolve();
    while (sent < limit) {
      if (res.destroyed || this.#closed) return;
      if (plan.stall !== undefined && !stalled && sent >= plan.stall.afterBytes) {
        stalled = true;
        await this.#race(plan.stall.wait(), res);
        if (res.destroyed || this.#closed) return;
      }
      let n = Math.min(chunkSize, limit - sent);
      if (plan.stall !== undefined && !stalled && plan.stall.afterBytes > sent) n = Math.min(n, plan.stall.afterBytes - sent);
      const chunk = Buffer.alloc(n);
      const { bytesRead } = await handle.read(chunk, 0, n, start + sent);
      if (bytesRead !== n) throw new Error(`file shrank while being served: ${record.path}`);
      const corruptAt = plan.corruptAt;
      if (corruptAt !== undefined && corruptAt >= start + sent && corruptAt < start + sent + n) {
        const index = corruptAt - start - sent;
        chunk[index] = (chunk[index] ?? 0) ^ 0xff;
      }
      lastWrite = new Promise<void>((resolveWrite) => res.write(chunk, () => resolveWrite()));
      sent += n;
      record.bytesSent = sent;
      if (res.writableNeedDrain) await this.#race(once(res, 'drain'), res);
      if (paced) {
        const due = began + (sent / (plan.bytesPerSecond ?? 1)) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await this.#race(this.#delay(wait), res);
      }
    }
    if (res.destroyed || this.#closed) return;
    if (limit < length) {
      // Half-close (FIN) once the bytes are flushed: a reset could make the client's kernel discard
      // bytes already sent when it still has unread pipelined requests from the client.
      await this.#race(lastWrite, res);
      record.outcome = 'cut';
      record.finishedAt = Date.now();
      const socket = res.socket;
      if (plan.resetOnCut) {
        socket?.resetAndDestroy();
        return;
      }
      socket?.end();
      const timer = setTimeout(() => socket?.destroy(), 2000);
      timer.unref();
      return;
    }
    if (plan.appendBytes > 0) {
      await this.#writeFiller(res, record, plan.appendBytes);
      if (res.destroyed || this.#closed) return;
    }
    res.end();
    record.outcome = 'complete';
    record.finishedAt = Date.now();
  }

  /** Writes `bytes` more bytes (repeated random 64 KiB) after what was sent, honouring backpressure; stops if either side goes. */
  async #writeFiller(res: ServerResponse, record: RequestRecord, bytes: number): Promise<void> {
    const filler = randomBytes(64 * 1024);
    // Bounded by `bytes`, and ends early when the client or the server goes away.
    for (let written = 0; written < bytes;) {
      if (res.destroyed || this.#closed) return;
      const n = Math.min(filler.length, bytes - written);
      const ready = res.write(n === filler.length ? filler : filler.subarray(0, n));
      written += n;
      record.bytesSent += n;
      if (!ready) await this.#race(once(res, 'drain'), res);
    }
  }

  async #sendEndless(
    res: ServerResponse,
    record: RequestRecord,
    fault: Extract<Fault, { kind: 'endless' }>,
    extraHeaders: Record<string, string>,
  ): Promise<void> {
    record.status = 200;
    const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', ...extraHeaders };
    if (fault.contentLength !== undefined) headers['Content-Length'] = fault.contentLength;
    res.writeHead(200, headers);
    if (record.method === 'HEAD') {
      res.end();
      record.outcome = 'complete';
      record.finishedAt = Date.now();
      return;
    }
    res.flushHeaders();
    let paused = 0;
    if (fault.until !== undefined) {
      paused = Math.min(fault.afterBytes, fault.maxBytes);
      await this.#writeFiller(res, record, paused);
      await this.#race(
        fault.until.catch(() => undefined),
        res,
      );
    }
    await this.#writeFiller(res, record, fault.maxBytes - paused);
    if (res.destroyed || this.#closed) return;
    record.finishedAt = Date.now();
    if (fault.contentLength !== undefined && fault.contentLength > fault.maxBytes) {
      // A declared length that was never going to be met: the body ends in a cut, as a real upstream's would.
      record.outcome = 'cut';
      res.socket?.destroy();
      return;
    }
    res.end();
    record.outcome = 'complete';
  }

  #sendText(res: ServerResponse, record: RequestRecord, status: number, body: string, headers: Record<string, string>): void {
    record.status = status;
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': bytes.length, ...headers });
    res.end(record.method === 'HEAD' ? undefined : bytes);
    record.outcome = 'complete';
    record.finishedAt = Date.now();
  }

  #resolveFile(wirePath: string): string | undefined {
    if (wirePath.includes('\0')) return undefined;
    let relative: string;
    if (this.prefix === '') relative = wirePath;
    else if (wirePath.startsWith(`${this.prefix}/`)) relative = wirePath.slice(this.prefix.length);
    else return undefined;
    const file = resolve(this.root, `.${relative}`);
    return file.startsWith(`${this.root}${sep}`) ? file : undefined;
  }

  /** Waits `ms` (or forever) but never past close(). */
  async #wait(ms: number | 'forever', res: ServerResponse): Promise<void> {
    await this.#race(ms === 'forever' ? new Promise<void>(() => undefined) : this.#delay(ms), res);
  }

  async #delay(ms: number | 'forever'): Promise<void> {
    if (ms === 'forever') return new Promise<void>(() => undefined);
    return new Promise<void>((resolveDelay) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolveDelay();
      }, ms);
      this.#timers.add(timer);
    });
  }

  /** Settles with `work`, or when the response closes, or when the server closes. */
  async #race(work: Promise<unknown>, res: ServerResponse): Promise<void> {
    if (res.destroyed) return;
    let onClose: (() => void) | undefined;
    const closed = new Promise<void>((resolveClosed) => {
      onClose = resolveClosed;
      res.once('close', resolveClosed);
    });
    try {
      await Promise.race([work, closed, this.#closing]);
    } finally {
      if (onClose !== undefined) res.off('close', onClose);
    }
  }
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function weakTag(tag: string): string {
  return tag.trim().replace(/^W\//, '');
}

function ifRangeHolds(ifRange: string | undefined, etag: string, lastModified: string): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  // RFC 9110 13.1.5: an entity-tag must match strongly; a date must equal Last-Modified exactly.
  if (value.startsWith('"') || value.startsWith('W/')) return value === etag;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === Date.parse(lastModified);
}

/** [start, end] inclusive, undefined to ignore the header (bad syntax, several ranges), or 'unsatisfiable'. */
function parseSingleRange(header: string, size: number): [number, number] | undefined | 'unsatisfiable' {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (end < start) return undefined;
  return [start, end];
}
