import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pino } from 'pino';
import type { RequestEvent } from '../events.ts';
import { IsoTimeCache, requestLogLine } from './request-log-line.ts';

/** The line pino itself writes for the same event, with the options hoard's logger uses. */
function pinoLine(e: RequestEvent, iso: string): string {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString('utf8');
      cb();
    },
  });
  const logger = pino({ level: 'info', base: null, timestamp: () => `,"time":"${iso}"` }, sink);
  logger.info(
    {
      client: e.client,
      method: e.method,
      target: e.target,
      result: e.result,
      status: e.status,
      bytes: e.bytes,
      ms: Math.round(e.durationMs),
      upstream: e.upstream,
      code: e.errorCode,
    },
    'request',
  );
  return out;
}

const event = fc.record(
  {
    client: fc.string(),
    method: fc.constantFrom('GET', 'HEAD', 'CONNECT'),
    target: fc.string({ unit: 'binary' }),
    result: fc.constantFrom('hit', 'miss', 'refused'),
    status: fc.integer({ min: 100, max: 599 }),
    bytes: fc.nat(),
    durationMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
    upstream: fc.option(fc.string(), { nil: undefined }),
    errorCode: fc.option(fc.string(), { nil: undefined }),
  },
  { requiredKeys: ['client', 'method', 'target', 'result', 'status', 'bytes', 'durationMs'] },
);

test('the hand-built request line is byte for byte the line pino writes, for any strings', () => {
  const iso = '2026-11-30T02:00:00.123Z';
  fc.assert(
    fc.property(event, (e) => {
      assert.equal(requestLogLine(e, iso), pinoLine(e, iso));
    }),
    { numRuns: 500 },
  );
});

test('a line with quotes, control characters and no upstream parses back to the event', () => {
  const e: RequestEvent = {
    client: '::1',
    method: 'GET',
    target: '/a"b\\c\n\u0001é',
    result: 'error',
    status: 502,
    bytes: 0,
    durationMs: 12.6,
    errorCode: 'HOARD_ERR_X',
  };
  const parsed = JSON.parse(requestLogLine(e, '2026-11-30T00:00:00.000Z')) as Record<string, unknown>;
  assert.deepEqual(parsed, {
    level: 30,
    time: '2026-11-30T00:00:00.000Z',
    client: '::1',
    method: 'GET',
    target: e.target,
    result: 'error',
    status: 502,
    bytes: 0,
    ms: 13,
    code: 'HOARD_ERR_X',
    msg: 'request',
  });
});

test('the time cache gives the ISO time of the millisecond asked for', () => {
  const times = new IsoTimeCache();
  assert.equal(times.now(0), '1970-01-01T00:00:00.000Z');
  assert.equal(times.now(0), '1970-01-01T00:00:00.000Z');
  assert.equal(times.now(1_764_460_800_001), new Date(1_764_460_800_001).toISOString());
  // Within one second, across seconds, backwards, before 1970 and past year 9999.
  const samples = [1_764_460_800_010, 1_764_460_800_999, 1_764_460_801_000, 1_764_460_801_123, 1_764_460_800_100, -1, -1001, -999, 253_402_300_800_005, 5];
  for (const ms of samples) assert.equal(times.now(ms), new Date(ms).toISOString(), String(ms));
  fc.assert(fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => times.now(ms) === new Date(ms).toISOString()));
});
