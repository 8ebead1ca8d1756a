// The apt path table: what a request path is in an apt repository (package, by-hash, release, index) and whether it can change.
import { type HashAlgorithm, isHashAlgorithm } from './hash-algorithm.ts';
import { type Compression, compressionContentType, compressionOf } from './index-compression.ts';

export type AptPathKind = 'package' | 'by-hash' | 'release' | 'index' | 'dists-other';

export interface AptPathClass {
  /** The protocol seam's name for apt: a class is the policy the cache applies. */
  readonly protocol: 'apt';
  readonly kind: AptPathKind;
  /** False when the bytes at this path never change once published (cache forever, no revalidation). */
  readonly mutable: boolean;
  readonly contentType: string;
  /** Name of the table rule that matched, for logs and metrics. */
  readonly rule: string;
  /** Compression announced by the file name's suffix ('none' for by-hash names, whose content is unknown). */
  readonly compression: Compression;
  /** For by-hash paths: the algorithm and the lower-case hex digest the content must have. */
  readonly byHash?: { readonly algorithm: HashAlgorithm; readonly hex: string } | undefined;
  /**
   * The archive root (the directory holding `dists/` and `pool/`, e.g. `/debian/`), for paths under
   * one of them. Filename fields in Packages are relative to it.
   */
  readonly archiveRoot?: string | undefined;
  /**
   * For release, index, by-hash and dists-other paths: the directory of the Release file that lists
   * this file (e.g. `/debian/dists/bookworm/`), so the cache can look up its size and hashes.
   * See `locateRelease` for how it is found and where the guess can miss.
   */
  readonly releaseDir?: string | undefined;
  /** The path relative to `releaseDir`, as the Release file's checksum table spells it (e.g. `main/binary-amd64/Packages.xz`). */
  readonly releaseRelative?: string | undefined;
}

export interface AptPathRule {
  readonly name: string;
  /** 'refused' ends the search with "not an apt repository file", shielding later, looser rules. */
  readonly kind: AptPathKind | 'refused';
  readonly mutable: boolean;
  /** Tested against the whole normalized path. */
  readonly pattern: RegExp;
}

// Debian RepositoryFormat, on compression: an index may be published plain or compressed, named
// with the compressor's suffix; apt's Acquire::CompressionTypes knows gz, xz, bz2, lzma, zst, lz4.
const compressed = String.raw`(?:\.(?:gz|xz|bz2|lzma|zst|lz4))?`;
// Anything under a `dists/` directory, with at least one directory (the suite) in between.
const underDists = String.raw`^(?:/[^/]+)*/dists/(?:[^/]+/)+`;

/**
 * The table. Order is precedence: the first rule whose pattern matches decides. Each rule says why
 * it sits where it does; tests in path-class.test.ts pin every boundary.
 */
