// A TLS front on loopback that forwards every connection to a plain TCP port (an https URL for clients that take nothing else).
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createServer, type Server } from 'node:tls';

export class TlsForwarder {
  readonly port: number;
  /** `https://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  readonly #server: Server;
  /** Both ends of every open connection, destroyed on close. */
  readonly #sockets: Set<Socket>;

  private constructor(server: Server, port: number, sockets: Set<Socket>) {
    this.#server = server;
    this.#sockets = sockets;
    this.port = port;
    this.url = `https://127.0.0.1:${port}`;
  }

  /** Terminates TLS with `key`/`cert` (PEM) and pipes the plain bytes to 127.0.0.1:`targetPort`. */
  static async start(options: { readonly key: string; readonly cert: string; readonly targetPort: number }): Promise<TlsForwarder> {
    const sockets = new Set<Socket>();
    const server = createServer({ key: options.key, cert: options.cert }, (client) => {
      const upstream = connect(options.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new TlsForwarder(server, (server.address() as AddressInfo).port, sockets);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
