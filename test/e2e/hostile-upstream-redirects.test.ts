// Hostile upstreams and client-chosen destinations: redirects into the cache's own network, loopback hosts, odd IPv4 spellings.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { defaultDeniedUpstreamNetworks } from '../../src/config/config-schema.ts';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';

/** One proxy-mode request with the target exactly as given (a URL object would canonicalise the host first). */
function rawTarget(hoard: HoardProcess, target: string): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: hoard.host, port: hoard.port, path: target, method: 'GET', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-hoard-error'] as string | undefined }));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer to ${target}`)));
    req.once('error', reject);
    req.end();
  });
}

describe('hostile upstream redirects and client-chosen destinations', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  /** Stands for a service of the cache host's own network (a metadata service, an admin port). */
  let internal: FakeUpstreamServer;
  /** The set-up: `allowedHosts: ["127.0.0.1"]` (listed exactly, so exempt from the denied networks). */
  let listed: HoardProcess;
  /** The defaults: any host, loopback and link-local denied. */
  let defaults: HoardProcess;
  /** `deniedUpstreamNetworks: []` and any host: an operator who mirrors from the cache host itself; only the path table guards hops. */
  let open: HoardProcess;

  before(async () => {
    repo = await SignedRepo.create({ suite: 'stable', packages: [{ name: 'alpha', version: '1', size: 30_000 }] });
    [upstream, internal] = await Promise.all([
      FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' }),
      FakeUpstreamServer.start({ root: repo.root, prefix: '/debian', host: '127.0.0.2' }),
    ]);
    [listed, defaults, open] = await Promise.all([
      HoardProcess.start({ config: { logLevel: 'warn', allowedHosts: ['127.0.0.1'], deniedUpstreamNetworks: defaultDeniedUpstreamNetworks } }),
      HoardProcess.start({ config: { logLevel: 'warn', deniedUpstreamNetworks: defaultDeniedUpstreamNetworks } }),
      HoardProcess.start({ config: { logLevel: 'warn', deniedUpstreamNetworks: [] } }),
    ]);
  });
  after(async () => {
    await Promise.all([listed?.cleanup(), defaults?.cleanup(), open?.cleanup()]);
    await Promise.all([upstream?.close(), internal?.close()]);
    await repo?.cleanup();
  });

  const alpha = () => repo.package('alpha');
  const redirect = (path: string, location: string) => upstream.misbehave(path, faults.status(302, { headers: { Location: location } }));

  test("a redirect to an internal URL with a query is refused: nothing reaches it, nothing is cached under the requester's key", async () => {
    internal.resetStats();
    const rule = redirect(alpha().poolPath, `http://127.0.0.2:${internal.port}/latest/meta-data/iam/security-credentials?x=1`);
    try {
      const refused = await probe(upstream.url(alpha().poolPath), { proxy: listed.url });
      assert.equal(refused.status, 502);
      assert.equal(refused.headers['x-hoard-error'], 'HOARD_ERR_REDIRECT_REFUSED');
      assert.doesNotMatch(refused.body.toString(), /meta-data|x=1/, 'the internal URL is not echoed to the client');
      assert.equal(internal.totalRequests, 0);
    } finally {
      rule.remove();
    }
    const after = await probe(upstream.url(alpha().poolPath), { proxy: listed.url });
    assert.equal(after.status, 200);
    assert.equal(after.headers['x-hoard-cache'], 'MISS', 'the refused answer left nothing in the cache');
    assert.equal(internal.totalRequests, 0);
  });

  test('a redirect to a host outside allowedHosts is refused even for a repository path', async () => {
    internal.resetStats();
    const path = repo.distPath('InRelease');
    const rule = redirect(path, `http://127.0.0.2:${internal.port}/debian/${path}`);
    try {
      const refused = await probe(upstream.url(path), { proxy: listed.url });
      assert.equal(refused.status, 502);
      assert.equal(refused.headers['x-hoard-error'], 'HOARD_ERR_REDIRECT_REFUSED');
      assert.match(refused.body.toString(), /not in allowedHosts/);
      assert.equal(internal.totalRequests, 0);
    } finally {
      rule.remove();
    }
  });

  test('with any host allowed, a redirect to a path outside the apt path table is still refused', async () => {
    internal.resetStats();
    const rule = redirect(alpha().poolPath, `http://127.0.0.2:${internal.port}/latest/meta-data/iam?x=1`);
    try {
      const refused = await probe(upstream.url(alpha().poolPath), { proxy: open.url });
      assert.equal(refused.status, 502);
      assert.equal(refused.headers['x-hoard-error'], 'HOARD_ERR_REDIRECT_REFUSED');
      assert.match(refused.body.toString(), /not a file of a repository/);
      assert.equal(internal.totalRequests, 0);
    } finally {
      rule.remove();
    }
  });

  test('a redirect the rules allow is followed, with its query, and what it fetched is served', async () => {
    internal.resetStats();
    const path = repo.distPath('Release');
    const rule = redirect(path, `http://127.0.0.2:${internal.port}/debian/${path}?signature=abc`);
    try {
      const followed = await probe(upstream.url(path), { proxy: open.url });
      assert.equal(followed.status, 200);
      assert.equal(internal.totalRequests, 1);
      assert.equal(internal.requests[0]?.target, `/debian/${path}?signature=abc`);
    } finally {
      rule.remove();
    }
  });

  test('a client-chosen host on loopback is refused with 403 by default, in every spelling and mode', async () => {
    upstream.resetStats();
    const port = upstream.port;
    const path = `/debian/${alpha().poolPath}`;
    for (const url of [
      `http://127.0.0.1:${port}${path}`,
      `http://localhost:${port}${path}`,
      `http://[::ffff:127.0.0.1]:${port}${path}`,
      `http://[::1]:${port}${path}`,
    ]) {
      const refused = await probe(url, { proxy: defaults.url });
      assert.equal(refused.status, 403, url);
      assert.equal(refused.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_DENIED', url);
      assert.match(refused.body.toString(), /deniedUpstreamNetworks/, url);
    }
    const prefixed = await probe(`${defaults.url}/127.0.0.1:${port}${path}`);
    assert.equal(prefixed.status, 403);
    assert.equal(prefixed.headers['x-hoard-error'], 'HOARD_ERR_UPSTREAM_DENIED');
    assert.equal(upstream.totalRequests, 0, 'no request reached the loopback upstream');
  });

  test('with deniedUpstreamNetworks: [] the same loopback host is served', async () => {
    const allowed = await probe(upstream.url(alpha().poolPath), { proxy: open.url });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.body.length, alpha().size);
  });

  test('non-canonical IPv4 spellings are refused with 400 before any lookup', async () => {
    upstream.resetStats();
    const port = upstream.port;
    const path = `/debian/${alpha().poolPath}`;
    for (const host of ['0177.0.0.1', '127.1', '2130706433', '0x7f000001', '127.0.0.01', '0x7f.0.0.1']) {
      for (const hoard of [defaults, open]) {
        const refused = await rawTarget(hoard, `http://${host}:${port}${path}`);
        assert.equal(refused.status, 400, `${host} via ${hoard.url}`);
        assert.equal(refused.code, 'HOARD_ERR_BAD_REQUEST', host);
      }
    }
    const prefixed = await probe(`${open.url}/127.1:${port}${path}`);
    assert.equal(prefixed.status, 400);
    assert.equal(upstream.totalRequests, 0);
  });
});
