// Renders the text of a repository's Packages and Release files (Debian RepositoryFormat), with no I/O.
import { createHash } from 'node:crypto';
import { testMaintainer } from './deb-package-builder.ts';

export interface PackagesEntry {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly depends: string | undefined;
  readonly description: string;
  readonly installedSizeKiB: number;
  /** Path from the repository root, e.g. `pool/main/a/alpha/alpha_1.0_amd64.deb`. */
  readonly poolPath: string;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
}

export interface ReleaseFileEntry {
  /** Path relative to `dists/<suite>/`, e.g. `main/binary-amd64/Packages.xz`. */
  readonly path: string;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
}

export interface ReleaseFields {
  readonly origin: string;
  readonly label: string;
  readonly suite: string;
  readonly codename: string;
  readonly date: Date;
  readonly validUntil: Date | undefined;
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  readonly description: string;
  readonly acquireByHash: boolean;
  readonly files: readonly ReleaseFileEntry[];
}

/** One stanza per package, sorted by name then version so equal inputs give equal bytes. */
export function renderPackages(entries: readonly PackagesEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.name === b.name ? compare(a.version, b.version) : compare(a.name, b.name)));
  return sorted
    .map((p) =>
      [
        `Package: ${p.name}`,
        `Version: ${p.version}`,
        `Installed-Size: ${p.installedSizeKiB}`,
        `Maintainer: ${testMaintainer}`,
        `Architecture: ${p.arch}`,
        ...(p.depends === undefined ? [] : [`Depends: ${p.depends}`]),
        `Description: ${p.description}`,
        `Section: misc`,
        `Priority: optional`,
        `Filename: ${p.poolPath}`,
        `Size: ${p.size}`,
        `MD5sum: ${p.md5}`,
        `SHA256: ${p.sha256}`,
        '',
      ].join('\n'),
    )
    .join('\n');
}

// RepositoryFormat: "Date ... in the same format as the Date field in .changes files" (RFC 2822, UTC).
export function formatReleaseDate(date: Date): string {
  return date.toUTCString().replace(/GMT$/, 'UTC');
}

export function renderRelease(fields: ReleaseFields): string {
  const table = (title: string, hash: (f: ReleaseFileEntry) => string) => {
    const width = Math.max(0, ...fields.files.map((f) => String(f.size).length));
    return [`${title}:`, ...fields.files.map((f) => ` ${hash(f)} ${String(f.size).padStart(width)} ${f.path}`)];
  };
  return [
    `Origin: ${fields.origin}`,
    `Label: ${fields.label}`,
    `Suite: ${fields.suite}`,
    `Codename: ${fields.codename}`,
    `Date: ${formatReleaseDate(fields.date)}`,
    ...(fields.validUntil === undefined ? [] : [`Valid-Until: ${formatReleaseDate(fields.validUntil)}`]),
    `Architectures: ${fields.architectures.join(' ')}`,
    `Components: ${fields.components.join(' ')}`,
    `Description: ${fields.description}`,
    ...(fields.acquireByHash ? ['Acquire-By-Hash: yes'] : []),
    ...table('MD5Sum', (f) => f.md5),
    ...table('SHA256', (f) => f.sha256),
    '',
  ].join('\n');
}

export function digestsOf(bytes: Uint8Array): { md5: string; sha256: string } {
  return { md5: createHash('md5').update(bytes).digest('hex'), sha256: createHash('sha256').update(bytes).digest('hex') };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
