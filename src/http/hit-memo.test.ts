// Tests of HitMemo and its request keys: a decision stands until a write or a second has passed, and only plain requests get one.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { HitMemo, isPlainGet, memoKeyOf, reuseMs } from './hit-memo.ts';

const request = (headers: Record<string, string>, method = 'GET', url = '/mirror.example/debian/pool/a.deb') =>
  ({ method, url, headers, httpVersionMajor: 1, httpVersionMinor: 1 }) as unknown as IncomingMessage;

test('a decision stands while the epoch it was asked at is current, and ends at the first write after', () => {
  let epoch = 0;
  const memo = new HitMemo<string>(() => epoch);
  const asked = memo.epoch();
  memo.remember('k', 'answer', asked);
  assert.equal(memo.recall('k'), 'answer');
  assert.equal(memo.recall('k'), 'answer', 'recalled again');
  epoch += 1;
  assert.equal(memo.recall('k'), undefined, 'a write ends it');
  assert.equal(memo.size, 0, 'and it is dropped');
});

test('a decision looked up before a write that landed meanwhile is never recalled', () => {
  let epoch = 5;
  const memo = new HitMemo<string>(() => epoch);
  const asked = memo.epoch();
  epoch += 1;
  memo.remember('k', 'stale', asked);
  assert.equal(memo.recall('k'), undefined);
});

test('a decision ends after reuseMs whatever the epoch', async () => {
  const memo = new HitMemo<string>(() => 0);
  memo.remember('k', 'answer', 0);
  assert.equal(memo.recall('k'), 'answer');
  await new Promise((resolve) => setTimeout(resolve, reuseMs + 50));
  assert.equal(memo.recall('k'), undefined);
});

test('forget drops one key; the number kept is bounded, the oldest going first', () => {
  const memo = new HitMemo<number>(() => 0);
  memo.remember('a', 1, 0);
  memo.remember('b', 2, 0);
  memo.forget('a');
  assert.equal(memo.recall('a'), undefined);
  assert.equal(memo.recall('b'), 2);
  for (let i = 0; i < 5000; i++) memo.remember(`k${i}`, i, 0);
  assert.equal(memo.size, 4096);
  assert.equal(memo.recall('b'), undefined, 'the oldest went first');
  assert.equal(memo.recall('k4999'), 4999);
});

test('requests whose answer may depend on who asks, or that came through caches, get no key', () => {
  assert.equal(memoKeyOf(request({ host: 'cache.example:3142' })), '1 cache.example:3142 /mirror.example/debian/pool/a.deb');
  for (const name of ['authorization', 'proxy-authorization', 'cookie', 'via']) {
    assert.equal(memoKeyOf(request({ host: 'cache.example', [name]: 'x' })), undefined, name);
  }
  const http10 = { ...request({}), httpVersionMinor: 0 } as IncomingMessage;
  assert.notEqual(memoKeyOf(http10), memoKeyOf(request({})), 'HTTP/1.0 and 1.1 are kept apart');
});

test('only a GET with no range and no validators is plain', () => {
  assert.equal(isPlainGet(request({})), true);
  assert.equal(isPlainGet(request({}, 'HEAD')), false);
  for (const name of ['range', 'if-none-match', 'if-modified-since', 'if-range']) assert.equal(isPlainGet(request({ [name]: 'x' })), false, name);
});

test('the bytes the values hold are bounded too, the oldest going first, and a value over the bound is not kept', () => {
  const memo = new HitMemo<string>(() => 0, 100);
  memo.remember('a', 'A', 0, 40);
  memo.remember('b', 'B', 0, 40);
  assert.equal(memo.bytes, 80);
  memo.remember('c', 'C', 0, 40);
  assert.equal(memo.recall('a'), undefined);
  assert.equal(memo.recall('b'), 'B');
  assert.equal(memo.bytes, 80);
  memo.remember('b', 'B2', 0, 10);
  assert.equal(memo.bytes, 50, 'a key kept again counts once');
  memo.remember('huge', 'H', 0, 101);
  assert.equal(memo.recall('huge'), undefined);
  memo.forget('c');
  assert.equal(memo.bytes, 10);
});

test('what has run out goes when the next decision is kept, so an idle key holds no memory for long', async () => {
  const memo = new HitMemo<string>(() => 0, 1000);
  memo.remember('old', 'O', 0, 500);
  await new Promise((resolve) => setTimeout(resolve, reuseMs + 50));
  memo.remember('new', 'N', 0, 10);
  assert.equal(memo.size, 1);
  assert.equal(memo.bytes, 10);
});
