// Builds a real .deb with dpkg-deb whose payload is random, incompressible bytes of a chosen size.
import { randomBytes, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runChecked } from './command-runner.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export interface DebPackageSpec {
  /** Debian package name: lower case letters, digits, `+`, `-`, `.`. */
  readonly name: string;
  readonly version: string;
  /** Bytes of random payload; the .deb is this plus about 1 KB (gzip) or 20 KB (uncompressed tar padding). */
  readonly size: number;
  /** Defaults to the repository's architecture; `all` is allowed. */
  readonly arch?: string;
  /** A Depends field, e.g. `alpha (>= 1.0), beta`. */
  readonly depends?: string;
  readonly description?: string;
}

/**
 * `gzip` keeps tiny packages tiny but costs about 25 ms per MB of random data; `none` is nearly free
 * but tar pads to 10 KB records. `auto` uses gzip below 1 MiB of payload and none above.
 */
export type DebCompression = 'auto' | 'gzip' | 'none';

export interface BuiltDeb {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly depends: string | undefined;
  readonly description: string;
  /** Installed-Size in KiB, as dpkg counts it. */
  readonly installedSizeKiB: number;
  readonly filePath: string;
  readonly size: number;
  readonly sha256: string;
  readonly md5: string;
}

export const testMaintainer = 'Hoard Test Suite <tests@hoard.invalid>';

const namePattern = /^[a-z0-9][a-z0-9+.-]+$/;
const versionPattern = /^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*$/;

/** Throws on names and versions dpkg-deb would reject, before any file is written. */
export function checkDebPackageSpec(spec: DebPackageSpec): void {
  if (!namePattern.test(spec.name)) throw new Error(`package name ${JSON.stringify(spec.name)} is not a valid Debian package name`);
  if (!versionPattern.test(spec.version)) throw new Error(`version ${JSON.stringify(spec.version)} of ${spec.name} is not a valid Debian version`);
  if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new Error(`size of ${spec.name} must be a non-negative integer, got ${spec.size}`);
}

/** `name_version_arch.deb`, with the epoch dropped as the Debian archive does (no `:` in file names). */
export function debFileName(name: string, version: string, arch: string): string {
  return `${name}_${version.replace(/^[0-9]+:/, '')}_${arch}.deb`;
}

/** Builds the package and moves it to `outPath` (replacing any file there in one rename). */
export async function buildDebPackage(spec: DebPackageSpec, arch: string, outPath: string, compression: DebCompression = 'auto'): Promise<BuiltDeb> {
  checkDebPackageSpec(spec);
  const work = await makeTempDir('deb');
  try {
    const tree = join(work, 'tree');
    const payloadDir = join(tree, 'usr', 'share', 'hoard-test', spec.name);
    await mkdir(join(tree, 'DEBIAN'), { recursive: true });
    await mkdir(payloadDir, { recursive: true });
    // dpkg-deb refuses a control directory with group/other write bits, whatever the umask made.
    await chmod(join(tree, 'DEBIAN'), 0o755);
    await writeRandomFile(join(payloadDir, 'payload.bin'), spec.size);

    const installedSizeKiB = Math.max(1, Math.ceil(spec.size / 1024));
    const description = spec.description ?? `hoard test package ${spec.name}`;
    const control = [
      `Package: ${spec.name}`,
      `Version: ${spec.version}`,
      `Architecture: ${arch}`,
      `Maintainer: ${testMaintainer}`,
      `Installed-Size: ${installedSizeKiB}`,
      ...(spec.depends === undefined ? [] : [`Depends: ${spec.depends}`]),
      'Section: misc',
      'Priority: optional',
      `Description: ${description}`,
      ` Random payload of ${spec.size} bytes, made by hoard's test bed.`,
      '',
    ].join('\n');
    await writeFile(join(tree, 'DEBIAN', 'control'), control, { mode: 0o644 });

    const useGzip = compression === 'gzip' || (compression === 'auto' && spec.size < 1024 * 1024);
    await mkdir(dirname(outPath), { recursive: true });
    // Built beside its destination so the final rename never crosses file systems.
    const built = `${outPath}.${process.pid}-${randomBytes(4).toString('hex')}.partial`;
    try {
      await runChecked('dpkg-deb', ['--root-owner-group', ...(useGzip ? ['-Zgzip', '-z9'] : ['-Znone']), '--build', tree, built], { timeoutMs: 120_000 });
      await rename(built, outPath);
    } finally {
      await rm(built, { force: true });
    }
    const { size } = await stat(outPath);
    const hashes = await hashFile(outPath);
    return {
      name: spec.name,
      version: spec.version,
      arch,
      depends: spec.depends,
      description,
      installedSizeKiB,
      filePath: outPath,
      size,
      sha256: hashes.sha256,
      md5: hashes.md5,
    };
  } finally {
    await removeDir(work);
  }
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  const file = await open(path, 'w', 0o644);
  try {
    const chunk = 1024 * 1024;
    for (let written = 0; written < size; written += chunk) {
      await file.write(randomBytes(Math.min(chunk, size - written)));
    }
  } finally {
    await file.close();
  }
}

/** SHA-256 and MD5 of a file, streamed so multi-MB packages are not held in memory. */
export async function hashFile(path: string): Promise<{ sha256: string; md5: string }> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  for await (const chunk of createReadStream(path)) {
    sha256.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}
