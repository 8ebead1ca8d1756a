// The image bench's pieces: its 50 MB/s forwarder shares one rate among all responses and counts them; the settings keep every scenario and peer name.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { aptRunScenarios, aptScenarios, defaultSettings, parseSettings, peerNames } from '../../bench/bench-settings.ts';
import { imageScenario } from '../../bench/image/image-scenario.ts';
import { RateLimitedForwarder } from '../../bench/image/rate-limited-forwarder.ts';

test('bench settings: the apt scenario letters, `image` and `images` are accepted alone or together; the default runs all but `images`', () => {
  assert.deepEqual(parseSettings(['--scenarios', 'a,b,c,e']).scenarios, ['a', 'b', 'c', 'e']);
  assert.deepEqual(parseSettings(['--scenarios', 'image']).scenarios, [imageScenario]);
  assert.deepEqual(parseSettings(['--quick', '--scenarios', 'c,image,images']).scenarios, ['c', 'image', 'images']);
  assert.deepEqual(aptScenarios, ['a', 'b', 'c', 'e', 'f']);
  for (const name of [...aptScenarios, imageScenario]) assert.ok(defaultSettings.scenarios.includes(name), name);
  // The image stream item runs only when named, inside the apt run (it alone still starts that run).
  assert.ok(!defaultSettings.scenarios.includes('images'));
  assert.ok(aptRunScenarios.includes('images') && !aptRunScenarios.includes(imageScenario));
  assert.throws(() => parseSettings(['--scenarios', 'a,imgs']), /unknown scenario imgs; --scenarios takes a,b,c,e,f,images,image/);
  assert.throws(() => parseSettings(['--frobnicate']), /--scenarios a,b,c,e,f,images,image/);
});

test('bench settings: --peers takes the four peers by name and names the unknown ones; (b) runs wrk at 1 and 2 threads', () => {
  assert.deepEqual(parseSettings(['--peers', 'hoard,nginx-disk']).peers, ['hoard', 'nginx-disk']);
  assert.deepEqual(peerNames, ['hoard', 'apt-cacher-ng', 'nginx-cache', 'nginx-disk']);
  assert.throws(() => parseSettings(['--peers', 'hoard,ngnix']), /unknown peer ngnix; --peers takes hoard,apt-cacher-ng,nginx-cache,nginx-disk/);
  assert.deepEqual(defaultSettings.smallThreads, [1, 2]);
  assert.equal(parseSettings(['--quick']).repetitions, 1);
});

test('the forwarder gives all responses together its rate (never faster), and counts their bytes and requests', async () => {
  const body = Buffer.alloc(2_000_000, 7);
  const origin = createServer((_req, res) => res.end(body));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const forwarder = await RateLimitedForwarder.start(`http://127.0.0.1:${(origin.address() as AddressInfo).port}`, 4_000_000);
  try {
    const started = performance.now();
    const bodies = await Promise.all([1, 2].map(async (i) => Buffer.from(await (await fetch(`${forwarder.url}/v2/x/blobs/${i}`)).arrayBuffer())));
    const seconds = (performance.now() - started) / 1000;
    for (const got of bodies) assert.ok(got.equals(body));
    // 4 MB at 4 MB/s: at least a second, whatever the machine's load (only the lower bound is sure).
    assert.ok(seconds >= 0.95, `${seconds} s`);
    assert.equal(forwarder.bytes, 4_000_000);
    assert.deepEqual(forwarder.requests.map((r) => `${r.method} ${r.path} ${r.status}`).sort(), ['GET /v2/x/blobs/1 200', 'GET /v2/x/blobs/2 200']);
    forwarder.reset();
    assert.equal(forwarder.bytes, 0);
    assert.deepEqual(forwarder.requests, []);
  } finally {
    await forwarder.stop();
    origin.closeAllConnections();
    origin.close();
  }
});
