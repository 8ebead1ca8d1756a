// A small HTTP forward proxy on loopback that counts what passes through it (requests, CONNECTs, bytes) and can be made to refuse.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface CountingForwardProxyOptions {
  /** Source address of the proxy's own connections onward (e.g. 127.0.0.3), so a SourceGate can let only the proxy in. */
  readonly localAddress?: string;
  /** Demands `Proxy-Authorization: Basic` with these credentials; anything else gets 407. */
  readonly credentials?: { readonly user: string; readonly password: string };
}

export interface ProxiedRequest {
  readonly method: string;
  /** The absolute-form target as received. */
  readonly target: string;
  /** Headers as received (the Proxy-Authorization included: tests check what reached the proxy). */
  readonly headers: IncomingMessage['headers'];
}

/**
 * Absolute-form requests (`GET http://host:port/path`) are forwarded with node:http, the answer streamed
 * back; `CONNECT host:port` opens a TCP tunnel. Everything is counted; `refuse()` makes it answer 403 to
 * both until `accept()`. Listens on 127.0.0.1, a free port.
 */
export class CountingForwardProxy {
  readonly requests: ProxiedRequest[] = [];
  readonly connects: ProxiedRequest[] = [];
  /** Bytes sent back to clients (response bodies and tunnelled bytes towards the client). */
  bytesDown = 0;
  /** Answers refused for missing or wrong credentials. */
  authFailures = 0;
  readonly #server: Server;
  readonly #options: CountingForwardProxyOptions;
  readonly #sockets = new Set<Duplex>();
  #refusing = false;
  readonly port: number;

  private constructor(server: Server, port: number, options: CountingForwardProxyOptions) {
    this.#server = server;
    this.port = port;
    this.#options = options;
  }

  static async start(options: CountingForwardProxyOptions = {}): Promise<CountingForwardProxy> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new CountingForwardProxy(server, (server.address() as AddressInfo).port, options);
    server.on('connection', (socket: Socket) => proxy.#track(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => proxy.#forward(req, res));
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => proxy.#tunnel(req, socket, head));
    return proxy;
  }

  /** `http://127.0.0.1:PORT`, with `user:password@` when given. */
  url(credentials?: { user: string; password: string }): string {
    const auth = credentials === undefined ? '' : `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@`;
    return `http://${auth}127.0.0.1:${this.port}`;
  }

  /** Requests and CONNECTs so far. */
  get total(): number {
    return this.requests.length + this.connects.length;
  }

  refuse(): void {
    this.#refusing = true;
  }

  accept(): void {
    this.#refusing = false;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  /** undefined when the request may pass, else the status to answer. */
  #gate(req: IncomingMessage): number | undefined {
    if (this.#refusing) return 403;
    const wanted = this.#options.credentials;
    if (wanted === undefined) return undefined;
    const expected = `Basic ${Buffer.from(`${wanted.user}:${wanted.password}`).toString('base64')}`;
    if (req.headers['proxy-authorization'] === expected) return undefined;
    this.authFailures++;
    return 407;
  }

  #forward(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '';
    this.requests.push({ method: req.method ?? '', target, headers: req.headers });
    const refused = this.#gate(req);
    const url = URL.parse(target);
    if (refused !== undefined || url === null || url.protocol !== 'http:') {
      const status = refused ?? 400;
      res.writeHead(status, status === 407 ? { 'proxy-authenticate': 'Basic realm="test proxy"' } : {});
      res.end(`counting proxy: ${status}\n`);
      return;
    }
    const { 'proxy-authorization': _auth, 'proxy-connection': _pc, ...headers } = req.headers;
    const onward = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: req.method,
        headers,
        localAddress: this.#options.localAddress,
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => (this.bytesDown += chunk.length));
        answer.pipe(res);
      },
    );
    onward.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end('counting proxy: upstream unreachable\n');
      else res.destroy();
    });
    req.pipe(onward);
  }

  #tunnel(req: IncomingMessage, client: Duplex, head: Buffer): void {
    this.connects.push({ method: 'CONNECT', target: req.url ?? '', headers: req.headers });
    const refused = this.#gate(req);
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(req.url ?? '');
    if (refused !== undefined || m === null) {
      const status = refused ?? 400;
      client.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\n${status === 407 ? 'Proxy-Authenticate: Basic realm="test proxy"\r\n' : ''}\r\n`);
      return;
    }
    const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
    const upstream = connect({ host, port: Number(m[2]), localAddress: this.#options.localAddress });
    this.#track(upstream);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.on('data', (chunk: Buffer) => (this.bytesDown += chunk.length));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', () => {
      if (upstream.readyState === 'opening') client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      else client.destroy();
    });
    client.on('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
  }
}

/**
 * A loopback firewall: forwards TCP connections to `target` only when they come from `allowedSource`
 * (the proxy's localAddress); any other connection is reset at once. Put it in front of a test upstream
 * to make the proxy the only way there.
 */
export class SourceGate {
  readonly #server: TcpServer;
  readonly #sockets: Set<Socket>;
  readonly #counts: { passed: number; refused: number };
  readonly port: number;

  private constructor(server: TcpServer, port: number, sockets: Set<Socket>, counts: { passed: number; refused: number }) {
    this.#server = server;
    this.port = port;
    this.#sockets = sockets;
    this.#counts = counts;
  }

  /** Connections let through. */
  get passed(): number {
    return this.#counts.passed;
  }

  /** Connections reset: they did not come from the allowed source. */
  get refused(): number {
    return this.#counts.refused;
  }

  static async start(target: { host: string; port: number }, allowedSource: string, listenHost = '127.0.0.1'): Promise<SourceGate> {
    const sockets = new Set<Socket>();
    const counts = { passed: 0, refused: 0 };
    const track = (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    };
    const server = createTcpServer((socket) => {
      track(socket);
      if (socket.remoteAddress !== allowedSource && socket.remoteAddress !== `::ffff:${allowedSource}`) {
        counts.refused++;
        socket.resetAndDestroy();
        return;
      }
      counts.passed++;
      const onward = connect(target);
      track(onward);
      socket.pipe(onward).pipe(socket);
      socket.on('error', () => onward.destroy());
      onward.on('error', () => socket.destroy());
      socket.once('close', () => onward.destroy());
      onward.once('close', () => socket.destroy());
    });
    server.listen(0, listenHost);
    await once(server, 'listening');
    return new SourceGate(server, (server.address() as AddressInfo).port, sockets, counts);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }
}
