// Tests of HttpFetcher: the Upstream contract, plus what only the fetcher does (denied destinations, timeouts, hop limits).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isHoardError, type ErrorCode } from '../errors.ts';
import { DestinationGuard } from './destination-guard.ts';
import { HttpFetcher, type HttpFetcherOptions } from './http-fetcher.ts';
import { ThrowawayCa } from '../../test/support/throwaway-ca.ts';
import { type ContractCertificates, upstreamContract } from './upstream.contract.ts';

const base: HttpFetcherOptions = { connectTimeoutMs: 2000, idleTimeoutMs: 2000, via: '1.1 hoard-test', userAgent: 'hoard-test' };

/** A throwaway CA and a certificate it signed for the contract's https server. */
async function certificates(): Promise<ContractCertificates> {
  const ca = await ThrowawayCa.create('upstream-contract');
  const cert = await ca.issueServerCertificate();
  return { ...cert, caPem: ca.certPem, cleanup: () => ca.cleanup() };
}

upstreamContract(
  'HttpFetcher',
  ({ ca }) => {
    const fetcher = new HttpFetcher({ ...base, ca: [ca] });
    return { fetch: (origin, path, init) => fetcher.fetch(new URL(path, origin), init), close: () => fetcher.close() };
  },
  certificates,
);

function hasCode(code: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => isHoardError(err, code);
}

void describe('HttpFetcher', () => {
  let server: Server;
  let origin: URL;
  const hits: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/stall') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('x');
        return;
      }
      if (req.url?.startsWith('/loop')) {
        res.writeHead(302, { location: `/loop${hits.length}` });
        res.end();
        return;
      }
      if (req.url === '/to-loopback-name') {
        res.writeHead(302, { location: `http://localhost:${(server.address() as AddressInfo).port}/ok` });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  void it('a body that stalls past idleTimeoutMs errors with HOARD_ERR_UPSTREAM_TIMEOUT', async () => {
    const fetcher = new HttpFetcher({ ...base, idleTimeoutMs: 200 });
    try {
      const response = await fetcher.fetch(new URL('/stall', origin), { method: 'GET' });
      await assert.rejects(async () => {
        for await (const _chunk of response.body) void _chunk;
      }, hasCode('HOARD_ERR_UPSTREAM_TIMEOUT'));
    } finally {
      await fetcher.close();
    }
  });

  void it('gives up after five redirects', async () => {
    const fetcher = new HttpFetcher(base);
    try {
      hits.length = 0;
      await assert.rejects(fetcher.fetch(new URL('/loop', origin), { method: 'GET' }), hasCode('HOARD_ERR_UPSTREAM_STATUS'));
      assert.equal(hits.length, 6);
    } finally {
      await fetcher.close();
    }
  });

  void it('with a destination guard, refuses a denied IP literal (403 code) and a name resolving into a denied network', async () => {
    const destinations = new DestinationGuard({ denied: ['127.0.0.0/8', '::1/128'], exemptHosts: [] });
    const fetcher = new HttpFetcher({ ...base, destinations });
    try {
      hits.length = 0;
      await assert.rejects(fetcher.fetch(new URL('/ok', origin), { method: 'GET' }), hasCode('HOARD_ERR_UPSTREAM_DENIED'));
      await assert.rejects(fetcher.fetch(new URL(`http://localhost:${origin.port}/ok`), { method: 'GET' }), hasCode('HOARD_ERR_UPSTREAM_DENIED'));
      assert.deepEqual(hits, [], 'no connection reached the server');
    } finally {
      await fetcher.close();
    }
  });

  void it('a redirect hop into a denied network is HOARD_ERR_REDIRECT_REFUSED and never sent', async () => {
    // The first host is exempt (listed in allowedHosts); its redirect to `localhost` is not.
    const destinations = new DestinationGuard({ denied: ['127.0.0.0/8', '::1/128'], exemptHosts: ['127.0.0.1'] });
    const fetcher = new HttpFetcher({ ...base, destinations });
    try {
      hits.length = 0;
      await assert.rejects(fetcher.fetch(new URL('/to-loopback-name', origin), { method: 'GET' }), hasCode('HOARD_ERR_REDIRECT_REFUSED'));
      assert.deepEqual(hits, ['/to-loopback-name']);
    } finally {
      await fetcher.close();
    }
  });

  void it('connects to exactly the address the guard checked (no second resolution)', async () => {
    let resolutions = 0;
    // A rebinding resolver: a harmless answer first, loopback afterwards.
    const resolve: LookupFunction = (_hostname, _options, callback) => {
      resolutions++;
      const address = resolutions === 1 ? '127.0.0.1' : '127.0.0.9';
      callback(null, [{ address, family: 4 }]);
    };
    const destinations = new DestinationGuard({ denied: ['127.0.0.9/32'], exemptHosts: [], resolve });
    const fetcher = new HttpFetcher({ ...base, destinations });
    try {
      const response = await fetcher.fetch(new URL(`http://rebind.example:${origin.port}/ok`), { method: 'GET' });
      assert.equal(response.status, 200);
      response.body.destroy();
      assert.equal(resolutions, 1);
    } finally {
      await fetcher.close();
    }
  });
});
