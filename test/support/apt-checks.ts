// The check most apt suites make: update and download through the cache, each .deb byte for byte the repository's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { AptClient } from './apt-client.ts';
import type { SignedRepo } from './signed-repo-builder.ts';

/** `apt-get update` without warnings, then `apt-get download` of `packages` without warnings; every file equals the original. */
export async function updateAndDownloadVerbatim(apt: AptClient, repo: SignedRepo, packages: readonly string[]): Promise<void> {
  const update = await apt.update();
  assert.equal(update.exitCode, 0, update.stdout + update.stderr);
  assert.deepEqual(update.warnings, [], update.stderr);
  const download = await apt.download(packages);
  assert.equal(download.exitCode, 0, download.stdout + download.stderr);
  assert.deepEqual([...download.warnings, ...download.errors], [], download.stderr);
  assert.equal(download.debs.length, packages.length);
  for (const deb of download.debs) {
    const original = repo.packages.find((p) => basename(deb).startsWith(`${p.name}_`));
    assert.ok(original, `unexpected file ${deb}`);
    assert.equal(
      createHash('sha256')
        .update(await readFile(deb))
        .digest('hex'),
      original.sha256,
      `${deb} differs from the original`,
    );
  }
}
