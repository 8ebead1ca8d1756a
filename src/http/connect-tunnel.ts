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
}

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
    const upstream = connect({ host: target.host, port: target.port, noDelay: true });
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
      failDial(new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', `tunnel destination ${asked} unreachable: ${err.message}`));
    });
    upstream.once('close', onClosed);
    // Before the connection: the connect timeout; after it: the idle timeout (reset by traffic either way).
    upstream.setTimeout(this.#options.connectTimeoutMs, () => {
      if (established) destroyBoth();
      else failDial(new HoardError('HOARD_ERR_UPSTREAM_TIMEOUT', `tunnel destination ${asked} did not answer within ${this.#options.connectTimeoutMs} ms`));
    });
    upstream.once('connect', () => {
      established = true;
      upstream.setTimeout(this.#options.idleTimeoutMs);
      // The client side is a net.Socket (or a TLS socket) handed over by node:http.
      (client as Socket).setTimeout(this.#options.idleTimeoutMs, destroyBoth);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      // Bytes the client sent right after its CONNECT head (often the TLS ClientHello) belong to the destination.
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      publishTunnel({ phase: 'open', client: clientAddress, target: asked, bytesUp: 0, bytesDown: 0, durationMs: performance.now() - started });
    });
    return true;
  }

  /** Ends every tunnel (hoard is shutting down). */
  closeAll(): void {
    for (const { client, upstream } of this.#open) {
      client.destroy();
      upstream.destroy();
    }
  }
}
