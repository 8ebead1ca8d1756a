// HttpFetcher through a real forward proxy on loopback: absolute-form http, CONNECT for https, noProxy, credentials, failures, the destination guard, the parent's absolute-form.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CountingForwardProxy } from '../../test/support/counting-forward-proxy.ts';
import { findFreePort } from '../../test/support/hoard-process.ts';
import { ThrowawayCa } from '../../test/support/throwaway-ca.ts';
import { isHoardError } from '../errors.ts';
import { DestinationGuard } from './destination-guard.ts';
import { HttpFetcher, type HttpFetcherOptions } from './http-fetcher.ts';
import { OutboundRoutes, outboundSettings } from './outbound-routes.ts';

const base: HttpFetcherOptions = { connectTimeoutMs: 2000, idleTimeoutMs: 5000, via: '1.1 hoard-test', userAgent: 'hoard-test' };

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function text(fetcher: HttpFetcher, url: string, via?: string): Promise<{ status: number; body: string }> {
  const response = await fetcher.fetch(new URL(url), { method: 'GET', via });
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return { status: response.status, body: Buffer.concat(chunks).toString() };
}

void describe('HttpFetcher with an outbound proxy', () => {
  let proxy: CountingForwardProxy;
  let origin: Server;
  let tlsOrigin: Server;
  let port: number;
  let tlsPort: number;
  let ca: ThrowawayCa;
  const seen: IncomingMessage[] = [];

  before(async () => {
    ca = await ThrowawayCa.create('outbound-proxy');
    const cert = await ca.issueServerCertificate();
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      seen.push(req);
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    };
    origin = createServer(handler);
    port = await listen(origin);
    tlsOrigin = createHttpsServer({ key: cert.keyPem, cert: cert.certPem }, handler);
    tlsPort = await listen(tlsOrigin);
    proxy = await CountingForwardProxy.start();
  });
  after(async () => {
    await proxy.close();
    origin.close();
    tlsOrigin.close();
    await ca.cleanup();
  });

  const through = (config: Parameters<typeof outboundSettings>[0], more: Partial<HttpFetcherOptions> = {}) =>
    new HttpFetcher({ ...base, ca: [ca.certPem], outbound: new OutboundRoutes(outboundSettings(config, {})), ...more });

  it('sends http in absolute-form and https through CONNECT, with TLS checked end to end, and appends to the Via chain', async () => {
    const fetcher = through({ proxy: proxy.url() });
    const before = { requests: proxy.requests.length, connects: proxy.connects.length };
    assert.deepEqual(await text(fetcher, `http://127.0.0.1:${port}/a`, '1.1 hoard-site'), { status: 200, body: 'ok' });
    assert.deepEqual(await text(fetcher, `https://127.0.0.1:${tlsPort}/b`), { status: 200, body: 'ok' });
    await fetcher.close();
    assert.equal(proxy.requests.length, before.requests + 1);
    assert.equal(proxy.requests.at(-1)?.target, `http://127.0.0.1:${port}/a`);
    assert.equal(proxy.requests.at(-1)?.headers.via, '1.1 hoard-site, 1.1 hoard-test');
    assert.equal(proxy.connects.length, before.connects + 1);
    assert.equal(proxy.connects.at(-1)?.target, `127.0.0.1:${tlsPort}`);
    assert.equal(seen.at(-1)?.url, '/b');
  });

  it('goes direct for noProxy hosts: the proxy sees nothing', async () => {
    const fetcher = through({ proxy: proxy.url(), noProxy: [`127.0.0.1:${port}`] });
    const total = proxy.total;
    assert.equal((await text(fetcher, `http://127.0.0.1:${port}/direct`)).status, 200);
    assert.equal(proxy.total, total);
    // The other port is not covered: through the proxy.
    assert.equal((await text(fetcher, `https://127.0.0.1:${tlsPort}/proxied`)).status, 200);
    assert.equal(proxy.total, total + 1);
    await fetcher.close();
  });

  it('sends the URL credentials as Proxy-Authorization to the proxy only; wrong ones are HOARD_ERR_UPSTREAM_PROXY without the password', async () => {
    const guarded = await CountingForwardProxy.start({ credentials: { user: 'lab', password: 'pa ss' } });
    try {
      const good = through({ proxy: guarded.url({ user: 'lab', password: 'pa ss' }) });
      assert.equal((await text(good, `http://127.0.0.1:${port}/auth`)).status, 200);
      assert.equal((await text(good, `https://127.0.0.1:${tlsPort}/auth`)).status, 200);
      assert.equal(guarded.authFailures, 0);
      assert.equal(seen.at(-2)?.headers['proxy-authorization'], undefined, 'the origin never sees the proxy credentials');
      await good.close();
      const bad = through({ proxy: guarded.url({ user: 'lab', password: 'wrong-secret' }) });
      for (const url of [`http://127.0.0.1:${port}/x`, `https://127.0.0.1:${tlsPort}/x`]) {
        await assert.rejects(
          bad.fetch(new URL(url), { method: 'GET' }),
          (err: unknown) => isHoardError(err, 'HOARD_ERR_UPSTREAM_PROXY') && !`${err.message} ${err.detail}`.includes('wrong-secret'),
          url,
        );
      }
      await bad.close();
    } finally {
      await guarded.close();
    }
  });

  it('a proxy that is down or refuses CONNECT is HOARD_ERR_UPSTREAM_PROXY, naming the proxy', async () => {
    const closed = await findFreePort();
    const down = through({ proxy: `http://127.0.0.1:${closed}` });
    for (const url of [`http://127.0.0.1:${port}/x`, `https://127.0.0.1:${tlsPort}/x`]) {
      await assert.rejects(down.fetch(new URL(url), { method: 'GET' }), (err: unknown) => {
        assert.ok(isHoardError(err, 'HOARD_ERR_UPSTREAM_PROXY'), String(err));
        assert.match(err.message, new RegExp(`proxy http://127\\.0\\.0\\.1:${closed} unreachable \\(ECONNREFUSED\\)`));
        return true;
      });
    }
    await down.close();
    proxy.refuse();
    try {
      const refused = through({ proxy: proxy.url() });
      await assert.rejects(refused.fetch(new URL(`https://127.0.0.1:${tlsPort}/x`), { method: 'GET' }), (err: unknown) => {
        assert.ok(isHoardError(err, 'HOARD_ERR_UPSTREAM_PROXY'), String(err));
        assert.match(err.message, /refused CONNECT to https:\/\/127\.0\.0\.1:\d+ with 403/);
        return true;
      });
      await refused.close();
    } finally {
      proxy.accept();
    }
  });

  it('the denied networks apply to the destination, not to the proxy on loopback', async () => {
    const answers: Record<string, string> = { 'inside.example': '10.0.0.5', 'metadata.example': '169.254.169.254' };
    const resolve = ((host: string, _options: unknown, callback: (err: Error | null, addresses: { address: string; family: number }[]) => void) => {
      const address = answers[host];
      if (address === undefined) callback(Object.assign(new Error(`not found ${host}`), { code: 'ENOTFOUND' }), []);
      else callback(null, [{ address, family: 4 }]);
    }) as unknown as LookupFunction;
    const destinations = new DestinationGuard({ denied: ['127.0.0.0/8', '169.254.0.0/16'], exemptHosts: [], resolve });
    const fetcher = through({ proxy: proxy.url() }, { destinations });
    const total = proxy.total;
    await assert.rejects(fetcher.fetch(new URL(`http://127.0.0.1:${port}/x`), { method: 'GET' }), (err: unknown) =>
      isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED'),
    );
    await assert.rejects(fetcher.fetch(new URL('https://metadata.example/x'), { method: 'GET' }), (err: unknown) =>
      isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED'),
    );
    assert.equal(proxy.total, total, 'a denied destination never reaches the proxy');
    // Allowed, and a name only the proxy could resolve: both handed to the proxy (which answers 502, it knows neither).
    assert.equal((await text(fetcher, 'http://inside.example/x')).status, 502);
    assert.equal((await text(fetcher, 'http://only-the-proxy-knows.example/x')).status, 502);
    assert.equal(proxy.total, total + 2);
    await fetcher.close();
  });

  it('a parent gets every target in absolute-form, https:// included, with the target host', async () => {
    const parentSeen: IncomingMessage[] = [];
    const parent = createServer((req, res) => {
      parentSeen.push(req);
      res.writeHead(200, { 'content-length': '6' });
      res.end('parent');
    });
    const parentPort = await listen(parent);
    const fetcher = through({ parent: `http://127.0.0.1:${parentPort}` });
    assert.deepEqual(await text(fetcher, 'https://images.example/v2/x/manifests/1', '1.1 hoard-a'), { status: 200, body: 'parent' });
    assert.equal((await text(fetcher, 'http://deb.example/debian/dists/stable/InRelease')).body, 'parent');
    await fetcher.close();
    parent.close();
    assert.equal(parentSeen[0]?.url, 'https://images.example/v2/x/manifests/1');
    assert.equal(parentSeen[0]?.headers.host, 'images.example');
    assert.equal(parentSeen[0]?.headers.via, '1.1 hoard-a, 1.1 hoard-test');
    assert.equal(parentSeen[1]?.url, 'http://deb.example/debian/dists/stable/InRelease');
  });
});
