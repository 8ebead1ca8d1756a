// A raw HTTP(S) client for assertions: reports status, headers, body and whether the body arrived whole.
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface ProbeOptions {
  /** Default GET. */
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sends the request to this proxy (`http://host:port`) with an absolute-form target, as apt does. */
  readonly proxy?: string;
  /** Trusted CA (PEM) for https URLs. */
  readonly ca?: string | Buffer;
  /** Bound on the whole exchange; default 10 s. On expiry the result has `error: 'timeout'`. */
  readonly timeoutMs?: number;
  /** The source address to connect from (127.0.0.2 is a loopback address too, for client-access tests). */
  readonly localAddress?: string;
}

export interface ProbeResult {
  /** 0 when no response head arrived. */
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** True only when the body ended normally with every byte Content-Length promised. */
  readonly complete: boolean;
  /** Why the exchange failed (a socket error code, 'aborted', 'timeout'), if it did. */
  readonly error: string | undefined;
  /** Milliseconds from sending to the response head; undefined when none arrived. */
  readonly headersAfterMs: number | undefined;
  readonly elapsedMs: number;
}

/** One request on a fresh connection (no agent), so tests never share sockets by accident. */
export async function probe(url: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const target = new URL(url);
  const proxy = options.proxy === undefined ? undefined : new URL(options.proxy);
  const started = performance.now();
  const send = (proxy ?? target).protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolveProbe) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    let headersAfterMs: number | undefined;
    let settled = false;
    const finish = (complete: boolean, error: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolveProbe({ status, headers, body: Buffer.concat(chunks), complete, error, headersAfterMs, elapsedMs: performance.now() - started });
    };
    const req = send(
      {
        host: (proxy ?? target).hostname.replace(/^\[|\]$/g, ''),
        port: (proxy ?? target).port,
        path: proxy === undefined ? `${target.pathname}${target.search}` : target.href,
        method: options.method ?? 'GET',
        headers: { ...options.headers },
        agent: false,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res: IncomingMessage) => {
        status = res.statusCode ?? 0;
        headers = res.headers;
        headersAfterMs = performance.now() - started;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () => finish(res.complete, res.complete ? undefined : 'aborted'));
        res.once('error', (error: NodeJS.ErrnoException) => finish(false, error.code ?? error.message));
        res.once('close', () => finish(res.complete, res.complete ? undefined : 'aborted'));
      },
    );
    const timer = setTimeout(() => finish(false, 'timeout'), options.timeoutMs ?? 10_000);
    req.once('error', (error: NodeJS.ErrnoException) => finish(false, error.code ?? error.message));
    req.end();
  });
}
