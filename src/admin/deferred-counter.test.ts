import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { DeferredCounter } from './deferred-counter.ts';

test('a scrape shows every increment counted since the last one, per label pair, and series seen with 0', async () => {
  const registry = new Registry();
  const counter = new DeferredCounter({ name: 't_requests_total', help: 'test', labelNames: ['protocol', 'result'], registers: [registry] });
  counter.inc('apt', 'miss', 0);
  counter.inc('apt', 'hit');
  counter.inc('apt', 'hit');
  counter.inc('oci', 'hit', 5);
  let text = await registry.metrics();
  assert.match(text, /t_requests_total\{protocol="apt",result="miss"\} 0\n/);
  assert.match(text, /t_requests_total\{protocol="apt",result="hit"\} 2\n/);
  assert.match(text, /t_requests_total\{protocol="oci",result="hit"\} 5\n/);
  counter.inc('apt', 'hit');
  text = await registry.metrics();
  assert.match(text, /t_requests_total\{protocol="apt",result="hit"\} 3\n/);
  // Read again with nothing new: the values stay, nothing is added twice.
  assert.equal(await registry.metrics(), text);
  const json = await registry.getMetricsAsJSON();
  const values = json.find((m) => m.name === 't_requests_total')?.values;
  assert.deepEqual(
    values?.map((v) => [v.labels, v.value]),
    [
      [{ protocol: 'apt', result: 'miss' }, 0],
      [{ protocol: 'apt', result: 'hit' }, 3],
      [{ protocol: 'oci', result: 'hit' }, 5],
    ],
  );
});

test('only two labels are accepted', () => {
  assert.throws(() => new DeferredCounter({ name: 't_one_total', help: 'test', labelNames: ['protocol'], registers: [] }));
});
