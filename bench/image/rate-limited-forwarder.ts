// An HTTP forwarder in front of the upstream registry: one shared byte rate for every response (a link, not a per-connection cap), and counts of what crossed it.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Paces bytes through one schedule: each chunk gets the next free slot of `bytes / rate` seconds, first
 * come first served, so N responses share the rate as N downloads share a link.
 */
class SharedRate {
  readonly #bytesPerMs: number;
  #nextFree = 0;

  constructor(bytesPerSecond: number) {
    this.#bytesPerMs = bytesPerSecond / 1000;
  }

  /** Milliseconds to wait before sending `bytes`. */
  reserve(bytes: number): number {
    const now = performance.now();
    const start = Math.max(now, this.#nextFree);
    this.#nextFree = start + bytes / this.#bytesPerMs;
    // The chunk leaves once its slot has passed: the link is busy until then.
    return this.#nextFree - now;
  }
}

class Paced extends Transform {
  readonly #rate: SharedRate;
  readonly #count: (bytes: number) => void;

  constructor(rate: SharedRate, count: (bytes: number) => void) {
    super();
    this.#rate = rate;
    this.#count = count;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#count(chunk.byteLength);
    const wait = this.#rate.reserve(chunk.byteLength);
    if (wait < 1) callback(null, chunk);
    else setTimeout(() => callback(null, chunk), wait);
  }
}

export interface ForwardedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

export class RateLimitedForwarder {
  url = '';
  /** Response body bytes sent since the last reset (what the upstream's link carried). */
  bytes = 0;
  requests: ForwardedRequest[] = [];
  readonly #target: URL;
  readonly #rate: SharedRate;
  readonly #server: Server;

  private constructor(target: URL, bytesPerSecond: number) {
    this.#target = target;
    this.#rate = new SharedRate(bytesPerSecond);
    this.#server = createServer((req, res) => this.#forward(req, res));
  }

  static async start(target: string, bytesPerSecond: number, port = 0): Promise<RateLimitedForwarder> {
    const forwarder = new RateLimitedForwarder(new URL(target), bytesPerSecond);
    forwarder.#server.listen(port, '127.0.0.1');
    await once(forwarder.#server, 'listening');
    forwarder.url = `http://127.0.0.1:${(forwarder.#server.address() as AddressInfo).port}`;
    return forwarder;
  }

  reset(): void {
    this.bytes = 0;
    this.requests = [];
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }

  #forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = request(
      { host: this.#target.hostname, port: this.#target.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.#target.host } },
      (answer) => {
        this.requests.push({ method: req.method ?? '?', path: req.url ?? '', status: answer.statusCode ?? 0 });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(new Paced(this.#rate, (n) => (this.bytes += n))).pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }
}
