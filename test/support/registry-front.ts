// A scripted front for a registry on loopback: counts what reaches it, can corrupt blobs, and can demand Bearer tokens it issues itself.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FrontRecord {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

export interface TokenRecord {
  readonly scope: string | null;
  readonly service: string | null;
  readonly authorization: string | undefined;
}

export interface FrontOptions {
  /**
   * Blob GETs are answered with a 307 to this base (another origin: object storage), at
   * `/bucket/<repo>/<digest>/data?X-Signature=...`; a front started with `storage: true` serves that shape.
   */
  readonly blobRedirect?: string | undefined;
  /** Serves `/bucket/<repo>/<digest>/data` from the registry's blob of that repository. */
  readonly storage?: boolean | undefined;
  /** Demand `Authorization: Bearer <token>` issued by this front's /token for the repository's scope. */
  readonly bearer?: { readonly username: string; readonly password: string } | undefined;
}

export class RegistryFront {
  readonly requests: Array<FrontRecord & { readonly query: string }> = [];
  readonly tokenRequests: TokenRecord[] = [];
  /** Answers instead of the registry while set: a status with headers, or 'down' (the connection is dropped). */
  override: ((path: string) => { status: number; headers?: Record<string, string> } | 'down' | undefined) | undefined;
  /** Digests whose blob bodies get one byte changed on the way (same length). */
  readonly corrupt = new Set<string>();
  /** token -> scope it grants. */
  readonly #tokens = new Map<string, string>();
  readonly #server: Server;
  readonly #target: URL;
  readonly #options: FrontOptions;
  #issued = 0;
  url = '';

  private constructor(target: URL, options: FrontOptions) {
    this.#target = target;
    this.#options = options;
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(target: string, options: FrontOptions = {}): Promise<RegistryFront> {
    const front = new RegistryFront(new URL(target), options);
    front.#server.listen(0, '127.0.0.1');
    await once(front.#server, 'listening');
    front.url = `http://127.0.0.1:${(front.#server.address() as AddressInfo).port}`;
    return front;
  }

  /** Every issued token stops working: the next request with one gets a 401. */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** Requests for blobs and manifests by digest (what a warm mirror must never ask again). */
  byDigest(): FrontRecord[] {
    return this.requests.filter((r) => /\/(blobs|manifests)\/sha(256|512):/.test(r.path));
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://front');
    if (url.pathname === '/token') {
      this.#issueToken(req, res, url);
      return;
    }
    this.requests.push({ method: req.method ?? '?', path: url.pathname, authorization: req.headers.authorization, query: url.search });
    const override = this.override?.(url.pathname);
    if (override === 'down') {
      req.socket.destroy();
      return;
    }
    if (override !== undefined) {
      res.writeHead(override.status, { 'content-type': 'application/json', ...override.headers });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"scripted"}]}');
      return;
    }
    const bearer = this.#options.bearer;
    if (bearer !== undefined) {
      const repo = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      const scope = repo === undefined ? undefined : `repository:${repo}:pull`;
      const token = req.headers.authorization?.startsWith('Bearer ') === true ? req.headers.authorization.slice(7) : undefined;
      if (token === undefined || this.#tokens.get(token) !== scope) {
        res.writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': `Bearer realm="${this.url}/token",service="front",scope="${scope ?? ''}"`,
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    // distribution 2.8 ignores `n` and `last` on tag lists; newer registries page them: the front does it as they do.
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (tags !== null && url.searchParams.has('n') && req.method === 'GET') {
      void this.#tagPage(res, tags[1] ?? '', Number(url.searchParams.get('n')), url.searchParams.get('last'));
      return;
    }
    const redirect = this.#options.blobRedirect;
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (redirect !== undefined && blob !== null && req.method === 'GET') {
      res.writeHead(307, { location: `${redirect}/bucket/${blob[1] ?? ''}/${blob[2] ?? ''}/data?X-Signature=s1gn3d&expires=1` });
      res.end();
      return;
    }
    let path = req.url ?? '/';
    const stored = /^\/bucket\/(.+)\/(sha256:[a-f0-9]{64})\/data$/.exec(url.pathname);
    if (this.#options.storage === true) {
      if (stored === null) {
        res.writeHead(404);
        res.end();
        return;
      }
      path = `/v2/${stored[1] ?? ''}/blobs/${stored[2] ?? ''}`;
    }
    const headers = { ...req.headers, host: this.#target.host };
    delete headers.authorization;
    const upstream = request({ host: this.#target.hostname, port: this.#target.port, method: req.method, path, headers }, (answer) => {
      const digest = /\/blobs\/(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.exec(url.pathname)?.[1];
      if (digest === undefined || !this.corrupt.has(digest) || answer.statusCode !== 200 || req.method !== 'GET') {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const body = Buffer.concat(chunks);
        const at = Math.floor(body.length / 2);
        body[at] = (body[at] ?? 0) ^ 0xff;
        res.writeHead(200, answer.headers);
        res.end(body);
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }

  /** A page of the registry's tag list, sorted, after `last`, with a `Link` to the next page when there is more. */
  async #tagPage(res: ServerResponse, name: string, n: number, last: string | null): Promise<void> {
    try {
      const whole = await fetch(new URL(`/v2/${name}/tags/list`, this.#target));
      if (whole.status !== 200) {
        res.writeHead(whole.status, { 'content-type': 'application/json' }).end(await whole.text());
        return;
      }
      const all = ((await whole.json()) as { tags: string[] }).tags.sort().filter((t) => last === null || t > last);
      const page = all.slice(0, n);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (all.length > n) headers.link = `</v2/${name}/tags/list?last=${page.at(-1) ?? ''}&n=${n}>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ name, tags: page }));
    } catch {
      res.destroy();
    }
  }

  #issueToken(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const scope = url.searchParams.get('scope');
    this.tokenRequests.push({ scope, service: url.searchParams.get('service'), authorization: req.headers.authorization });
    const bearer = this.#options.bearer;
    const expected = bearer === undefined ? undefined : `Basic ${Buffer.from(`${bearer.username}:${bearer.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected || scope === null) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"details":"bad credentials"}');
      return;
    }
    this.#issued += 1;
    const token = `front-token-${this.#issued}`;
    this.#tokens.set(token, scope);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300 }));
  }
}
