// The serving threads (server.threads), main side: started, restarted, stopped; the internal socket they relay to; offloads and their reports.
import { tmpdir } from 'node:os';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { CachedObject } from '../cache/cached-object.ts';
import type { HoardConfig } from '../config/config-schema.ts';
import { HoardError, errorCodes, type ErrorCode } from '../errors.ts';
import { channels, publishRequest } from '../events.ts';
import type { ServeResult } from '../http/serve-object.ts';
import {
  clientHeader,
  clientVersionHeader,
  offerHeader,
  offloadHeader,
  parseClient,
  type MainMessage,
  type Offload,
  type Reuse,
  type ReusedHit,
  type WorkerCounts,
  type WorkerMessage,
  type WorkerSettings,
} from './serving-channel.ts';

/** What an offload resolves to: what the serving thread sent, or that it gave the request back (not counted: it comes again). */
export type OffloadResult = ServeResult & { readonly handedBack?: boolean };

export interface ServingThreadsOptions {
  readonly count: number;
  /** The main thread's HTTP server: relayed connections are handed to it, as the HTTPS listener hands its own. */
  readonly server: Server;
  readonly host: string;
  /** The port the main thread listens on (with reusePort). */
  readonly port: number;
  readonly dataDir: string;
  readonly config: HoardConfig;
  readonly logger: Logger;
  /** A serving thread found this blob gone: drop the entries that name it (if it is gone), so the next lookup is a miss. */
  readonly blobGone: (digest: string) => Promise<void>;
  /** Records an access to an index entry (eviction order) for a hit a thread answered from a reused decision. */
  readonly touch: (key: string) => void;
}

interface Thread {
  readonly id: number;
  worker: Worker | undefined;
  up: boolean;
  restarts: number;
  /** Offloads this thread answered (reports received). */
  served: number;
  bytes: number;
  /** What it counted itself, as of its last flush. */
  counts: WorkerCounts;
}

interface Pending {
  readonly thread: Thread;
  readonly digest: string;
  readonly resolve: (result: OffloadResult) => void;
}

const noCounts: WorkerCounts = { requests: 0, served: 0, bytes: 0, relayed: 0, reused: 0, tunnels: 0 };
/** How long a stats, metrics or dashboard request waits for the threads' reports. */
const flushBoundMs = 500;

