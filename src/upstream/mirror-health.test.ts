// Tests of MirrorHealth: cooldown on an injected clock, the LRU bound, pinned (configured) mirrors kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../clock.ts';
import { MirrorHealth } from './mirror-health.ts';

void describe('MirrorHealth', () => {
  void it('a failed mirror cools down for the configured time; a success ends it', () => {
    const clock = new ManualClock();
    const health = new MirrorHealth(clock, 10_000);
    assert.equal(health.coolingDown('http://m.example/'), false);
    health.failure('http://m.example/', 'HTTP 503');
    assert.equal(health.coolingDown('http://m.example/'), true);
    clock.advance(9_999);
    assert.equal(health.coolingDown('http://m.example/'), true);
    clock.advance(2);
    assert.equal(health.coolingDown('http://m.example/'), false);
    health.failure('http://m.example/', 'HTTP 503');
    health.success('http://m.example/');
    assert.equal(health.coolingDown('http://m.example/'), false);
    const [state] = health.snapshot();
    assert.equal(state?.consecutiveFailures, 0);
    assert.equal(state?.lastError, 'HTTP 503');
  });

  void it('keeps at most maxEntries unpinned mirrors, dropping the least recently used', () => {
    const clock = new ManualClock();
    const health = new MirrorHealth(clock, 10_000, { maxEntries: 3 });
    health.failure('http://old.example/', 'x');
    for (const host of ['a', 'b']) health.success(`http://${host}.example/`);
    // Consulting the old one makes it recent: b is now the one to go... after a.
    assert.equal(health.coolingDown('http://old.example/'), true);
    health.success('http://c.example/');
    assert.equal(health.size, 3);
    assert.deepEqual(
      health
        .snapshot()
        .map((s) => s.mirror)
        .sort(),
      ['http://b.example/', 'http://c.example/', 'http://old.example/'],
    );
    for (let i = 0; i < 5000; i++) health.failure(`http://h${i}.example/`, 'x');
    assert.equal(health.size, 3);
  });

  void it('pinned mirrors (configured backends) are never dropped and do not count against the bound', () => {
    const clock = new ManualClock();
    const health = new MirrorHealth(clock, 10_000, { maxEntries: 2 });
    health.failure('http://backend.example/debian/', 'cut');
    health.pin('http://backend.example/debian/');
    health.pin('http://other-backend.example/');
    for (let i = 0; i < 100; i++) health.success(`http://h${i}.example/`);
    assert.equal(health.size, 4);
    assert.equal(health.coolingDown('http://backend.example/debian/'), true, 'its state survived pinning and the churn');
  });
});
