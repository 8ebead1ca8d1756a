// Tests for configuration loading: defaults, precedence and the precision of error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHoardError } from '../errors.ts';
import { loadConfig, parseConfig } from './config-loader.ts';
import { parseSize } from './config-schema.ts';

test('defaults listen on 3142 with a 30 s index age', () => {
  const config = parseConfig({});
  assert.equal(config.listen, '0.0.0.0:3142');
  assert.equal(config.cache.indexMaxAgeSeconds, 30);
  assert.ok(config.allowedClients.includes('127.0.0.0/8'));
});

test('an invalid value is reported with its key and the value given', () => {
  assert.throws(
    () => parseConfig({ upstream: { idleTimeoutMs: -1 } }),
    (err: Error) => /upstream\.idleTimeoutMs: .*got -1/.test(err.message),
  );
  assert.throws(() => parseConfig({ nope: 1 }), /nope/);
  assert.throws(() => parseConfig({ backends: { debian: { mirrors: ['ftp://x'] } } }), /backends\.debian\.mirrors\.0/);
});

test('file < environment < flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoard-config-'));
  const file = join(dir, 'hoard.yaml');
  writeFileSync(file, 'listen: 127.0.0.1:1\ndataDir: /from/file\nlogLevel: warn\n');
  const { config } = loadConfig({ configPath: file, listen: '127.0.0.1:3' }, { HOARD_LISTEN: '127.0.0.1:2', HOARD_DATA_DIR: '/from/env' });
  assert.equal(config.listen, '127.0.0.1:3');
  assert.equal(config.dataDir, '/from/env');
  assert.equal(config.logLevel, 'warn');
});

test('a file that is not a mapping is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoard-config-'));
  const file = join(dir, 'hoard.yaml');
  writeFileSync(file, '- a\n- b\n');
  assert.throws(() => loadConfig({ configPath: file }, {}), /must hold a mapping/);
});

test('sizes', () => {
  assert.equal(parseSize('20GiB'), 20 * 1024 ** 3);
  assert.equal(parseSize('500MB'), 500e6);
  assert.equal(parseSize('42'), 42);
});

test('disk cap keys: sizes, water marks in order, booleans from the environment', () => {
  assert.equal(parseConfig({ cache: { maxSize: '2MiB' } }).cache.maxSize, 2 * 1024 ** 2);
  assert.equal(parseConfig({}).cache.maxSize, undefined);
  assert.throws(() => parseConfig({ cache: { maxSize: 'lots' } }), /cache\.maxSize: must be a size like 20GiB.*got "lots"/);
  assert.throws(() => parseConfig({ cache: { lowWaterPercent: 96 } }), /cache\.lowWaterPercent: lowWaterPercent must be below highWaterPercent/);
  assert.throws(() => parseConfig({ mdns: { enabled: 'yes' } }), /mdns\.enabled/);
  const { config } = loadConfig({}, { HOARD_MDNS: 'true', HOARD_MAX_SIZE: '1GB', HOARD_CONFIG: '/dev/null' });
  assert.equal(config.mdns.enabled, true);
  assert.equal(config.cache.maxSize, 1e9);
});

test('apt keys at the root (before protocol sections) keep working, with a warning saying where they go', () => {
  const warnings: string[] = [];
  const config = parseConfig({ backends: { debian: { mirrors: ['http://mirror.example/debian'] } }, strict: true, keyrings: ['/k.gpg'] }, 'old.yaml', warnings);
  assert.deepEqual(config.apt.backends.debian?.mirrors, ['http://mirror.example/debian']);
  assert.equal(config.apt.strict, true);
  assert.deepEqual(config.apt.keyrings, ['/k.gpg']);
  assert.deepEqual(warnings.sort(), [
    'backends: now read from apt.backends; move it under "apt:" (the root key still works for now)',
    'keyrings: now read from apt.keyrings; move it under "apt:" (the root key still works for now)',
    'strict: now read from apt.strict; move it under "apt:" (the root key still works for now)',
  ]);
});

test('the same apt key at the root and under apt: is refused, naming the one to keep', () => {
  assert.throws(
    () => parseConfig({ strict: true, apt: { strict: false } }),
    (err) => isHoardError(err, 'HOARD_ERR_CONFIG') && /strict: set both at the root and as apt\.strict; keep only apt\.strict/.test(err.message),
  );
});

test('download bounds: maxObjectSize derived from the disk cap or a fixed ceiling, checked against maxSize; the rate floor', () => {
  const defaults = parseConfig({});
  assert.equal(defaults.cache.maxObjectSize, 16 * 1024 ** 3, 'no cap: the fixed ceiling');
  assert.equal(defaults.upstream.minBytesPerSecond, 1024);
  assert.equal(defaults.upstream.slowWindowSeconds, 60);
  // The room eviction makes: (100 - lowWaterPercent)% of maxSize.
  assert.equal(parseConfig({ cache: { maxSize: '20GiB' } }).cache.maxObjectSize, Math.floor(20 * 1024 ** 3 * 0.15));
  assert.equal(parseConfig({ cache: { maxSize: '1000', highWaterPercent: 90, lowWaterPercent: 50 } }).cache.maxObjectSize, 500);
  assert.equal(parseConfig({ cache: { maxSize: '20GiB', maxObjectSize: '8GiB' } }).cache.maxObjectSize, 8 * 1024 ** 3);
  assert.equal(parseConfig({ cache: { maxObjectSize: '5MB' } }).cache.maxObjectSize, 5e6);
  assert.throws(() => parseConfig({ cache: { maxSize: '1GiB', maxObjectSize: '2GiB' } }), /cache\.maxObjectSize: maxObjectSize must not be above maxSize/);
  assert.throws(() => parseConfig({ cache: { maxObjectSize: 0 } }), /cache\.maxObjectSize: must be above 0, got 0/);
  assert.throws(() => parseConfig({ cache: { maxObjectSize: 'huge' } }), /cache\.maxObjectSize: must be a size like 20GiB.*got "huge"/);
  assert.throws(() => parseConfig({ upstream: { minBytesPerSecond: -1 } }), /upstream\.minBytesPerSecond: .*got -1/);
  assert.throws(() => parseConfig({ upstream: { slowWindowSeconds: 0 } }), /upstream\.slowWindowSeconds: .*got 0/);
  assert.equal(parseConfig({ upstream: { minBytesPerSecond: 0 } }).upstream.minBytesPerSecond, 0, '0 turns the floor off');
});
