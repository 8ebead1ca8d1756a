// Damage to a stopped hoard's store as a failing disk makes it, and the offline check that must find it.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './command-runner.ts';
import { repoRoot, type HoardProcess } from './hoard-process.ts';

/** Flips one bit in the middle of the stored blob with this sha256 (hex), where the fs store keeps it. */
export async function flipBitInBlob(dataDir: string, sha256: string): Promise<void> {
  const blob = join(dataDir, 'blobs/sha256', sha256.slice(0, 2), sha256);
  const bytes = await readFile(blob);
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01;
  await writeFile(blob, bytes);
}

/** `hoard verify` over a stopped hoard's data dir and config, run as a user runs it (outside the test runner's context). */
export async function runHoardVerify(hoard: HoardProcess): Promise<CommandResult> {
  const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
  return runCommand(join(repoRoot, 'node_modules/.bin/node'), ['src/main.ts', 'verify', '--data-dir', hoard.dataDir, '--config', hoard.configPath ?? ''], {
    cwd: repoRoot,
    env,
  });
}