export const aptPathRules: readonly AptPathRule[] = [
  // 1. By-hash first: its names (hex digests) could otherwise fall through to dists-other, and they
  // are immutable by construction, the digest is the name.
  // Debian RepositoryFormat, "indices acquisition via hashsums (by-hash)": <dir>/by-hash/<Release
  // checksum field name>/<hex digest>, beside the index it stands for.
  {
    name: 'by-hash',
    kind: 'by-hash',
    mutable: false,
    pattern: /^(?:\/[^/]+)*\/by-hash\/(?:MD5Sum\/[0-9a-f]{32}|SHA1\/[0-9a-f]{40}|SHA256\/[0-9a-f]{64}|SHA512\/[0-9a-f]{128})$/,
  },
  // 2. Any other by-hash/ path (unknown algorithm, wrong length, upper case) is refused rather than
  // fetched as a mutable dists file: apt never asks for one.
  { name: 'by-hash-malformed', kind: 'refused', mutable: false, pattern: /\/by-hash\/[^/]+\/[^/]+$/ },
  // 3. Per-component Release files (dists/<suite>/main/binary-amd64/Release) are listed in, and
  // hashed by, the suite's Release: they are indices of that Release, not release files of their
  // own, so they must match before rule 4.
  // Debian RepositoryFormat, "Release" files: the suite's Release also lists the legacy
  // <component>/binary-<arch>/Release and <component>/source/Release files.
  {
    name: 'component-release',
    kind: 'index',
    mutable: true,
    pattern: new RegExp(`${underDists}(?:binary-[^/]+|source)/Release$`),
  },
  // 4. Release, InRelease and Release.gpg: under dists/<suite>/, or in any directory for a flat
  // repository (Debian RepositoryFormat, "Flat Repository Format": InRelease, Release and
  // Release.gpg sit in the directory given in sources.list).
  { name: 'release', kind: 'release', mutable: true, pattern: /^(?:\/[^/]+)*\/(?:InRelease|Release|Release\.gpg)$/ },
  // 5. Binary packages and source descriptions anywhere: flat repositories keep them beside their
  // Packages file, and dak-style archives under pool/. Their names carry name, version and
  // architecture, and the archive never republishes different bytes under the same name
  // (dak refuses such uploads), so they are immutable. Before the dists rules so that .udeb files
  // shipped in installer directories are packages too.
  { name: 'package', kind: 'package', mutable: false, pattern: /^(?:\/[^/]+)*\/[^/]+\.(?:deb|udeb|ddeb|dsc)$/ },
  // 6. The other parts of source packages and upload records, only under pool/ (elsewhere a
  // .tar.gz is no evidence of being an apt file). Debian Policy 5.4 (source package control files)
  // and dpkg-source: .orig.tar.*, .debian.tar.*, .diff.gz, detached .asc signatures of the tarballs.
  {
    name: 'pool-source',
    kind: 'package',
    mutable: false,
    pattern: /^(?:\/[^/]+)*\/pool\/(?:[^/]+\/)+[^/]+\.(?:tar(?:\.(?:gz|xz|bz2|lzma|zst))?(?:\.asc)?|diff\.gz|changes|buildinfo)$/,
  },
  // 7. PDiffs. Debian RepositoryFormat, diffs: <index>.diff/Index lists patches that sit beside it
  // as gzip-compressed files, whatever their names (apt takes them from the Index).
  {
    name: 'pdiff',
    kind: 'index',
    mutable: true,
    pattern: new RegExp(`${underDists}[^/]+\\.diff/(?:Index|[^/]+\\.gz)$`),
  },
  // 8. Debian RepositoryFormat, Translation indices: <component>/i18n/Index lists the Translation
  // files (it is never compressed).
  { name: 'i18n-index', kind: 'index', mutable: true, pattern: new RegExp(`${underDists}i18n/Index$`) },
  // 9. The indices under dists/, in any compression.
  // Debian RepositoryFormat: Packages (binary-<arch>/, debian-installer/binary-<arch>/), Sources
  // (source/), Translation-<lang> (i18n/), Contents-<arch> and Contents-udeb-<arch>; DEP-11
  // (AppStream) metadata: dep11/Components-<arch>.yml and dep11/icons-<size>[@<scale>].tar;
  // Ubuntu's command-not-found metadata: cnf/Commands-<arch>.
  {
    name: 'dists-index',
    kind: 'index',
    mutable: true,
    pattern: new RegExp(
      `${underDists}(?:Packages|Sources|Translation-[A-Za-z0-9_@-]+|Contents-[A-Za-z0-9_-]+|Components-[A-Za-z0-9_-]+\\.yml|icons-\\d+x\\d+(?:@\\d+)?\\.tar|Commands-[A-Za-z0-9_-]+)${compressed}$`,
    ),
  },
  // 10. Flat repositories: Debian RepositoryFormat, "Flat Repository Format": only Packages and
  // Sources are defined there (Translations, Contents and diffs are not), in any compression.
  // After rule 9 so that dists-style indices keep their dists-style release lookup.
  { name: 'flat-index', kind: 'index', mutable: true, pattern: new RegExp(`^(?:/[^/]+)*/(?:Packages|Sources)${compressed}$`) },
  // 11. Everything else under dists/<suite>/ (installer images, ChangeLog, SHA256SUMS): part of the
  // suite but not an index apt parses; kept mutable since installer "current" trees are rewritten.
  { name: 'dists-other', kind: 'dists-other', mutable: true, pattern: new RegExp(`${underDists}[^/]+$`) },
];

/**
 * Classifies a normalized request path (starts with `/`, percent-decoded, no `.`/`..` segments, no
 * empty segments). Returns undefined for anything that is not a file of an apt repository,
 * including paths that are not normalized, directory listings (trailing `/`) and control characters.
 */
/**
 * Classes already computed, by path: the table is a dozen regular expressions, and the same path is
 * classified on every request for it (by the HTTP edge and again by the verifier). Results are
 * read-only, so one object can be handed to every caller. Bounded: it starts over when full.
 */
const classified = new Map<string, AptPathClass | undefined>();
const maxClassified = 4096;

export function classifyAptPath(path: string): AptPathClass | undefined {
  const known = classified.get(path);
  if (known !== undefined || classified.has(path)) return known;
  const result = classifyUncached(path);
  if (classified.size >= maxClassified) classified.clear();
  classified.set(path, result);
  return result;
}