export class ServingThreads {
  readonly #o: ServingThreadsOptions;
  readonly #threads: Thread[] = [];
  readonly #pending = new Map<number, Pending>();
  /** Blobs serving threads are sending now: eviction leaves them alone, as it does blobs the main thread reads. */
  readonly #reading = new Map<string, number>();
  /** Sockets of the internal listener, and the thread each speaks for. */
  readonly #relayed = new WeakMap<Duplex, number>();
  readonly #internal: NetServer;
  readonly #socketPath: string;
  readonly #flushes = new Map<number, () => void>();
  /** Shared with every thread: bumped when a decision a thread may be reusing could have changed. */
  readonly #epoch = new Int32Array(new SharedArrayBuffer(4));
  readonly #onDownload = (message: unknown) => {
    // A download's end follows its index entry and whatever the verifier learnt from it.
    if ((message as { phase: string }).phase !== 'start') this.bump();
  };
  #seq = 0;
  #stopping = false;

  private constructor(options: ServingThreadsOptions, internal: NetServer, socketPath: string) {
    this.#o = options;
    this.#internal = internal;
    this.#socketPath = socketPath;
  }

  static async start(options: ServingThreadsOptions): Promise<ServingThreads> {
    // A unix socket in a directory only this user can enter (mkdtemp makes it 0700), itself 0600: nothing outside
    // the process relays a client address through it. Not in the data directory, whose layout is the store's;
    // the temporary directory also keeps the path within sun_path's 108 bytes.
    removeStaleSocketDirs();
    const socketDir = mkdtempSync(join(tmpdir(), `hoard-serving-${process.pid}-`));
    const socketPath = join(socketDir, 'relay.sock');
    const internal = createNetServer();
    const threads = new ServingThreads(options, internal, socketPath);
    internal.on('connection', (socket: Socket) => threads.#adopt(socket));
    await new Promise<void>((resolve, reject) => {
      internal.once('error', reject);
      internal.listen({ path: socketPath, backlog: 1024 }, () => {
        internal.off('error', reject);
        resolve();
      });
    });
    chmodSync(socketPath, 0o600);
    threads.#watchServer();
    channels.download.subscribe(threads.#onDownload);
    // A thread that cannot start is logged and tried again later (#exited); the others serve meanwhile.
    await Promise.all(
      Array.from({ length: options.count }, (_, i) =>
        threads.#spawn(threads.#newThread(i + 1)).catch((err: unknown) => options.logger.error({ thread: i + 1, err }, 'serving thread did not start')),
      ),
    );
    options.logger.info({ threads: options.count, socket: socketPath }, 'serving threads up');
    return threads;
  }

  #newThread(id: number): Thread {
    const thread: Thread = { id, worker: undefined, up: false, restarts: 0, served: 0, bytes: 0, counts: noCounts };
    this.#threads.push(thread);
    return thread;
  }

  /** The internal connection goes to the main HTTP server, as a TLS socket of the HTTPS listener does. */
  #adopt(socket: Socket): void {
    this.#relayed.set(socket, 0);
    this.#o.server.emit('connection', socket);
  }

  /**
   * Before the server's own handlers: a relayed request gets its client's address on its socket (each
   * internal connection speaks for one client connection) and its HTTP version, so access rules, logs and
   * rate guards see the client, not the relay. A request without that header on the internal socket is cut.
   */
  #watchServer(): void {
    const adopt = (req: IncomingMessage): boolean => {
      const socket = req.socket;
      if (!this.#relayed.has(socket)) return true;
      const client = parseClient(req.headers[clientHeader]);
      if (client === undefined) {
        socket.destroy();
        return false;
      }
      if (this.#relayed.get(socket) === 0) {
        this.#relayed.set(socket, client.worker);
        Object.defineProperties(socket, {
          remoteAddress: { value: client.address, configurable: true },
          remotePort: { value: client.port, configurable: true },
          remoteFamily: { value: client.family, configurable: true },
        });
      }
      const minor = req.headers[clientVersionHeader];
      if (minor === '0') {
        req.httpVersionMinor = 0;
        req.httpVersion = '1.0';
      }
      return true;
    };
    this.#o.server.prependListener('request', (req: IncomingMessage) => void adopt(req));
    this.#o.server.prependListener('connect', (req: IncomingMessage) => void adopt(req));
  }

  async #spawn(thread: Thread): Promise<void> {
    const { config } = this.#o;
    const settings: WorkerSettings = {
      worker: thread.id,
      host: this.#o.host,
      port: this.#o.port,
      socketPath: this.#socketPath,
      dataDir: this.#o.dataDir,
      allowedClients: config.allowedClients,
      headersTimeoutMs: config.server.headersTimeoutMs,
      keepAliveTimeoutMs: config.server.keepAliveTimeoutMs,
      clientIdleTimeoutMs: config.server.clientIdleTimeoutMs,
      minSendBytesPerSecond: config.server.minSendBytesPerSecond,
      slowClientWindowSeconds: config.server.slowClientWindowSeconds,
      epoch: this.#epoch.buffer,
    };
    // The compiled build runs serving-worker.js beside this file; the sources run the .ts.
    const entry = new URL(import.meta.url.endsWith('.ts') ? './serving-worker.ts' : './serving-worker.js', import.meta.url);
    const worker = new Worker(entry, { workerData: settings, name: `hoard-serving-${thread.id}` });
    thread.worker = worker;
    const listening = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'listening') {
          thread.up = true;
          resolve();
        } else this.#onMessage(thread, message);
      });
      worker.on('error', (err: unknown) => {
        this.#o.logger.error({ thread: thread.id, err }, 'serving thread failed');
        reject(err instanceof Error ? err : new Error(String(err)));
      });
      worker.once('exit', (code) => {
        reject(new Error(`serving thread ${thread.id} exited with ${code} before listening`));
        this.#exited(thread, worker, code);
      });
    });
    await listening;
  }

  #exited(thread: Thread, worker: Worker, code: number): void {
    if (thread.worker !== worker) return;
    thread.up = false;
    thread.worker = undefined;
    // Its offloads will not report: their responses ended with the thread.
    for (const [id, pending] of this.#pending) {
      if (pending.thread !== thread) continue;
      this.#settle(id, { status: 0, bytes: 0, error: new Error('the serving thread exited') });
    }
    if (this.#stopping) return;
    thread.restarts += 1;
    const delayMs = Math.min(30_000, 1000 * thread.restarts);
    this.#o.logger.error({ thread: thread.id, code, restarts: thread.restarts, delayMs }, 'serving thread exited; restarting it');
    setTimeout(() => {
      if (this.#stopping) return;
      this.#spawn(thread).then(
        () => this.#o.logger.info({ thread: thread.id }, 'serving thread restarted'),
        (err: unknown) => this.#o.logger.error({ thread: thread.id, err }, 'serving thread could not be restarted'),
      );
    }, delayMs).unref();
  }

  #onMessage(thread: Thread, message: WorkerMessage): void {
    switch (message.type) {
      case 'served': {
        thread.served += 1;
        thread.bytes += message.bytes;
        const error =
          message.errorMessage === undefined
            ? undefined
            : message.errorCode !== undefined && Object.hasOwn(errorCodes, message.errorCode)
              ? new HoardError(message.errorCode as ErrorCode, message.errorMessage)
              : new Error(message.errorMessage);
        this.#settle(message.id, { status: message.status, bytes: message.bytes, error });
        break;
      }
      case 'handed-back': {
        this.#settle(message.id, { status: 0, bytes: 0, handedBack: true });
        const digest = message.digest;
        this.#o.blobGone(digest).then(
          () => this.#post(thread, { type: 'dropped', digest }),
          (err: unknown) => {
            this.#o.logger.error({ digest, err }, 'could not drop the entries of a missing blob');
            this.#post(thread, { type: 'dropped', digest });
          },
        );
        break;
      }
      case 'hits':
        for (const hit of message.hits) {
          thread.served += 1;
          thread.bytes += hit.bytes;
          this.#publishReused(hit);
        }
        break;
      case 'flushed':
        thread.counts = message.counts;
        this.#flushes.get(message.seq)?.();
        break;
      case 'log':
        this.#o.logger[message.level](message.fields, message.msg);
        break;
      case 'listening':
        break;
    }
  }

  /** A hit a thread answered from a reused decision: logged, counted and recorded as if the main thread had served it. */
  #publishReused(message: ReusedHit): void {
    const { reuse } = message;
    const failed = message.errorMessage !== undefined;
    const code = failed ? (message.errorCode ?? 'HOARD_ERR_CLIENT_GONE') : undefined;
    if (failed && message.errorCode !== undefined) {
      this.#o.logger.warn({ target: message.target, code, err: message.errorMessage }, 'response cut: the object could not be delivered whole');
    }
    this.#o.touch(reuse.key);
    publishRequest({
      client: message.client,
      method: message.method,
      target: message.target,
      result: failed ? 'error' : 'hit',
      status: message.status,
      bytes: message.bytes,
      durationMs: message.durationMs,
      upstream: reuse.upstream,
      protocol: reuse.protocol,
      item: reuse.item,
      errorCode: code,
    });
  }

  /** Ends every reused decision: called on each index write and download end. */
  bump(): void {
    Atomics.add(this.#epoch, 0, 1);
  }

  #post(thread: Thread, message: MainMessage): void {
    thread.worker?.postMessage(message);
  }

  #settle(id: number, result: OffloadResult): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    const left = (this.#reading.get(pending.digest) ?? 1) - 1;
    if (left <= 0) this.#reading.delete(pending.digest);
    else this.#reading.set(pending.digest, left);
    pending.resolve(result);
  }

  /**
   * The hook of the HTTP edge (proxy-server.ts, before it sends a cached object): a stored, complete object asked
   * through a serving thread that offered to send it is answered with an `Offload` (what to send, with the headers
   * this thread chose), and the result resolves once that thread reports what it sent. Undefined: serve it here.
   */
  offload(
    req: IncomingMessage,
    res: ServerResponse,
    object: CachedObject,
    headers: Record<string, string>,
    reuse: Reuse | undefined,
  ): Promise<OffloadResult> | undefined {
    const threadId = this.#relayed.get(req.socket);
    if (threadId === undefined || threadId === 0 || req.headers[offerHeader] !== '1') return undefined;
    // Only committed blobs: a download (its bytes in a temporary file, `settled` set) stays with the main thread.
    if (!object.complete || object.settled !== undefined || object.digest === undefined || object.size === undefined || object.open === undefined)
      return undefined;
    const thread = this.#threads.find((t) => t.id === threadId);
    if (thread?.up !== true) return undefined;
    const id = ++this.#seq;
    const offload: Offload = {
      id,
      digest: object.digest,
      size: object.size,
      etag: object.etag,
      lastModified: object.lastModified,
      contentType: object.contentType,
      headers,
      reuse,
    };
    const encoded = Buffer.from(JSON.stringify(offload)).toString('base64url');
    const done = new Promise<OffloadResult>((resolve) => this.#pending.set(id, { thread, digest: object.digest as string, resolve }));
    this.#reading.set(object.digest, (this.#reading.get(object.digest) ?? 0) + 1);
    res.writeHead(200, { [offloadHeader]: encoded, 'content-length': 0 });
    res.end();
    return done;
  }

  /** True while a serving thread sends this blob. */
  inUse(digest: string): boolean {
    return this.#reading.has(digest);
  }

  /** Resolves once every thread has reported what it finished (bounded), so the figures read next include it. */
  async flush(): Promise<void> {
    const live = this.#threads.filter((t) => t.up && t.worker !== undefined);
    await Promise.all(
      live.map(
        (thread) =>
          new Promise<void>((resolve) => {
            const seq = ++this.#seq;
            const timer = setTimeout(done, flushBoundMs);
            const flushes = this.#flushes;
            function done() {
              clearTimeout(timer);
              flushes.delete(seq);
              resolve();
            }
            flushes.set(seq, done);
            this.#post(thread, { type: 'flush', seq });
          }),
      ),
    );
    // The reports' promise chains (the request events) run before the caller reads the figures.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** The `threads` section of stats.json. */
  stats(): Record<string, unknown> {
    return {
      threads: {
        serving: this.#threads.length + 1,
        workers: this.#threads.map((t) => ({
          thread: t.id,
          up: t.up,
          restarts: t.restarts,
          requests: t.counts.requests,
          relayed: t.counts.relayed,
          reused: t.counts.reused,
          tunnels: t.counts.tunnels,
          hits: t.served,
          bytes: t.bytes,
        })),
      },
    };
  }

  async close(): Promise<void> {
    this.#stopping = true;
    channels.download.unsubscribe(this.#onDownload);
    await Promise.all(
      this.#threads.map(async (thread) => {
        const worker = thread.worker;
        if (worker === undefined) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        this.#post(thread, { type: 'stop' });
        const timer = setTimeout(() => void worker.terminate(), 4000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await new Promise<void>((resolve) => this.#internal.close(() => resolve()));
    rmSync(dirname(this.#socketPath), { recursive: true, force: true });
  }
}

/** Relay directories of this user's hoard processes that are gone (killed, crashed): each holds only a dead socket. */
function removeStaleSocketDirs(): void {
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^hoard-serving-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
      continue;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    try {
      const dir = join(tmpdir(), name);
      if (uid === undefined || statSync(dir).uid === uid) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another process's, or gone meanwhile: left alone.
    }
  }
}
