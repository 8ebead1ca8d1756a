// Tests of OriginTable: one Upstream per origin, built once, bounded as an LRU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Upstream } from './fetcher.ts';
import { OriginTable } from './origin-table.ts';

test('builds each origin once, keeps the most recently used within the bound', () => {
  const built: string[] = [];
  const table = new OriginTable((key): Upstream => {
    built.push(key);
    return { key, fetch: () => Promise.reject(new Error('unused')) };
  }, 2);
  const a = table.get('http://a.example');
  assert.equal(table.get('http://a.example'), a);
  table.get('http://b.example');
  table.get('http://a.example');
  table.get('http://c.example');
  assert.equal(table.size, 2);
  // b was the least recently used: asked again, it is built again; a survived.
  table.get('http://b.example');
  assert.deepEqual(built, ['http://a.example', 'http://b.example', 'http://c.example', 'http://b.example']);
  for (let i = 0; i < 10_000; i++) table.get(`http://h${i}.example`);
  assert.equal(table.size, 2);
});