function classifyUncached(path: string): AptPathClass | undefined {
  if (!isNormalized(path)) return undefined;
  const rule = aptPathRules.find((candidate) => candidate.pattern.test(path));
  if (rule === undefined || rule.kind === 'refused') return undefined;
  const kind = rule.kind;
  const name = path.slice(path.lastIndexOf('/') + 1);
  const compression = kind === 'by-hash' ? 'none' : compressionOf(name);
  const result: {
    -readonly [K in keyof AptPathClass]: AptPathClass[K];
  } = { protocol: 'apt', kind, mutable: rule.mutable, contentType: contentTypeOf(kind, name, compression), rule: rule.name, compression };

  if (kind === 'by-hash') {
    const [algorithm = '', hex = ''] = path.split('/').slice(-2);
    if (isHashAlgorithm(algorithm)) result.byHash = { algorithm, hex };
  }
  const root = archiveRootOf(path);
  if (root !== undefined) result.archiveRoot = root;
  if (kind !== 'package') {
    const located = locateRelease(path, kind);
    result.releaseDir = located.releaseDir;
    result.releaseRelative = located.releaseRelative;
  }
  return result;
}

function isNormalized(path: string): boolean {
  if (!path.startsWith('/') || path.includes('//') || path.includes('\\')) return false;
  // Control characters (NUL included) never occur in archive file names.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return false;
  return !/(?:^|\/)\.{1,2}(?:\/|$)/.test(path);
}

// Debian RepositoryFormat: the archive root is the URI part before dists/ (and pool/ beside it).
// The first such segment wins: a source package may itself be named "pool" or "dists"
// (pool/main/p/pool/...), while an archive root containing one is unheard of.
function archiveRootOf(path: string): string | undefined {
  const match = /\/(?:dists|pool)\//.exec(path);
  return match === null ? undefined : path.slice(0, match.index + 1);
}

// Directories that appear only inside a component (dists/<suite>/<component>/<here>/...): finding
// one tells where the suite ends even when the suite name has slashes (dists/buster/updates/).
// Debian RepositoryFormat: binary-<arch>, source, i18n; DEP-11: dep11; Ubuntu: cnf;
// debian-installer: debian-installer/ and installer-<arch>/.
const componentSubdir = /^(?:binary-[^/]+|source|i18n|dep11|cnf|debian-installer|installer-[^/]+)$/;

/**
 * Which Release covers `path`, and under what relative name.
 * - Flat repositories (no dists/): the Release in the file's own directory (for by-hash: the
 *   directory holding by-hash/). Debian RepositoryFormat, "Flat Repository Format": the indices sit
 *   beside the Release. A parent directory is never assumed.
 * - Release files under dists/: their own directory.
 * - Other files under dists/: the suite ends before the component, the directory in front of the
 *   first component-only subdirectory (binary-amd64, i18n, dep11, ...), so
 *   dists/buster/updates/main/binary-amd64/Packages belongs to dists/buster/updates/. Without such
 *   a subdirectory (Contents-*, component by-hash/, ChangeLog) the suite is taken to be the one
 *   directory after dists/: right for every Debian and Ubuntu suite today, wrong only for
 *   slash-suites' files outside component subdirectories, and then the cache finds no entry in
 *   that Release and merely goes without an expected hash.
 */
function locateRelease(path: string, kind: AptPathKind): { releaseDir: string; releaseRelative: string } {
  // The directory the file is listed from: for by-hash names, the one holding by-hash/.
  const fileDir = kind === 'by-hash' ? path.slice(0, path.lastIndexOf('/by-hash/') + 1) : path.slice(0, path.lastIndexOf('/') + 1);
  const distsAt = fileDir.indexOf('/dists/');
  const base = fileDir.slice(0, distsAt + '/dists/'.length);
  // No dists/, or a file directly in dists/ with no suite: laid out as a flat repository.
  if (distsAt < 0 || fileDir === base) {
    return { releaseDir: fileDir, releaseRelative: path.slice(fileDir.length) };
  }
  const dirs = fileDir.slice(base.length, -1).split('/');
  let suiteLength = 1;
  if (kind === 'release') {
    suiteLength = dirs.length;
  } else {
    const anchor = dirs.findIndex((dir, i) => i >= 1 && componentSubdir.test(dir));
    if (anchor >= 2) suiteLength = anchor - 1;
  }
  const releaseDir = `${base}${dirs.slice(0, suiteLength).join('/')}/`;
  return { releaseDir, releaseRelative: path.slice(releaseDir.length) };
}

const octetStream = 'application/octet-stream';
const plainText = 'text/plain; charset=utf-8';

// Types clients and browsers can act on safely: text only for files known to be deb822 or
// plain-text lists; unknown dists files as bytes, so nothing fetched through hoard renders as HTML.
function contentTypeOf(kind: AptPathKind, name: string, compression: Compression): string {
  if (kind === 'by-hash') return octetStream;
  if (/\.(?:deb|udeb|ddeb)$/.test(name)) return 'application/vnd.debian.binary-package';
  if (name.endsWith('.asc') || name === 'Release.gpg') return 'application/pgp-signature';
  const byCompression = compressionContentType(compression);
  if (byCompression !== undefined) return byCompression;
  if (name.endsWith('.tar')) return 'application/x-tar';
  if (kind === 'dists-other') return octetStream;
  if (name.endsWith('.yml')) return 'application/yaml';
  return plainText;
}
