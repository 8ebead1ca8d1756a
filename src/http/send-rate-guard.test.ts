// Tests of the slow-client rule: bytes per window on a manual clock, restarts, and the off switch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../clock.ts';
import { SendRateGuard } from './send-rate-guard.ts';

const limits = { minBytesPerSecond: 1024, windowMs: 60_000 };

test('never too slow before a whole window has passed, whatever was taken', () => {
  const clock = new ManualClock();
  const guard = new SendRateGuard(limits, clock);
  clock.advance(59_999);
  assert.equal(guard.tooSlow(0), false);
  assert.equal(guard.windowEndsAt, clock.now() + 1);
});

test('a window below the minimum rate is too slow; one at it passes and starts the next window', () => {
  const clock = new ManualClock();
  const guard = new SendRateGuard(limits, clock);
  clock.advance(60_000);
  assert.equal(guard.tooSlow(60 * 1024), false, 'exactly the minimum passes');
  clock.advance(60_000);
  // The second window is judged on its own bytes, not on the average since the start.
  assert.equal(guard.tooSlow(60 * 1024 + 60 * 1024 - 1), true);
});

test('a fast start does not buy a trickle later', () => {
  const clock = new ManualClock();
  const guard = new SendRateGuard(limits, clock);
  clock.advance(60_000);
  assert.equal(guard.tooSlow(500_000_000), false);
  clock.advance(60_000);
  assert.equal(guard.tooSlow(500_000_000 + 100), true);
});

test('a 1 Mbit/s client, even with a stall of half a window, is far above the default minimum', () => {
  const clock = new ManualClock();
  const guard = new SendRateGuard(limits, clock);
  let sent = 0;
  for (let second = 1; second <= 600; second++) {
    clock.advance(1000);
    // 125,000 bytes a second, except for 30 s of nothing in every third minute.
    if (Math.floor(second / 60) % 3 !== 2 || second % 60 >= 30) sent += 125_000;
    assert.equal(guard.tooSlow(sent), false, `second ${second}`);
  }
});

test('restart forgets the window in progress (hoard had nothing to send)', () => {
  const clock = new ManualClock();
  const guard = new SendRateGuard(limits, clock);
  clock.advance(59_000);
  guard.restart(10);
  clock.advance(59_000);
  assert.equal(guard.tooSlow(10), false, 'the new window is not over yet');
  clock.advance(1000);
  assert.equal(guard.tooSlow(10), true);
});

test('a minimum of 0 turns the guard off', () => {
  const clock = new ManualClock();
  const guard = new SendRateGuard({ minBytesPerSecond: 0, windowMs: 1000 }, clock);
  assert.equal(guard.enabled, false);
  clock.advance(3_600_000);
  assert.equal(guard.tooSlow(0), false);
});
