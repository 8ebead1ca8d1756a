// The Fetcher/Upstream contract suite: every implementation runs it from its own test file, against real loopback servers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { HoardError, isHoardError, type ErrorCode } from '../errors.ts';
import type { FetchInit, UpstreamResponse } from './fetcher.ts';

/** What an implementation under test offers the suite: one exchange with `path` on the server at `origin`. */
export interface UpstreamSubject {
  fetch(origin: URL, path: string, init: FetchInit): Promise<UpstreamResponse>;
  close?(): Promise<void>;
}

/** `ca`: the PEM of the CA that signed the suite's https server, to be trusted by the subject. */
export type MakeSubject = (trust: { ca: string }) => UpstreamSubject;

/**
 * A server certificate for 127.0.0.1 and the CA that signed it. Given by the test file (which may use
 * test/support), since this file is compiled with src/ and so imports nothing from test/.
 */
export interface ContractCertificates {
  keyPem: string;
  certPem: string;
  caPem: string;
  cleanup(): Promise<void>;
}

/** A loopback server with a fixed set of routes, counting what it was asked. */
class ContractServer {
  readonly hits = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  #release: (() => void) | undefined;
  origin = new URL('http://127.0.0.1');

  readonly server: Server;

  constructor(server: Server, routes: (server: ContractServer, req: IncomingMessage, res: ServerResponse) => void) {
    this.server = server;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      routes(this, req, res);
    });
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  async listen(host: string, scheme: 'http' | 'https'): Promise<this> {
    this.server.listen(0, host);
    await once(this.server, 'listening');
    this.origin = new URL(`${scheme}://${host}:${(this.server.address() as AddressInfo).port}`);
    return this;
  }

  /** A promise the `/held` route waits on before the rest of its body; bounded so a failing test cannot hang. */
  held(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      this.#release = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  release(): void {
    this.#release?.();
  }

  async close(): Promise<void> {
    this.release();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function routes(other: () => URL, plain: () => URL) {
  return (server: ContractServer, req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status) {
      res.writeHead(Number(status[1]), { 'content-type': 'text/plain' });
      res.end(`status ${status[1]}\n`);
      return;
    }
    switch (url.pathname) {
      case '/ok':
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Mixed-Case': 'Yes', 'Content-Length': '6' });
        res.end('hello\n');
        return;
      case '/held': {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write('first-chunk;');
        void server.held().then(() => res.end('rest'));
        return;
      }
      case '/cut':
        res.writeHead(200, { 'content-length': '1000' });
        res.write(Buffer.alloc(100, 1), () => res.socket?.destroy());
        return;
      case '/echo': {
        const body = JSON.stringify({ url: req.url, headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      case '/to-same':
        res.writeHead(302, { location: '/echo?from=same' });
        res.end();
        return;
      case '/to-other':
        res.writeHead(307, { location: new URL('/echo?from=other', other()).href });
        res.end();
        return;
      case '/to-http':
        res.writeHead(301, { location: new URL('/ok', plain()).href });
        res.end();
        return;
      default:
        res.writeHead(404);
        res.end();
    }
  };
}

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

function hasCode(code: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => isHoardError(err, code);
}

const credentials = { authorization: 'Bearer secret-token', cookie: 'session=secret', 'proxy-authorization': 'Basic c2VjcmV0', 'x-other': 'kept' };

export function upstreamContract(name: string, make: MakeSubject, certificates: () => Promise<ContractCertificates>): void {
  void describe(`Upstream contract: ${name}`, () => {
    let tls: ContractCertificates;
    let plain: ContractServer;
    let other: ContractServer;
    let secure: ContractServer;
    let subject: UpstreamSubject;
    const get: FetchInit = { method: 'GET' };

    before(async () => {
      tls = await certificates();
      const route = routes(
        () => other.origin,
        () => plain.origin,
      );
      plain = await new ContractServer(createServer(), route).listen('127.0.0.1', 'http');
      // Another origin: another loopback address, so a host-keyed rule cannot mistake it for the first.
      other = await new ContractServer(createServer(), route).listen('127.0.0.2', 'http');
      secure = await new ContractServer(createHttpsServer({ key: tls.keyPem, cert: tls.certPem }), route).listen('127.0.0.1', 'https');
      subject = make({ ca: tls.caPem });
    });
    after(async () => {
      await subject?.close?.();
      await Promise.all([plain?.close(), other?.close(), secure?.close()]);
      await tls?.cleanup();
    });

    void it('passes the status through, with lower-case header names and the URL that answered', async () => {
      const ok = await subject.fetch(plain.origin, '/ok', get);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['x-mixed-case'], 'Yes');
      assert.equal(ok.headers['content-length'], '6');
      assert.deepEqual(
        Object.keys(ok.headers).filter((h) => h !== h.toLowerCase()),
        [],
      );
      assert.equal(ok.url.href, new URL('/ok', plain.origin).href);
      assert.equal(await text(ok.body), 'hello\n');
      for (const status of [404, 503]) {
        const response = await subject.fetch(plain.origin, `/status/${status}`, get);
        assert.equal(response.status, status);
        response.body.destroy();
      }
    });

    void it('streams the body: the response and its first bytes arrive before the upstream has sent the rest', async () => {
      const response = await subject.fetch(plain.origin, '/held', get);
      assert.equal(response.status, 200);
      const iterator = (response.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      const first = await iterator.next();
      assert.equal(Buffer.from(first.value as Uint8Array).toString(), 'first-chunk;');
      plain.release();
      let rest = '';
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) rest += Buffer.from(next.value).toString();
      assert.equal(rest, 'rest');
    });

    void it('a body cut mid-way errors with HOARD_ERR_UPSTREAM_TRUNCATED, a HoardError', async () => {
      const response = await subject.fetch(plain.origin, '/cut', get);
      assert.equal(response.status, 200);
      await assert.rejects(text(response.body), hasCode('HOARD_ERR_UPSTREAM_TRUNCATED'));
    });

    void it('an upstream nobody listens on is HOARD_ERR_UPSTREAM_UNREACHABLE', async () => {
      const closed = new ContractServer(createServer(), () => undefined);
      await closed.listen('127.0.0.1', 'http');
      const origin = closed.origin;
      await closed.close();
      await assert.rejects(subject.fetch(origin, '/ok', get), hasCode('HOARD_ERR_UPSTREAM_UNREACHABLE'));
    });

    void it('follows a redirect on the same origin, keeps credentials and the query, and reports the final URL', async () => {
      const response = await subject.fetch(plain.origin, '/to-same', { method: 'GET', headers: credentials });
      assert.equal(response.status, 200);
      assert.equal(response.url.href, new URL('/echo?from=same', plain.origin).href);
      const echo = JSON.parse(await text(response.body)) as { url: string; headers: Record<string, string> };
      assert.equal(echo.url, '/echo?from=same');
      assert.equal(echo.headers.authorization, credentials.authorization);
      assert.equal(echo.headers.cookie, credentials.cookie);
      assert.equal(echo.headers['proxy-authorization'], credentials['proxy-authorization']);
    });

    // RFC 9110 15.4: no Authorization, Cookie or Proxy-Authorization along a redirect to another origin.
    void it('a redirect to another origin carries no credentials', async () => {
      const response = await subject.fetch(plain.origin, '/to-other', { method: 'GET', headers: credentials });
      assert.equal(response.status, 200);
      assert.equal(response.url.origin, other.origin.origin);
      const echo = JSON.parse(await text(response.body)) as { headers: Record<string, string> };
      assert.equal(echo.headers.authorization, undefined);
      assert.equal(echo.headers.cookie, undefined);
      assert.equal(echo.headers['proxy-authorization'], undefined);
      assert.equal(echo.headers['x-other'], 'kept');
    });

    void it('never follows https down to http', async () => {
      const before = plain.hits.get('/ok') ?? 0;
      await assert.rejects(subject.fetch(secure.origin, '/to-http', get), hasCode('HOARD_ERR_REDIRECT_REFUSED'));
      assert.equal(plain.hits.get('/ok') ?? 0, before, 'the http target was never asked');
    });

    void it('asks the redirect guard about each hop; a refused hop is never requested', async () => {
      const seen: string[] = [];
      const redirectGuard = (next: URL, from: URL): URL => {
        seen.push(`${from.pathname} -> ${next.pathname}`);
        throw new HoardError('HOARD_ERR_REDIRECT_REFUSED', 'refused by the test guard');
      };
      const before = other.hits.get('/echo') ?? 0;
      await assert.rejects(subject.fetch(plain.origin, '/to-other', { method: 'GET', redirectGuard }), hasCode('HOARD_ERR_REDIRECT_REFUSED'));
      assert.deepEqual(seen, ['/to-other -> /echo']);
      assert.equal(other.hits.get('/echo') ?? 0, before);
    });
  });
}
