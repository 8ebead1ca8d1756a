// CONNECT pass-through: raw tunnels to the destinations the operator lists (connect.allow), counted and published.
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HoardError } from '../errors.ts';
import { publishRequest, publishTunnel } from '../events.ts';
import { statusForCode } from './error-status.ts';
import { nosniffLine } from './security-headers.ts';

export interface ConnectTunnelOptions {
  /** `host:port` or `*.suffix:port` patterns (config `connect.allow`). */
  allow: readonly string[];
  /** Bound on reaching the destination. */
  connectTimeoutMs: number;
  /** A tunnel silent both ways for this long is closed. */
  idleTimeoutMs: number;
  /**
   * The HTTP proxy (or parent hoard) a tunnel to `host:port` is opened through, with CONNECT; undefined: direct.
   * `url` may hold credentials (sent as Proxy-Authorization); `label` is what messages show.
   */
  through?: ((host: string, port: number) => { url: URL; label: string } | undefined) | undefined;
}

/** Bound on the proxy's answer to our CONNECT (status line and headers). */
const maxProxyHeadBytes = 16 * 1024;

export interface ConnectTarget {
  /** Lower case; IPv6 without brackets. */
  host: string;
  port: number;
}

/**
 * RFC 9110 9.3.6: the target of CONNECT is authority-form, `host:port`, the port required.
 * Returns undefined for anything else (no default port: a tunnel goes exactly where it was asked).
 */
export function parseConnectTarget(target: string): ConnectTarget | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const host = (m[1] ?? m[2] ?? '').toLowerCase();
  if (host === '' || host.startsWith('.') || host.endsWith('.') || host.includes('..')) return undefined;
  return { host, port };
}

/** Matches destinations against `host:port` and `*.suffix:port` patterns; the port always has to match. */
export class ConnectAllowList {
  readonly #exact = new Set<string>();
  readonly #suffixes: { suffix: string; port: number }[] = [];

  constructor(patterns: readonly string[]) {
    for (const pattern of patterns) {
      const wildcard = pattern.startsWith('*.');
      const parsed = parseConnectTarget(wildcard ? pattern.slice(2) : pattern);
      if (!parsed) throw new Error(`connect.allow: "${pattern}" is not host:port or *.suffix:port`);
      if (wildcard) this.#suffixes.push({ suffix: `.${parsed.host}`, port: parsed.port });
      else this.#exact.add(`${parsed.host}:${parsed.port}`);
    }
  }

  get empty(): boolean {
    return this.#exact.size === 0 && this.#suffixes.length === 0;
  }

  allows(target: ConnectTarget): boolean {
    if (this.#exact.has(`${target.host}:${target.port}`)) return true;
    // `*.example.org` covers names under example.org, not example.org itself (as in TLS wildcards).
    return this.#suffixes.some((s) => s.port === target.port && target.host.endsWith(s.suffix));
  }
}

interface Tunnel {
  client: Duplex;
  upstream: Socket;
}

/** Opens allowed tunnels and remembers them, so that shutting hoard down also ends them. */
export class ConnectTunnels {
  readonly #allow: ConnectAllowList;
  readonly #options: ConnectTunnelOptions;
  readonly #open = new Set<Tunnel>();

  constructor(options: ConnectTunnelOptions) {
    this.#options = options;
    this.#allow = new ConnectAllowList(options.allow);
  }

  /** Tunnels currently open or being dialled. */
  get active(): number {
    return this.#open.size;
  }

