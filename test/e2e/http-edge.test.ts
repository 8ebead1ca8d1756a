// The HTTP edge against a hostile client: pipelined refusals keep their order, nosniff everywhere, CSP, admin Host check.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { FakeUpstreamServer, faults } from '../support/fake-upstream-server.ts';
import { HoardProcess } from '../support/hoard-process.ts';
import { probe } from '../support/http-probe.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Writes `bytes` in one write on a fresh connection; resolves with everything the server sent until it closed (bounded). */
function rawExchange(port: number, bytes: string, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', () => undefined);
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.write(bytes);
  });
}

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Splits a byte stream into responses framed by Content-Length (every response hoard writes has one). */
function splitResponses(wire: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < wire.length && out.length < 10) {
    const end = wire.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const lines = wire.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
    const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]));
    const length = Number(headers.get('content-length') ?? 0);
    out.push({ status, headers, body: wire.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}

describe('the HTTP edge against hostile clients', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let hoard: HoardProcess;
  let host: string;

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'piped', version: '1', size: 600 * 1024 },
        { name: 'small', version: '1', size: 4 * 1024 },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    host = upstream.origin.replace('http://', '');
    hoard = await HoardProcess.start({
      config: { logLevel: 'error', allowedHosts: ['127.0.0.1'], admin: { hosts: ['cache.lab.example'] } },
    });
  });
  after(async () => {
    await hoard?.cleanup();
    await upstream?.close();
    await repo?.cleanup();
  });

  test('a valid request pipelined before a malformed one gets its whole response first, then the 400', async () => {
    const p = repo.package('piped');
    // The upstream is slow on purpose: the 200 is still being produced when the malformed request is parsed.
    const slow = upstream.misbehave(p.poolPath, faults.slow(400), { times: 1 });
    const wire = `GET /${host}/debian/${p.poolPath} HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /x HTTP/1.1\r\nBad Header\r\n\r\n`;
    for (const round of ['miss', 'hit']) {
      if (round === 'hit') await hoard.waitForDownloadsSettled();
      const responses = splitResponses(await rawExchange(hoard.port, wire));
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 400],
        `${round}: statuses in order`,
      );
      const [ok, refused] = responses as [RawResponse, RawResponse];
      assert.equal(ok.headers.get('x-hoard-cache'), round === 'miss' ? 'MISS' : 'HIT');
      assert.equal(ok.body.length, p.size, `${round}: the 200 came whole`);
      assert.equal(sha256(ok.body), p.sha256);
      assert.equal(refused.headers.get('connection'), 'close');
      assert.equal(refused.headers.get('x-content-type-options'), 'nosniff');
    }
    assert.equal(slow.applied, 1);
  });

  test('two valid requests then a malformed one: both answers, in order, then the 400', async () => {
    const a = repo.package('small');
    const b = repo.package('piped');
    const wire = [
      `GET /${host}/debian/${a.poolPath} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      `GET /${host}/debian/${b.poolPath} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      `GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
    ].join('');
    const responses = splitResponses(await rawExchange(hoard.port, wire));
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 400],
    );
    assert.equal(sha256(responses[0]!.body), a.sha256);
    assert.equal(sha256(responses[1]!.body), b.sha256);
  });

  test('every kind of response carries X-Content-Type-Options: nosniff', async () => {
    const pool = `/${host}/debian/${repo.package('small').poolPath}`;
    const probes: Array<[string, Promise<{ status: number; headers: Record<string, unknown> }>]> = [
      ['object', probe(`${hoard.url}${pool}`)],
      ['range', probe(`${hoard.url}${pool}`, { headers: { range: 'bytes=0-9' } })],
      ['not modified', probe(`${hoard.url}${pool}`, { headers: { 'if-none-match': '*' } })],
      ['upstream 404', probe(`${hoard.url}/${host}/debian/pool/main/n/none/none_1_all.deb`)],
      ['not a repository path', probe(`${hoard.url}/${host}/index.html`)],
      ['method', probe(`${hoard.url}${pool}`, { method: 'POST' })],
      ['usage page', probe(`${hoard.url}/`)],
      ['dashboard', probe(`${hoard.url}/_hoard/`)],
      ['metrics', probe(`${hoard.url}/_hoard/metrics`)],
      ['health', probe(`${hoard.url}/_hoard/health`)],
      ['stats', probe(`${hoard.url}/_hoard/stats.json`)],
      ['asset', probe(`${hoard.url}/_hoard/assets/dashboard.css`)],
      ['admin action', probe(`${hoard.url}/_hoard/actions/gc`, { method: 'POST' })],
      ['admin host', probe(`${hoard.url}/_hoard/`, { headers: { host: 'attacker.example' } })],
      ['expectation', probe(`${hoard.url}${pool}`, { headers: { expect: 'teapot' } })],
    ];
    for (const [name, pending] of probes) {
      const r = await pending;
      assert.ok(r.status > 0, name);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', `${name} (${r.status})`);
    }
    const raw = [
      'GET / HTTP/1.1\r\nBad Header\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      `CONNECT ${host} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      'GET / HTTP/1.1\r\nConnection: close\r\n\r\n',
    ];
    for (const request of raw) {
      const [response] = splitResponses(await rawExchange(hoard.port, request, 3000));
      assert.ok(response !== undefined && response.status >= 400, request.slice(0, 40));
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', request.slice(0, 40));
    }
  });

  test('the dashboard has a strict Content-Security-Policy and no inline script, style or handler', async () => {
    const page = await probe(`${hoard.url}/_hoard/`);
    assert.equal(page.status, 200);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    const html = page.body.toString();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler');
  });

  test('admin pages answer IP literals, localhost, the machine names and admin.hosts; other Hosts get 421', async () => {
    const short = hostname().split('.')[0] ?? hostname();
    const port = hoard.port;
    const ours = [`127.0.0.1:${port}`, `[::1]:${port}`, 'localhost', `localhost:${port}`, hostname(), short, `cache.lab.example:${port}`, 'CACHE.lab.example.'];
    for (const name of ours) {
      for (const path of ['/_hoard/', '/_hoard/health', '/_hoard/metrics']) {
        const r = await probe(`${hoard.url}${path}`, { headers: { host: name } });
        assert.equal(r.status, 200, `${name} ${path}`);
      }
    }
    for (const name of ['attacker.example', `attacker.example:${port}`, 'cache.lab.example.attacker.example', '2130706433', '127.1']) {
      for (const path of ['/_hoard/', '/_hoard/health', '/_hoard/stats.json', '/_hoard/assets/dashboard.js']) {
        const r = await probe(`${hoard.url}${path}`, { headers: { host: name } });
        assert.equal(r.status, 421, `${name} ${path}`);
        assert.equal(r.headers['x-hoard-error'], 'HOARD_ERR_ADMIN_HOST_NOT_ALLOWED');
        assert.match(r.body.toString(), /DNS rebinding/);
      }
      const action = await probe(`${hoard.url}/_hoard/actions/gc`, { method: 'POST', headers: { host: name } });
      assert.equal(action.status, 421, `${name} action`);
    }
    // Not an admin page: the cache itself still answers whatever Host a client sends.
    const usage = await probe(`${hoard.url}/`, { headers: { host: 'attacker.example' } });
    assert.equal(usage.status, 406);
    // HTTP/1.0 without Host: only a tool that dialled the address sends that; HTTP/1.1 without Host is malformed.
    const old = splitResponses(await rawExchange(port, 'GET /_hoard/health HTTP/1.0\r\n\r\n'));
    assert.equal(old[0]?.status, 200);
    const noHost = splitResponses(await rawExchange(port, 'GET /_hoard/health HTTP/1.1\r\nConnection: close\r\n\r\n'));
    assert.equal(noHost[0]?.status, 400);
    assert.equal(noHost[0]?.headers.get('x-hoard-error'), 'HOARD_ERR_BAD_REQUEST');
  });
});
