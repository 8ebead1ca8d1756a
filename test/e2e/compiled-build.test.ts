// bin/hoard runs the compiled build (dist/) when it is current and the TypeScript sources when it is not.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { findFreePort, repoRoot, withoutProxyVariables } from '../support/hoard-process.ts';
import { runChecked } from '../support/command-runner.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const node = join(repoRoot, 'node_modules/.bin/node');
const stamp = join(repoRoot, 'dist/.built');

before(async () => {
  await runChecked(node, ['scripts/build.ts', '--if-stale'], { cwd: repoRoot, timeoutMs: 120_000 });
});

/** Starts `bin/hoard serve`, returns the script Node runs and what the dashboard's own script looks like from outside. */
async function startAndProbe(): Promise<{ entry: string; health: number; dashboardJs: number; dashboardType: string }> {
  const dataDir = await makeTempDir('hoard-build-');
  const port = await findFreePort();
  const child = spawn(join(repoRoot, 'bin/hoard'), ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    stdio: 'ignore',
    env: { ...withoutProxyVariables(process.env), HOARD_CONFIG: '/dev/null' },
  });
  try {
    let health = 0;
    for (let i = 0; i < 150 && health === 0; i++) {
      try {
        health = (await fetch(`http://127.0.0.1:${port}/_hoard/health`)).status;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // bin/hoard execs Node: the child's command line is Node's, with the script it chose.
    const args = readFileSync(`/proc/${child.pid ?? 0}/cmdline`, 'utf8').split('\0');
    const entry = args.find((a) => a.endsWith('main.js') || a.endsWith('main.ts')) ?? '';
    const js = await fetch(`http://127.0.0.1:${port}/_hoard/assets/dashboard.js`);
    await js.arrayBuffer();
    return { entry, health, dashboardJs: js.status, dashboardType: js.headers.get('content-type') ?? '' };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await removeDir(dataDir);
  }
}

test('with a current build, bin/hoard serves from dist/, dashboard assets included', async () => {
  const probe = await startAndProbe();
  assert.equal(probe.entry, join(repoRoot, 'dist/main.js'));
  assert.equal(probe.health, 200);
  assert.equal(probe.dashboardJs, 200);
  assert.match(probe.dashboardType, /javascript/);
});

test('a build older than the sources is never run: bin/hoard falls back to src/', async () => {
  const { atime, mtime } = statSync(stamp);
  utimesSync(stamp, new Date(0), new Date(0));
  try {
    const probe = await startAndProbe();
    assert.equal(probe.entry, join(repoRoot, 'src/main.ts'));
    assert.equal(probe.health, 200);
  } finally {
    utimesSync(stamp, atime, mtime);
  }
});
