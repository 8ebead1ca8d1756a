// CONNECT pass-through: target parsing, the allow list, and real tunnels on loopback (bytes, events, failures, idle timeout).
import type { Channel } from 'node:diagnostics_channel';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { channels, type RequestEvent, type TunnelEvent } from '../events.ts';
import { ConnectAllowList, ConnectTunnels, parseConnectTarget } from './connect-tunnel.ts';
import { connectRefusal } from './proxy-server.ts';
import { CountingForwardProxy } from '../../test/support/counting-forward-proxy.ts';
import { findFreePort } from '../../test/support/hoard-process.ts';

test('CONNECT targets are host:port, the port required', () => {
  assert.deepEqual(parseConnectTarget('Mirror.Example:443'), { host: 'mirror.example', port: 443 });
  assert.deepEqual(parseConnectTarget('127.0.0.1:8443'), { host: '127.0.0.1', port: 8443 });
  assert.deepEqual(parseConnectTarget('[::1]:443'), { host: '::1', port: 443 });
  for (const bad of [
    'mirror.example',
    'mirror.example:',
    'mirror.example:0',
    'mirror.example:70000',
    'http://mirror.example:443',
    'a..b:443',
    '.mirror.example:443',
    'user@mirror.example:443',
    '/path',
    '',
  ]) {
    assert.equal(parseConnectTarget(bad), undefined, bad);
  }
});

test('the allow list matches exact host:port and *.suffix:port, never another port or the bare suffix', () => {
  const allow = new ConnectAllowList(['mirror.example:443', '*.private.example:8443', '127.0.0.1:9000']);
  const allows = (target: string) => allow.allows(parseConnectTarget(target) ?? { host: '', port: 0 });
  assert.equal(allows('mirror.example:443'), true);
  assert.equal(allows('MIRROR.example:443'), true);
  assert.equal(allows('mirror.example:80'), false);
  assert.equal(allows('other.example:443'), false);
  assert.equal(allows('repo.private.example:8443'), true);
  assert.equal(allows('a.b.private.example:8443'), true);
  assert.equal(allows('private.example:8443'), false);
  assert.equal(allows('evilprivate.example:8443'), false);
  assert.equal(allows('repo.private.example:443'), false);
  assert.equal(allows('127.0.0.1:9000'), true);
  assert.equal(new ConnectAllowList([]).empty, true);
  assert.throws(() => new ConnectAllowList(['mirror.example']), /connect\.allow: "mirror\.example"/);
});

