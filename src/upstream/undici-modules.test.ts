// The undici modules the fetcher loads by internal path are the very classes and functions the package's index exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type * as Undici from 'undici';
import UndiciAgent from 'undici/lib/dispatcher/agent.js';
import undiciRequest from 'undici/lib/api/api-request.js';
import buildConnector from 'undici/lib/core/connect.js';

// http-fetcher.ts skips undici's index (3-6 MB resident) and loads three modules by path; those paths are
// not undici's public API, so package.json pins the exact version and this test fails when an update
// moves them or they stop being what the index exports. Loading the index here costs the test, not hoard.
const require = createRequire(import.meta.url);

test('package.json pins the exact undici version that is installed', () => {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  const installed = (require('undici/package.json') as { version: string }).version;
  assert.match(manifest.dependencies.undici ?? '', /^\d+\.\d+\.\d+$/, 'an exact version, no range: the internal paths are only known for that one');
  assert.equal(manifest.dependencies.undici, installed);
});

test('the internal modules are the index exports: Agent, Dispatcher#request and buildConnector', () => {
  const index = require('undici') as typeof Undici;
  assert.equal(UndiciAgent, index.Agent);
  assert.equal(buildConnector, index.buildConnector);
  assert.equal(undiciRequest, Object.getOwnPropertyDescriptor(index.Dispatcher.prototype, 'request')?.value);
  assert.equal(typeof undiciRequest, 'function');
});

test('the modules loaded for an outbound proxy are the index exports: ProxyAgent, Pool and Dispatcher#connect', () => {
  const index = require('undici') as typeof Undici;
  assert.equal(require('undici/lib/dispatcher/proxy-agent.js'), index.ProxyAgent);
  assert.equal(require('undici/lib/dispatcher/pool.js'), index.Pool);
  assert.equal(require('undici/lib/api/api-connect.js'), Object.getOwnPropertyDescriptor(index.Dispatcher.prototype, 'connect')?.value);
});
