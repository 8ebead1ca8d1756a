// The answers node's HTTP parser leaves to the server: a request that does not parse, and an Expect it cannot meet.
// The main thread's listener and the serving threads' answer them the same way, from here.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ResponseOrder } from './response-order.ts';
import { nosniffHeaders, nosniffLine } from './security-headers.ts';

export function answerRawRefusals(server: Server, order: ResponseOrder): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || (err.code !== undefined && ['ECONNRESET', 'EPIPE'].includes(err.code))) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    // RFC 9112 9.3.2: a request that parsed before this one is answered first; the refusal follows it.
    order.afterPending(socket, () => {
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n${nosniffLine}Content-Length: ${text.length + 1}\r\n\r\n${text}\n`,
      );
    });
  });

  // An Expect other than 100-continue: node would answer a bare 417 itself.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(417, { ...nosniffHeaders, 'content-length': 0 });
    res.end();
  });
}
