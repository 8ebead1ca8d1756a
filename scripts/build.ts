// Compiles src/ to dist/ (plain JavaScript) for bin/hoard: a serving process then loads no TypeScript
// stripper, about 20 MB less resident memory (docs/performance.md). bin/hoard runs src/ directly
// whenever dist/ is missing or older than any source file, so a stale build is never run.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.built');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function newestSource(dir: string): number {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

if (process.argv.includes('--if-stale') && existsSync(stamp) && statSync(stamp).mtimeMs >= newestSource(src)) process.exit(0);
if (!existsSync(tsc)) {
  // Installed without dev dependencies: bin/hoard runs the TypeScript sources directly instead.
  console.error('hoard build: typescript is not installed, dist/ not built; bin/hoard runs src/ directly');
  process.exit(0);
}
rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
// The dashboard's script is read from beside the compiled admin routes, as from beside the sources.
cpSync(join(src, 'admin', 'assets'), join(dist, 'admin', 'assets'), { recursive: true });
writeFileSync(stamp, `${new Date().toISOString()}\n`);
