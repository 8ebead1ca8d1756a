// The HTTPS port: TLS in front of the one HTTP server, so every route (apt, OCI, images, admin) answers on it too.
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer, type Server as TlsServer } from 'node:tls';

export interface HttpsListenerOptions {
  readonly certPem: string;
  readonly keyPem: string;
  /** A client that has not finished the handshake by then is dropped (a slowloris before any HTTP). */
  readonly handshakeTimeoutMs: number;
}

/**
 * A TLS server whose decrypted sockets go to `http` as if it had accepted them (node's documented way to hand
 * a server a connection): the same handler, timeouts, slow-client guards, CONNECT and error rendering, and
 * `server.close()` / `closeIdleConnections()` cover them too. Only HTTP/1.1 is offered (ALPN), as on the plain port.
 */
export function createHttpsListener(http: Server, options: HttpsListenerOptions): TlsServer {
  const tls = createServer(
    {
      cert: options.certPem,
      key: options.keyPem,
      ALPNProtocols: ['http/1.1'],
      minVersion: 'TLSv1.2',
      handshakeTimeout: options.handshakeTimeoutMs,
    },
    (socket) => {
      http.emit('connection', socket as Duplex);
    },
  );
  // A failed handshake (a client that does not trust the certificate, a port scan) ends that socket only.
  tls.on('tlsClientError', (_err: Error, socket: Duplex) => {
    socket.destroy();
  });
  return tls;
}