test('the refusal is one line naming both ways out', () => {
  const line = connectRefusal('mirror.example:443');
  assert.equal(line.includes('\n'), false);
  assert.match(line, /^no tunnel to mirror\.example:443; /);
  assert.match(line, /http:\/\/HTTPS\/\/\/mirror\.example\/<path>/);
  assert.match(line, /add "mirror\.example:443" to connect\.allow/);
  assert.match(connectRefusal('10.0.0.5:8443'), /HTTPS\/\/\/10\.0\.0\.5:8443\//);
});

/** An HTTP server whose only job is handing CONNECTs to `tunnels`, refusing the rest with 403 as the proxy server does. */
async function proxyWith(tunnels: ConnectTunnels): Promise<{ server: Server; port: number }> {
  const server = createHttpServer();
  server.on('connect', (req, socket, head) => {
    if (!tunnels.handle(req, socket, head)) socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

async function echoServer(): Promise<{ close: () => Promise<void>; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** Sends CONNECT (plus `early` bytes in the same packet) and resolves with the socket and the answer head. */
async function openTunnel(port: number, target: string, early = ''): Promise<{ socket: Socket; head: string; rest: Buffer }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n${early}`);
  return new Promise((resolveHead, reject) => {
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const end = seen.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      resolveHead({ socket, head: seen.subarray(0, end + 4).toString(), rest: seen.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Reads until `bytes` have arrived (counting `already`) or the socket ends. */
async function readUntil(socket: Socket, already: Buffer, bytes: number): Promise<Buffer> {
  return new Promise((resolveRead) => {
    let got = already;
    if (got.length >= bytes) return resolveRead(got);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < bytes) return;
      socket.off('data', onData);
      socket.pause();
      resolveRead(got);
    };
    socket.on('data', onData);
    socket.once('end', () => resolveRead(got));
    socket.resume();
  });
}

function collect<T>(channel: Channel): { events: T[]; stop: () => void } {
  const events: T[] = [];
  const fn = (m: unknown) => events.push(m as T);
  channel.subscribe(fn);
  return { events, stop: () => void channel.unsubscribe(fn) };
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('an allowed tunnel carries bytes both ways (early bytes included) and is published open, then closed with its byte counts', async () => {
  const echo = await echoServer();
  const tunnels = new ConnectTunnels({ allow: [`127.0.0.1:${echo.port}`], connectTimeoutMs: 2000, idleTimeoutMs: 10_000 });
  const proxy = await proxyWith(tunnels);
  const tunnelEvents = collect<TunnelEvent>(channels.tunnel);
  const requestEvents = collect<RequestEvent>(channels.request);
  try {
    const { socket, head, rest } = await openTunnel(proxy.port, `127.0.0.1:${echo.port}`, 'early:');
    assert.equal(head, 'HTTP/1.1 200 Connection Established\r\n\r\n');
    assert.equal(tunnels.active, 1);
    socket.write('hello');
    const echoed = await readUntil(socket, rest, 'early:hello'.length);
    assert.equal(echoed.toString(), 'early:hello');
    socket.end();
    await once(socket, 'close');
    await waitFor(() => tunnelEvents.events.some((e) => e.phase === 'close'), 'the close event');
    assert.deepEqual(
      tunnelEvents.events.map((e) => e.phase),
      ['open', 'close'],
    );
    const closed = tunnelEvents.events[1];
    assert.equal(closed?.bytesUp, 11);
    assert.equal(closed?.bytesDown, 11);
    assert.equal(closed?.target, `127.0.0.1:${echo.port}`);
    const request = requestEvents.events.find((e) => e.method === 'CONNECT');
    assert.equal(request?.result, 'passthrough');
    assert.equal(request?.status, 200);
    assert.equal(tunnels.active, 0);
  } finally {
    tunnelEvents.stop();
    requestEvents.stop();
    proxy.server.close();
    await echo.close();
  }
});

test('an unlisted destination is left to the caller untouched; an unreachable listed one gets a one-line 502', async () => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((done) => probe.close(() => done()));

  const tunnels = new ConnectTunnels({ allow: [`127.0.0.1:${deadPort}`], connectTimeoutMs: 2000, idleTimeoutMs: 10_000 });
  const proxy = await proxyWith(tunnels);
  const tunnelEvents = collect<TunnelEvent>(channels.tunnel);
  try {
    const refused = await openTunnel(proxy.port, '127.0.0.1:1');
    assert.match(refused.head, /^HTTP\/1\.1 403 /);
    refused.socket.destroy();

    const failed = await openTunnel(proxy.port, `127.0.0.1:${deadPort}`);
    assert.match(failed.head, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(failed.head, /X-Hoard-Error: HOARD_ERR_UPSTREAM_UNREACHABLE/);
    const body = (await readUntil(failed.socket, failed.rest, 1)).toString();
    assert.match(body, /^HOARD_ERR_UPSTREAM_UNREACHABLE: tunnel destination 127\.0\.0\.1:\d+ unreachable: .*ECONNREFUSED.*\n$/);
    await waitFor(() => tunnelEvents.events.some((e) => e.phase === 'failed'), 'the failed event');
    assert.equal(tunnelEvents.events[0]?.errorCode, 'HOARD_ERR_UPSTREAM_UNREACHABLE');
    assert.equal(tunnels.active, 0);
  } finally {
    tunnelEvents.stop();
    proxy.server.close();
  }
});

test('a silent tunnel is closed after the idle timeout; closeAll ends the open ones', async () => {
  const echo = await echoServer();
  const tunnels = new ConnectTunnels({ allow: [`127.0.0.1:${echo.port}`], connectTimeoutMs: 2000, idleTimeoutMs: 150 });
  const proxy = await proxyWith(tunnels);
  try {
    const idle = await openTunnel(proxy.port, `127.0.0.1:${echo.port}`);
    idle.socket.resume();
    await once(idle.socket, 'close');
    await waitFor(() => tunnels.active === 0, 'the idle tunnel to go');

    const slow = new ConnectTunnels({ allow: [`127.0.0.1:${echo.port}`], connectTimeoutMs: 2000, idleTimeoutMs: 60_000 });
    const proxy2 = await proxyWith(slow);
    const open = await openTunnel(proxy2.port, `127.0.0.1:${echo.port}`);
    open.socket.resume();
    assert.equal(slow.active, 1);
    slow.closeAll();
    await once(open.socket, 'close');
    await waitFor(() => slow.active === 0, 'closeAll');
    proxy2.server.close();
  } finally {
    proxy.server.close();
    await echo.close();
  }
});

test('through an outbound proxy: the tunnel is a CONNECT to the proxy (credentials as Proxy-Authorization); a refusal or a dead proxy is HOARD_ERR_UPSTREAM_PROXY', async () => {
  const echo = await echoServer();
  const upstreamProxy = await CountingForwardProxy.start({ credentials: { user: 'lab', password: 's3cret' } });
  const target = `127.0.0.1:${echo.port}`;
  let proxyUrl = new URL(upstreamProxy.url({ user: 'lab', password: 's3cret' }));
  const tunnels = new ConnectTunnels({
    allow: [target],
    connectTimeoutMs: 2000,
    idleTimeoutMs: 5000,
    through: () => ({ url: proxyUrl, label: `http://${proxyUrl.host}` }),
  });
  const front = await proxyWith(tunnels);
  try {
    const { socket, head, rest } = await openTunnel(front.port, target, 'early');
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.equal((await readUntil(socket, rest, 5)).toString(), 'early');
    socket.write('ping');
    assert.equal((await readUntil(socket, Buffer.alloc(0), 4)).toString(), 'ping');
    socket.destroy();
    assert.deepEqual(
      upstreamProxy.connects.map((c) => c.target),
      [target],
    );
    assert.equal(upstreamProxy.authFailures, 0);

    proxyUrl = new URL(upstreamProxy.url({ user: 'lab', password: 'wrong' }));
    const refused = await openTunnel(front.port, target);
    assert.match(refused.head, /^HTTP\/1\.1 502 [^]*X-Hoard-Error: HOARD_ERR_UPSTREAM_PROXY/);
    const body = (await readUntil(refused.socket, refused.rest, 1000)).toString();
    assert.match(body, /refused CONNECT to 127\.0\.0\.1:\d+ with 407/);
    assert.doesNotMatch(body, /wrong/);

    const deadPort = await findFreePort();
    proxyUrl = new URL(`http://127.0.0.1:${deadPort}`);
    const dead = await openTunnel(front.port, target);
    assert.match(dead.head, /X-Hoard-Error: HOARD_ERR_UPSTREAM_PROXY/);
  } finally {
    tunnels.closeAll();
    front.server.close();
    await upstreamProxy.close();
    await echo.close();
  }
});
