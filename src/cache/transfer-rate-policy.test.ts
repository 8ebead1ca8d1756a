// Table tests of the minimum-rate window: what counts as slow, when it is judged, and that memory stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransferRateWindow } from './transfer-rate-policy.ts';

const floor = { minBytesPerSecond: 1024, windowMs: 60_000 };

/** Feeds (ms since start, total bytes) samples and returns the last verdict. */
function judge(samples: ReadonlyArray<readonly [number, number]>, f = floor) {
  const window = new TransferRateWindow(f, 0);
  let verdict = window.sample(0, 0);
  for (const [at, total] of samples) verdict = window.sample(at, total);
  return verdict;
}

test('nothing is judged before one whole window has passed', () => {
  assert.deepEqual(judge([[59_999, 0]]), { slow: false });
});

test('a window with fewer bytes than the floor asks is slow, naming the bytes and the span', () => {
  assert.deepEqual(
    judge([
      [30_000, 100],
      [60_000, 200],
    ]),
    { slow: true, bytes: 200, overMs: 60_000 },
  );
});

test('exactly the floor for one window is not slow', () => {
  assert.deepEqual(judge([[60_000, 1024 * 60]]), { slow: false });
});

test('one byte every 29 s (under an idle timeout of 30 s) is slow after the window', () => {
  const samples: Array<[number, number]> = [];
  for (let i = 1; i <= 5; i++) samples.push([i * 29_000, i]);
  const verdict = judge(samples);
  assert.equal(verdict.slow, true);
});

test('a healthy transfer that pauses for 30 s is not slow', () => {
  // 1 MB in the first 10 s, nothing for 30 s, then 1 MB more.
  assert.deepEqual(
    judge([
      [10_000, 1e6],
      [40_000, 1e6],
      [50_000, 2e6],
      [70_000, 2e6],
    ]),
    { slow: false },
  );
});

test('a transfer that was fast and then trickles is slow once a whole window has trickled', () => {
  const samples: Array<[number, number]> = [[5_000, 10e6]];
  for (let at = 10_000; at <= 64_000; at += 1_000) samples.push([at, 10e6 + at / 1000]);
  // At 64 s the newest sample a window old is the start: that span still holds the fast start.
  assert.equal(judge(samples).slow, false);
  for (let at = 65_000; at <= 80_000; at += 1_000) samples.push([at, 10e6 + at / 1000]);
  assert.equal(judge(samples).slow, true);
});

test('the span judged is never shorter than a window, so a burst in the last window counts', () => {
  // Samples every 100 ms; the floor's worth (61,440 bytes) arrives in the last second only.
  const samples: Array<[number, number]> = [];
  for (let at = 100; at <= 119_000; at += 100) samples.push([at, 0]);
  for (let at = 119_100; at <= 120_000; at += 100) samples.push([at, (at - 119_000) * 62]);
  assert.deepEqual(judge(samples), { slow: false });
});

test('a floor of 0 turns the check off', () => {
  assert.deepEqual(judge([[600_000, 0]], { minBytesPerSecond: 0, windowMs: 1000 }), { slow: false });
});

test('samples kept stay bounded however often the caller samples', () => {
  const window = new TransferRateWindow({ minBytesPerSecond: 1, windowMs: 2000 }, 0);
  for (let at = 1; at <= 100_000; at++) window.sample(at, at);
  assert.ok(window.samplesKept <= 20, `kept ${window.samplesKept} samples`);
});

test('a later start (a relay ended, a restart) judges only from there', () => {
  const window = new TransferRateWindow(floor, 1_000_000, 5e6);
  assert.deepEqual(window.sample(1_059_000, 5e6), { slow: false });
  assert.deepEqual(window.sample(1_060_000, 5e6 + 10), { slow: true, bytes: 10, overMs: 60_000 });
});
