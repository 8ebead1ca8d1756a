// A serving thread (server.threads): takes client connections on the shared port, sends the stored objects the main thread hands it, relays the rest.
/*
 * The composition root of a serving thread, so it builds its own FsBlobStore (read side only). It loads only
 * the hit path: node:http, the blob reader, serve-object and body-sender. No undici, openpgp, zod, pino,
 * SQLite or protocol code: every decision (access, routing, verification, freshness) is the main thread's.
 */
import type { Agent as HttpAgent, IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parentPort, workerData } from 'node:worker_threads';
import type { CachedObject } from '../cache/cached-object.ts';
import { isHoardError } from '../errors.ts';
import { SendBufferPool } from '../http/body-sender.ts';
import { ClientAccess } from '../http/client-access.ts';
import { HitMemo, memoKeyOf } from '../http/hit-memo.ts';
import { HotBodyCache } from '../http/hot-body-cache.ts';
import { ResponseOrder } from '../http/response-order.ts';
import { answerRawRefusals } from '../http/raw-refusals.ts';
import { nosniffHeaders } from '../http/security-headers.ts';
import { serveObject, type SendResources, type ServeResult } from '../http/serve-object.ts';
import type { BlobReader } from '../storage/blob-store.ts';
import { FsBlobStore } from '../storage/fs-blob-store.ts';
import {
  clientHeader,
  clientVersionHeader,
  formatClient,
  internalHeaders,
  offerHeader,
  offloadHeader,
  type MainMessage,
  type Offload,
  type Reuse,
  type ReusedHit,
  type WorkerMessage,
  type WorkerSettings,
} from './serving-channel.ts';

// As in proxy-server.ts: the CommonJS module object, so node's bundled undici is never loaded.
const { createServer, Agent, request } = process.getBuiltinModule('node:http');

const settings = workerData as WorkerSettings;
const port = parentPort;
if (port === null) throw new Error('serving-worker.ts runs as a worker thread');

/** Hop-by-hop headers (RFC 9110 7.6.1) and framing: each side of the relay sets its own. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

const counts = { requests: 0, served: 0, bytes: 0, relayed: 0, reused: 0, tunnels: 0 };
const epoch = new Int32Array(settings.epoch);
/** Decisions the main thread allowed to be reused (`Reuse`): its index writes advance the shared epoch. */
const memo = new HitMemo<Offload>(() => Atomics.load(epoch, 0));
/** Reused hits not yet reported (see postHits). */
const pendingHits: ReusedHit[] = [];
const blobs = new FsBlobStore(settings.dataDir);
const clients = new ClientAccess(settings.allowedClients);
const resources: SendResources = {
  // Half the main thread's: the hottest small bodies end up in both.
  hotBodies: new HotBodyCache({ maxBytes: 8 * 1024 * 1024, maxEntryBytes: 128 * 1024 }),
  buffers: new SendBufferPool({ budgetBytes: 16 * 1024 * 1024 }),
  sendRate: { minBytesPerSecond: settings.minSendBytesPerSecond, windowMs: settings.slowClientWindowSeconds * 1000 },
};
const order = new ResponseOrder();
/** One internal connection per client connection, so the main thread sees each client's address on its own socket. */
const agents = new WeakMap<Duplex, HttpAgent>();
/** Requests waiting for the main thread to drop the entries of a blob found gone. */
const waitingForDrop = new Map<string, Array<() => void>>();

function post(message: WorkerMessage): void {
  port?.postMessage(message);
}

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  post({ type: 'log', level, msg, fields: { thread: settings.worker, ...fields } });
}

function clientOf(socket: Duplex): string | undefined {
  const s = socket as Socket;
  if (s.remoteAddress === undefined) return undefined;
  return formatClient({ worker: settings.worker, family: s.remoteFamily ?? 'IPv4', address: s.remoteAddress, port: s.remotePort ?? 0 });
}

function agentFor(socket: Duplex): HttpAgent {
  let agent = agents.get(socket);
  if (agent === undefined) {
    const made = new Agent({ keepAlive: true, maxSockets: 1 });
    socket.once('close', () => made.destroy());
    agents.set(socket, made);
    agent = made;
  }
  return agent;
}

