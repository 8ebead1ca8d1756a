// A minimal HTTP/1.1 GET client for large bodies: one static 1 MiB read buffer per connection, no parsing beyond the head.
import { createHash, type Hash } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * The client shares the two cores with the server it measures, so it should cost as little as it
 * can: no per-chunk objects or stream machinery (as undici or node:http would add at GB/s), and no
 * 8 KB reads (as wrk does). The kernel copies straight into one reused buffer (net's `onread`), and
 * bytes are only counted, or hashed when asked.
 */
export const readBufferBytes = 1024 * 1024;

export interface ResponseTiming {
  readonly status: number;
  readonly contentLength: number;
  readonly bodyBytes: number;
  /** From writing the request to the first response byte. */
  readonly firstByteMs: number;
  /** From writing the request to the last body byte. */
  readonly totalMs: number;
  /** Hex SHA-256 of the body, when hashing was asked for. */
  readonly sha256: string | undefined;
  /** Why the body is incomplete, if it is. */
  readonly error: string | undefined;
}

interface Pending {
  readonly started: number;
  readonly hash: Hash | undefined;
  resolve(timing: ResponseTiming): void;
}

/** One keep-alive connection that GETs one request at a time. */
export class RawHttpConnection {
  readonly #socket: Socket;
  readonly #host: string;
  readonly #connected: Promise<void>;
  #pending: Pending | undefined;
  #head = '';
  #inBody = false;
  #status = 0;
  #contentLength = 0;
  #bodyBytes = 0;
  #firstByteAt = 0;
  #closed: string | undefined;
  /** Body bytes received on this connection in total, including a response cut off at the end. */
  bodyBytesTotal = 0;

  constructor(host: string, port: number) {
    this.#host = `${host}:${port}`;
    this.#socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: Buffer.allocUnsafe(readBufferBytes), callback: (n, buf) => this.#onRead(buf as Buffer, n) },
    });
    this.#connected = new Promise((resolve, reject) => {
      this.#socket.once('connect', () => resolve());
      this.#socket.once('error', reject);
    });
    this.#socket.on('error', (err) => this.#fail(err.message));
    this.#socket.on('close', () => this.#fail('connection closed'));
  }

  connected(): Promise<void> {
    return this.#connected;
  }

  get(path: string, hash: boolean): Promise<ResponseTiming> {
    if (this.#pending !== undefined) throw new Error('one request at a time');
    if (this.#closed !== undefined) return Promise.reject(new Error(this.#closed));
    return new Promise((resolve) => {
      this.#head = '';
      this.#inBody = false;
      this.#bodyBytes = 0;
      this.#firstByteAt = 0;
      this.#pending = { started: performance.now(), hash: hash ? createHash('sha256') : undefined, resolve };
      this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.#host}\r\nUser-Agent: hoard-bench\r\nAccept: */*\r\n\r\n`);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onRead(buffer: Buffer, n: number): boolean {
    const pending = this.#pending;
    if (pending === undefined) return true;
    if (this.#firstByteAt === 0) this.#firstByteAt = performance.now();
    let offset = 0;
    if (!this.#inBody) {
      // Heads are small: decode this read as latin1 and look for the blank line.
      const text = buffer.toString('latin1', 0, n);
      const before = this.#head.length;
      this.#head += text;
      const end = this.#head.indexOf('\r\n\r\n');
      if (end === -1) return true;
      const head = this.#head.slice(0, end);
      this.#status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
      if (length === undefined) {
        this.#fail(`no Content-Length in the response (status ${this.#status})`);
        return true;
      }
      this.#contentLength = Number(length);
      this.#inBody = true;
      offset = end + 4 - before;
    }
    const take = Math.min(n - offset, this.#contentLength - this.#bodyBytes);
    if (take > 0) {
      pending.hash?.update(buffer.subarray(offset, offset + take));
      this.#bodyBytes += take;
      this.bodyBytesTotal += take;
    }
    if (this.#bodyBytes === this.#contentLength) this.#complete(undefined);
    return true;
  }

  #complete(error: string | undefined): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    const now = performance.now();
    pending.resolve({
      status: this.#status,
      contentLength: this.#contentLength,
      bodyBytes: this.#bodyBytes,
      firstByteMs: this.#firstByteAt === 0 ? Number.NaN : this.#firstByteAt - pending.started,
      totalMs: now - pending.started,
      sha256: error === undefined ? pending.hash?.digest('hex') : undefined,
      error,
    });
  }

  #fail(why: string): void {
    this.#closed ??= why;
    this.#complete(why);
  }
}
