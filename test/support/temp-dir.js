// Scratch directories for test helpers: one per owner under the OS temp dir, removed by that owner.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
/** A fresh empty directory named after its purpose, so a leftover one says who leaked it. */
export async function makeTempDir(purpose) {
    return mkdtemp(join(tmpdir(), `hoard-${purpose}-`));
}
export async function removeDir(path) {
    await rm(path, { recursive: true, force: true, maxRetries: 3 });
}