  /**
   * Takes over `client` and returns true when the destination is allowed; returns false, touching
   * nothing, when it is not, so that the HTTP edge answers the refusal in one place.
   */
  handle(req: IncomingMessage, client: Duplex, head: Buffer): boolean {
    const asked = req.url ?? '';
    const target = parseConnectTarget(asked);
    if (target === undefined || !this.#allow.allows(target)) return false;

    const started = performance.now();
    const clientAddress = req.socket.remoteAddress ?? '?';
    const proxy = this.#options.through?.(target.host, target.port);
    const dial =
      proxy === undefined
        ? { host: target.host, port: target.port }
        : { host: proxy.url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(proxy.url.port || 80) };
    const upstream = connect({ ...dial, noDelay: true });
    const tunnel: Tunnel = { client, upstream };
    this.#open.add(tunnel);
    let established = false;
    let failure: HoardError | undefined;
    let closed = 0;

    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    const onClosed = () => {
      if (++closed < 2) return;
      this.#open.delete(tunnel);
      const durationMs = performance.now() - started;
      const bytesUp = upstream.bytesWritten;
      const bytesDown = upstream.bytesRead;
      if (established) {
        publishTunnel({ phase: 'close', client: clientAddress, target: asked, bytesUp, bytesDown, durationMs });
        publishRequest({
          client: clientAddress,
          method: 'CONNECT',
          target: asked,
          result: 'passthrough',
          status: 200,
          bytes: bytesDown,
          durationMs,
          upstream: asked,
        });
        return;
      }
      const error = failure ?? new HoardError('HOARD_ERR_CLIENT_GONE', `client left before ${asked} answered`);
      publishTunnel({
        phase: 'failed',
        client: clientAddress,
        target: asked,
        bytesUp: 0,
        bytesDown: 0,
        durationMs,
        errorCode: error.code,
        error: error.message,
      });
      publishRequest({
        client: clientAddress,
        method: 'CONNECT',
        target: asked,
        result: 'error',
        status: statusForCode[error.code],
        bytes: 0,
        durationMs,
        upstream: asked,
        errorCode: error.code,
      });
    };
    const failDial = (error: HoardError) => {
      if (failure !== undefined) return;
      failure = error;
      upstream.destroy();
      const status = statusForCode[error.code];
      const body = `${error.code}: ${error.message}\n`;
      // Wait for the answer to leave before closing: the client should see why, not just a reset.
      client.end(
        `HTTP/1.1 ${status} ${status === 504 ? 'Gateway Timeout' : 'Bad Gateway'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n${nosniffLine}X-Hoard-Error: ${error.code}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        () => client.destroy(),
      );
    };

    client.on('error', destroyBoth);
    client.once('close', () => {
      upstream.destroy();
      onClosed();
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (established) {
        destroyBoth();
        return;
      }
      if (proxy !== undefined)
        failDial(new HoardError('HOARD_ERR_UPSTREAM_PROXY', `proxy ${proxy.label} unreachable for a tunnel to ${asked}: ${err.message}`));
      else failDial(new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', `tunnel destination ${asked} unreachable: ${err.message}`));
    });
    upstream.once('close', onClosed);
    // Before the connection: the connect timeout; after it: the idle timeout (reset by traffic either way).
    upstream.setTimeout(this.#options.connectTimeoutMs, () => {
      if (established) destroyBoth();
      else failDial(new HoardError('HOARD_ERR_UPSTREAM_TIMEOUT', `tunnel destination ${asked} did not answer within ${this.#options.connectTimeoutMs} ms`));
    });
    const open = (early: Buffer) => {
      established = true;
      upstream.setTimeout(this.#options.idleTimeoutMs);
      // The client side is a net.Socket (or a TLS socket) handed over by node:http.
      (client as Socket).setTimeout(this.#options.idleTimeoutMs, destroyBoth);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      // Bytes the client sent right after its CONNECT head (often the TLS ClientHello) belong to the destination.
      if (head.length > 0) upstream.write(head);
      // Bytes the destination sent right behind the proxy's 200 (a server speaking first) belong to the client.
      if (early.length > 0) client.write(early);
      client.pipe(upstream);
      upstream.pipe(client);
      publishTunnel({ phase: 'open', client: clientAddress, target: asked, bytesUp: 0, bytesDown: 0, durationMs: performance.now() - started });
    };
    upstream.once('connect', () => {
      if (proxy === undefined) open(Buffer.alloc(0));
      else this.#viaProxy(upstream, proxy, target, asked, open, failDial);
    });
    return true;
  }

  /**
   * RFC 9110 9.3.6: asks the proxy for a tunnel to `target` on the connected `upstream`, reads its answer
   * (bounded), and opens the tunnel on 200; any other answer is HOARD_ERR_UPSTREAM_PROXY.
   */
  #viaProxy(
    upstream: Socket,
    proxy: { url: URL; label: string },
    target: ConnectTarget,
    asked: string,
    open: (early: Buffer) => void,
    failDial: (error: HoardError) => void,
  ): void {
    const authority = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    const { username, password } = proxy.url;
    const auth =
      username === '' && password === ''
        ? ''
        : `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(username)}:${decodeURIComponent(password)}`).toString('base64')}\r\n`;
    upstream.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        if (received.length > maxProxyHeadBytes)
          finish(new HoardError('HOARD_ERR_UPSTREAM_PROXY', `proxy ${proxy.label} sent an oversized answer to CONNECT ${asked}`));
        return;
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(received.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      if (status !== 200)
        finish(new HoardError('HOARD_ERR_UPSTREAM_PROXY', `proxy ${proxy.label} refused CONNECT to ${asked} with ${status || 'an unreadable answer'}`));
      else finish(undefined, received.subarray(end + 4));
    };
    const finish = (error: HoardError | undefined, early = Buffer.alloc(0)) => {
      upstream.off('data', onData);
      // Held until open() pipes it: nothing the destination sends next may be lost in between.
      upstream.pause();
      if (error !== undefined) failDial(error);
      else open(early);
    };
    upstream.on('data', onData);
  }

  /** Ends every tunnel (hoard is shutting down). */
  closeAll(): void {
    for (const { client, upstream } of this.#open) {
      client.destroy();
      upstream.destroy();
    }
  }
}
