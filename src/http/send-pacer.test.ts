// Tests of the chunk-size rule: the climb to 1 MiB for a fast client, the drop and probation for a slow one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendPacer, sendChunkSizes, slowAfterMs } from './send-pacer.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

test('starts small and reaches 1 MiB after three fast writes', () => {
  const pacer = new SendPacer();
  const seen: number[] = [];
  let now = 0;
  for (let i = 0; i < 5; i++) {
    const size = pacer.chunkBytes(now);
    seen.push(size);
    now += 1;
    pacer.wrote(size, 0.5, now);
  }
  assert.deepEqual(seen, [8 * KiB, 64 * KiB, 256 * KiB, MiB, MiB]);
  assert.deepEqual(sendChunkSizes.at(-1), MiB);
});

test('slowAfterMs: 10 ms for small writes, the time at 8 MiB/s for large ones', () => {
  assert.equal(slowAfterMs(8 * KiB), 10);
  assert.equal(slowAfterMs(MiB), 125);
});

test('a slow write drops to the smallest size', () => {
  const pacer = new SendPacer();
  for (let i = 0; i < 4; i++) pacer.wrote(pacer.chunkBytes(i), 1, i);
  assert.equal(pacer.chunkBytes(10), MiB);
  // 1 MiB in 200 ms: 5 MB/s, below the 8 MiB/s a write of that size needs.
  pacer.wrote(MiB, 200, 60);
  assert.equal(pacer.chunkBytes(60), 8 * KiB);
});

test('on probation, a client that took a burst right after stalling stays small', () => {
  const pacer = new SendPacer();
  pacer.stalled(0);
  // A TCP window opening: 64 KB taken at once, in eight fast writes within a few milliseconds.
  for (let i = 1; i <= 8; i++) pacer.wrote(8 * KiB, 0.1, i);
  assert.equal(pacer.chunkBytes(9), 8 * KiB);
  // A client of 1 MB/s keeps to small chunks for good.
  let sent = 64 * KiB;
  for (let t = 1000; t <= 10_000; t += 1000) {
    for (let i = 0; i < 125; i++) pacer.wrote(8 * KiB, 5, t);
    sent += 125 * 8 * KiB;
    assert.ok(pacer.chunkBytes(t) <= 8 * KiB, `at ${t} ms after ${sent} bytes`);
  }
});

test('a fast client that paused a moment climbs back within a few milliseconds', () => {
  const pacer = new SendPacer();
  for (let i = 0; i < 4; i++) pacer.wrote(pacer.chunkBytes(i), 0.5, i);
  pacer.stalled(10);
  let now = 10;
  let sent = 0;
  while (pacer.chunkBytes(now) < MiB && now < 200) {
    const size = pacer.chunkBytes(now);
    now += size / (500 * KiB); // 500 MB/s
    sent += size;
    pacer.wrote(size, 0.2, now);
  }
  assert.equal(pacer.chunkBytes(now), MiB);
  assert.ok(now - 10 < 150, `back to 1 MiB after ${now - 10} ms and ${sent} bytes`);
});
