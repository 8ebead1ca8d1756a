// Tests of sendRange: exact bytes for whole and partial ranges over many chunks, buffer reuse, and a client that leaves.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, test } from 'node:test';
import type { BlobReader } from '../storage/blob-store.ts';
import { SendBufferPool, sendRange } from './body-sender.ts';

/** A reader over memory that counts open reads, so tests see it is never read after a failure. */
function memoryReader(bytes: Buffer, delayMs = 0): BlobReader & { reads: number } {
  const reader = {
    reads: 0,
    async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
      reader.reads++;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const n = Math.max(0, Math.min(length, bytes.length - position));
      bytes.copy(buffer, offset, position, position + n);
      return n;
    },
    async close(): Promise<void> {},
  };
  return reader;
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function get(port: number): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

test('sends whole and partial ranges exactly, through buffers much smaller than the body', async () => {
  const bytes = randomBytes(100_000);
  const pool = new SendBufferPool({ sizes: [4096], maxIdle: 4 });
  for (const [start, end] of [
    [0, bytes.length - 1],
    [1, 4096],
    [4095, 4097],
    [99_999, 99_999],
  ] as const) {
    const port = await serve((_req, res) => {
      res.setHeader('content-length', end - start + 1);
      void sendRange(res, memoryReader(bytes), start, end, pool);
    });
    const got = await get(port);
    assert.equal(got.status, 200);
    assert.equal(
      createHash('sha256').update(got.body).digest('hex'),
      createHash('sha256')
        .update(bytes.subarray(start, end + 1))
        .digest('hex'),
      `${start}-${end}`,
    );
  }
});

test('a blob shorter than the range rejects and cuts the response short', async () => {
  const bytes = randomBytes(10_000);
  let outcome: unknown;
  const port = await serve((_req, res) => {
    res.setHeader('content-length', 20_000);
    sendRange(res, memoryReader(bytes), 0, 19_999, new SendBufferPool({ sizes: [4096], maxIdle: 2 })).then(
      () => (outcome = 'resolved'),
      (err: unknown) => {
        outcome = err;
        res.destroy();
      },
    );
  });
  await assert.rejects(get(port));
  assert.match(String(outcome), /ends at byte 10000/);
});

test('a client that leaves mid-body rejects the send without an unhandled rejection, and reading stops', async () => {
  const bytes = randomBytes(4 * 1024 * 1024);
  const reader = memoryReader(bytes, 2);
  let settled: Promise<unknown> | undefined;
  const port = await serve((_req, res) => {
    res.setHeader('content-length', bytes.length);
    settled = sendRange(res, reader, 0, bytes.length - 1, new SendBufferPool({ sizes: [64 * 1024], maxIdle: 2 })).then(
      () => 'resolved',
      (err: unknown) => err,
    );
  });
  await new Promise<void>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.end();
  });
  const outcome = await settled;
  assert.notEqual(outcome, 'resolved');
  const readsAtEnd = reader.reads;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(reader.reads, readsAtEnd);
  assert.ok(readsAtEnd < bytes.length / (64 * 1024));
});

test('the pool lends sizes above the smallest only within its budget, then the smallest', () => {
  const pool = new SendBufferPool({ sizes: [1024, 4096, 16_384], budgetBytes: 20_000, maxIdle: 1 });
  const a = pool.take(16_384);
  assert.equal(a.length, 16_384);
  const b = pool.take(16_384);
  assert.equal(b.length, 1024, 'neither 16 KiB nor 4 KiB fits next to the first');
  assert.equal(pool.lentBytes, 16_384);
  pool.give(a);
  assert.equal(pool.lentBytes, 0);
  assert.equal(pool.take(16_384), a, 'an idle buffer is reused');
  pool.give(a, false);
  assert.notEqual(pool.take(16_384), a, 'a buffer a socket may still read is not');
  assert.equal(pool.take(2000).length, 1024, 'never more than asked for');
});

test('a large buffer the pool does not keep idle is freed at once; one a socket may still read is left alone', () => {
  const pool = new SendBufferPool({ sizes: [1024, 16_384], maxIdle: 1 });
  const [a, b, c] = [pool.take(16_384), pool.take(16_384), pool.take(16_384)];
  pool.give(a);
  assert.equal(a.length, 16_384, 'kept idle, intact');
  pool.give(b);
  assert.equal(b.length, 0, 'past the idle bound: its memory is given back (detached)');
  pool.give(c, false);
  assert.equal(c.length, 16_384, 'a socket may still read it');
  const small = pool.take(1000);
  pool.give(small);
  assert.equal(small.length, 1024, 'the smallest are slab slices: never detached');
});

test('a client that stops reading holds one buffer: the chunk read ahead is given back', async () => {
  const bytes = randomBytes(64 * 1024 * 1024);
  const reader = memoryReader(bytes);
  const pool = new SendBufferPool();
  let settled: Promise<unknown> | undefined;
  const port = await serve((_req, res) => {
    res.setHeader('content-length', bytes.length);
    settled = sendRange(res, reader, 0, bytes.length - 1, pool).then(
      () => 'resolved',
      (err: unknown) => err,
    );
  });
  const socket = await new Promise<Socket>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.pause();
      resolve(req.socket as Socket);
    });
    req.end();
  });
  socket.pause();
  try {
    // Until the sender stops reading (the kernel has taken what it takes, a write waits) and a stall has been seen.
    let reads = -1;
    for (let i = 0; i < 50 && reads !== reader.reads; i++) {
      reads = reader.reads;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    assert.equal(reads, reader.reads, 'the sender kept reading');
    assert.ok(pool.lentBytes <= 1024 * 1024, `lent ${pool.lentBytes} bytes`);
  } finally {
    socket.destroy();
  }
  assert.notEqual(await settled, 'resolved');
  assert.equal(pool.lentBytes, 0);
});
