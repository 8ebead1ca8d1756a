// What a serving hoard loads: packages a configuration does not use stay unloaded until they are used.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HoardProcess } from '../support/hoard-process.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

/** A module hook that records every URL resolved, written to `out` when the process exits. */
function recorderSource(out: string): string {
  return [
    "import { registerHooks } from 'node:module';",
    "import { writeFileSync } from 'node:fs';",
    'const urls = new Set();',
    'registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); urls.add(r.url); return r; } });',
    `process.on('exit', () => writeFileSync(${JSON.stringify(out)}, JSON.stringify([...urls])));`,
  ].join('\n');
}

/** The npm packages among resolved URLs (`@scope/name` or `name`). */
function packagesOf(urls: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const url of urls) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (match?.[1] !== undefined) names.add(match[1]);
  }
  return names;
}

describe('module loading', () => {
  let dir: string;
  let hoard: HoardProcess;
  let loaded: Set<string>;

  before(async () => {
    dir = await makeTempDir('module-loading');
    const hook = join(dir, 'record-modules.mjs');
    const out = join(dir, 'modules.json');
    await writeFile(hook, recorderSource(out));
    // No config file: the defaults, as `hoard serve` runs on a machine without /etc/hoard/hoard.yaml.
    hoard = await HoardProcess.start({ env: { NODE_OPTIONS: `--import ${hook}` } });
    const health = await fetch(`${hoard.url}/_hoard/health`);
    assert.equal(health.status, 200);
    await hoard.stop();
    loaded = packagesOf(JSON.parse(await readFile(out, 'utf8')) as string[]);
  });

  after(async () => {
    await hoard?.cleanup();
    if (dir !== undefined) await removeDir(dir);
  });

  test('the serving core is loaded (the recorder works)', () => {
    for (const name of ['undici', 'pino', 'zod']) assert.ok(loaded.has(name), `${name} not loaded: ${[...loaded].join(', ')}`);
  });

  test('the S3 store, OpenPGP, the xz decoder, mDNS and x509 wait until a configuration or a request uses them', () => {
    const unused = ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@smithy/core', 'openpgp', 'xz-decompress', 'multicast-dns', '@peculiar/x509'];
    // The YAML parser is needed only for a config file, which a machine may have at the default path.
    if (!existsSync('/etc/hoard/hoard.yaml')) unused.push('yaml');
    const early = unused.filter((name) => loaded.has(name));
    assert.deepEqual(early, [], `loaded at start-up: ${early.join(', ')}`);
  });
});
