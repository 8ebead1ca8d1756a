// A small token server for docker-registry's `auth.token`: checks basic credentials and signs real ES256 JWTs with a throwaway key.
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runChecked } from './command-runner.ts';
import { loopbackOnlyEnv } from './oci-registry.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export interface TokenUser {
  readonly password: string;
  /** Actions this user may be granted on any repository (`pull`, `push`). */
  readonly actions: readonly string[];
}

export interface TokenServerRecord {
  readonly scopes: readonly string[];
  readonly service: string | null;
  /** The user name of the basic credentials sent, if any. */
  readonly user: string | undefined;
  /** 200 (a token) or 401 (refused). */
  readonly status: number;
}

interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: string[];
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * Distribution's token authentication ("Docker Registry v2 authentication via central service"): the registry
 * answers 401 with `Bearer realm=<this>/token,service=...,scope=...`; this server grants the intersection of
 * the scope asked and what the user may do, as a JWT whose `x5c` header carries the signing certificate, which
 * the registry checks against its `rootcertbundle`, then the issuer, audience, expiry and access claims.
 */
export class RegistryTokenServer {
  readonly issuer = 'hoard-test-token-issuer';
  readonly service = 'hoard-test-registry';
  readonly requests: TokenServerRecord[] = [];
  /** Lifetime of the tokens issued next (seconds), sent as `expires_in` and as the JWT's `exp`. */
  expiresInSeconds = 300;
  /** The certificate the registry trusts (`auth.token.rootcertbundle`). */
  readonly certPath: string;
  url = '';
  readonly #dir: string;
  readonly #key: KeyObject;
  readonly #certDer: string;
  readonly #users: ReadonlyMap<string, TokenUser>;
  readonly #server: Server;

  private constructor(dir: string, key: KeyObject, certPem: string, users: ReadonlyMap<string, TokenUser>) {
    this.#dir = dir;
    this.certPath = join(dir, 'token-cert.pem');
    this.#key = key;
    this.#certDer = certPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    this.#users = users;
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(users: Readonly<Record<string, TokenUser>>): Promise<RegistryTokenServer> {
    const dir = await makeTempDir('registry-token');
    try {
      const keyPath = join(dir, 'token-key.pem');
      // A throwaway P-256 key and its self-signed certificate, valid for one day.
      await runChecked(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          keyPath,
          '-out',
          join(dir, 'token-cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=hoard-test-token-issuer',
        ],
        { env: loopbackOnlyEnv },
      );
      const key = createPrivateKey(await readFile(keyPath));
      const server = new RegistryTokenServer(dir, key, await readFile(join(dir, 'token-cert.pem'), 'utf8'), new Map(Object.entries(users)));
      server.#server.listen(0, '127.0.0.1');
      await once(server.#server, 'listening');
      server.url = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`;
      return server;
    } catch (err) {
      await removeDir(dir);
      throw err;
    }
  }

  /** The registry's `auth:` section (YAML, indented for the top level). */
  registryAuthConfig(): string {
    return `auth:
  token:
    realm: ${this.url}/token
    service: ${this.service}
    issuer: ${this.issuer}
    rootcertbundle: ${this.certPath}
`;
  }

  /** A token for `access`, signed with the trusted key, expiring `expiresIn` seconds from now (negative: already expired). */
  sign(subject: string, access: readonly Access[], expiresIn: number): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [this.#certDer] };
    const claims = {
      iss: this.issuer,
      sub: subject,
      aud: this.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    // JWS ES256 (RFC 7518 3.4): the signature is R || S, 32 bytes each, not DER.
    const signature = sign('sha256', Buffer.from(input), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${base64url(signature)}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
    await removeDir(this.#dir);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://token');
    if (url.pathname !== '/token' || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const service = url.searchParams.get('service');
    const credentials = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const decoded = credentials === undefined ? undefined : Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded?.indexOf(':') ?? -1;
    const userName = decoded === undefined || colon < 0 ? undefined : decoded.slice(0, colon);
    const user = userName === undefined ? undefined : this.#users.get(userName);
    if (user === undefined || decoded?.slice(colon + 1) !== user.password || service !== this.service) {
      this.requests.push({ scopes, service, user: userName, status: 401 });
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="hoard-test-token"' });
      res.end('{"details":"wrong user name, password or service"}');
      return;
    }
    // Scope grammar (distribution's token scope docs): `repository:<name>:<action>[,<action>]`; the name may hold colons (a port).
    const access: Access[] = [];
    for (const scope of scopes) {
      const match = /^(repository):(.+):([a-z*,]+)$/.exec(scope);
      if (match === null) continue;
      const actions = (match[3] ?? '').split(',').filter((a) => user.actions.includes(a));
      if (actions.length > 0) access.push({ type: match[1] ?? '', name: match[2] ?? '', actions });
    }
    this.requests.push({ scopes, service, user: userName, status: 200 });
    const token = this.sign(userName ?? '', access, this.expiresInSeconds);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: this.expiresInSeconds, issued_at: new Date().toISOString() }));
  }
}