const server = createServer(
  {
    noDelay: true,
    keepAlive: true,
    headersTimeout: settings.headersTimeoutMs,
    requestTimeout: settings.headersTimeoutMs * 2,
    connectionsCheckingInterval: Math.min(1000, settings.headersTimeoutMs),
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    maxHeaderSize: 16 * 1024,
    requireHostHeader: false,
  },
  (req, res) => {
    counts.requests += 1;
    order.track(req, res);
    // Client access applies here too: a client outside the allowed networks is never offered an offload;
    // its request goes to the main thread, which refuses it (once, logged and counted there).
    const offer = (req.method === 'GET' || req.method === 'HEAD') && clients.allows(req.socket.remoteAddress);
    if (offer) {
      const key = memoKeyOf(req);
      const reused = key === undefined ? undefined : memo.recall(key);
      if (reused !== undefined) {
        void sendReused(req, res, key as string, reused);
        return;
      }
    }
    relay(req, res, offer);
  },
);
server.setTimeout(settings.clientIdleTimeoutMs);

answerRawRefusals(server, order);

// A CONNECT is the main thread's to allow or refuse: its head goes there and the bytes flow both ways.
server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  counts.tunnels += 1;
  const client = clientOf(socket);
  if (client === undefined) {
    socket.destroy();
    return;
  }
  const inner = connect(settings.socketPath);
  let text = `CONNECT ${req.url ?? ''} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (!internalHeaders.has((raw[i] as string).toLowerCase())) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  inner.write(`${text}${clientHeader}: ${client}\r\n\r\n`);
  if (head.length > 0) inner.write(head);
  socket.pipe(inner);
  inner.pipe(socket);
  const fail = () => {
    socket.destroy();
    inner.destroy();
  };
  socket.on('error', fail);
  inner.on('error', fail);
  socket.on('close', () => inner.destroy());
  inner.on('close', () => socket.end());
});

/** Sends the client's request to the main thread and answers with what comes back: a response to pass on, or an offload. */
function relay(req: IncomingMessage, res: ServerResponse, offer: boolean): void {
  const epochAsked = memo.epoch();
  const client = clientOf(req.socket);
  if (client === undefined) {
    res.destroy();
    return;
  }
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (!hopByHop.has(name) && !internalHeaders.has(name)) headers.push(raw[i] as string, raw[i + 1] as string);
  }
  headers.push(clientHeader, client);
  if (req.httpVersionMinor !== 1) headers.push(clientVersionHeader, String(req.httpVersionMinor));
  if (offer) headers.push(offerHeader, '1');
  const inner = request({ agent: agentFor(req.socket), socketPath: settings.socketPath, method: req.method, path: req.url, headers, setHost: false });
  inner.on('response', (answer: IncomingMessage) => {
    const offloaded = answer.headers[offloadHeader];
    if (offer && typeof offloaded === 'string') {
      answer.resume();
      void sendOffload(req, res, offloaded, memoKeyOf(req), epochAsked);
      return;
    }
    counts.relayed += 1;
    const out: string[] = [];
    const rawOut = answer.rawHeaders;
    for (let i = 0; i < rawOut.length; i += 2) {
      const name = (rawOut[i] as string).toLowerCase();
      if (name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding') out.push(rawOut[i] as string, rawOut[i + 1] as string);
    }
    if (res.destroyed) {
      answer.destroy();
      return;
    }
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
    // A body the main thread cuts short is cut short here too: the client never sees a complete-looking wrong one.
    pipeline(answer, res).catch(() => res.destroy());
  });
  inner.on('error', (err: Error) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    log('warn', 'relay to the main thread failed', { target: req.url, err: err.message });
    const line = 'HOARD_ERR_INTERNAL: the serving thread could not reach the main thread\n';
    res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(line), ...nosniffHeaders });
    res.end(req.method === 'HEAD' ? undefined : line);
  });
  res.once('close', () => {
    if (!res.writableFinished) inner.destroy();
  });
  if (req.method === 'GET' || req.method === 'HEAD') {
    req.resume();
    inner.end();
  } else {
    pipeline(req, inner).catch(() => inner.destroy());
  }
}

/** Sends the stored object the main thread decided on, with the headers it chose; reports what was sent. */
async function sendOffload(req: IncomingMessage, res: ServerResponse, encoded: string, memoKey: string | undefined, epochAsked: number): Promise<void> {
  let offload: Offload;
  try {
    offload = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Offload;
  } catch (err) {
    log('error', 'unreadable offload from the main thread', { target: req.url, err: (err as Error).message });
    res.destroy();
    return;
  }
  const served = await sendStored(req, res, offload);
  if (served === 'missing') {
    const digest = offload.digest;
    post({ type: 'handed-back', id: offload.id, digest });
    await new Promise<void>((resolve) => {
      const list = waitingForDrop.get(digest) ?? [];
      list.push(resolve);
      waitingForDrop.set(digest, list);
      // Bounded: the main thread answers at once unless it is gone.
      setTimeout(resolve, 5000).unref();
    });
    if (!res.destroyed) relay(req, res, false);
    return;
  }
  // The epoch read before asking: a change the main thread made meanwhile already ends this decision.
  if (offload.reuse !== undefined && memoKey !== undefined) memo.remember(memoKey, offload, epochAsked);
  const error = served.error;
  post({
    type: 'served',
    id: offload.id,
    status: served.status,
    bytes: served.bytes,
    ...(error === undefined ? {} : { errorCode: isHoardError(error) ? error.code : undefined, errorMessage: error.message }),
  } as WorkerMessage);
}

/** Answers from a decision the main thread made for the same request a moment ago; the main thread logs and counts it. */
async function sendReused(req: IncomingMessage, res: ServerResponse, key: string, offload: Offload): Promise<void> {
  const started = performance.now();
  const served = await sendStored(req, res, offload);
  if (served === 'missing') {
    memo.forget(key);
    if (!res.destroyed) relay(req, res, true);
    return;
  }
  counts.reused += 1;
  const error = served.error;
  if (pendingHits.length === 0) setImmediate(postHits);
  pendingHits.push({
    reuse: offload.reuse as Reuse,
    client: req.socket.remoteAddress ?? '?',
    method: req.method ?? '?',
    target: req.url ?? '',
    status: served.status,
    bytes: served.bytes,
    durationMs: performance.now() - started,
    ...(error === undefined ? {} : { errorCode: isHoardError(error) ? error.code : undefined, errorMessage: error.message }),
  });
}

/** One message per turn for the reused hits: a structured clone each would cost the main thread more than the hit. */
function postHits(): void {
  if (pendingHits.length === 0) return;
  post({ type: 'hits', hits: pendingHits.splice(0) });
}

/**
 * Sends a stored object as the offload describes it. The blob is opened before any header is written: one deleted
 * since the main thread's lookup (eviction, gc) is 'missing', to be relayed again and fetched anew, never a cut
 * body. An open descriptor keeps reading after an unlink.
 */
async function sendStored(req: IncomingMessage, res: ServerResponse, offload: Offload): Promise<ServeResult | 'missing'> {
  const { digest, size, etag } = offload;
  let preopened: BlobReader | undefined;
  const needsFile =
    req.method !== 'HEAD' && size > 0 && !(etag !== undefined && resources.hotBodies.accepts(size) && resources.hotBodies.get(etag) !== undefined);
  if (needsFile) {
    try {
      preopened = await blobs.openReader(digest);
    } catch {
      return 'missing';
    }
  }
  const object: CachedObject = {
    size,
    lastModified: offload.lastModified,
    etag,
    digest,
    contentType: offload.contentType,
    complete: true,
    stream: (start, endInclusive) => blobs.createReadStream(digest, start, endInclusive),
    open: () => {
      const reader = preopened;
      preopened = undefined;
      return reader === undefined ? blobs.openReader(digest) : Promise.resolve(reader);
    },
  };
  try {
    const served = await serveObject(req, res, object, offload.headers, resources);
    counts.served += 1;
    counts.bytes += served.bytes;
    return served;
  } catch (err) {
    res.destroy();
    return { status: res.statusCode, bytes: 0, error: err as Error };
  } finally {
    await preopened?.close();
  }
}

port.on('message', (message: MainMessage) => {
  if (message.type === 'flush') {
    // Reports of finished responses were posted before this answer: the port keeps their order.
    postHits();
    post({ type: 'flushed', seq: message.seq, counts: { ...counts } });
  } else if (message.type === 'dropped') {
    const list = waitingForDrop.get(message.digest) ?? [];
    waitingForDrop.delete(message.digest);
    for (const resolve of list) resolve();
  } else if (message.type === 'stop') {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    // Responses still running get a moment; the main thread ends the thread after its own bound.
    setTimeout(() => process.exit(0), 3000).unref();
  }
});

server.once('error', (err: NodeJS.ErrnoException) => {
  log('error', 'serving thread could not listen', { err: err.message, code: err.code });
  process.exit(1);
});
server.listen({ host: settings.host, port: settings.port, reusePort: true, backlog: 1024 }, () => post({ type: 'listening' }));
