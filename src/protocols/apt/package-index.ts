// Packages and Sources paragraphs -> the pool files they describe (path from the archive root, size, digests).
import { AptFormatError } from './apt-format-error.ts';
import { type Deb822Paragraph, fieldLines } from './deb822.ts';
import { type HashAlgorithm, isHexDigest } from './hash-algorithm.ts';
import { isSafeRelativePath } from './release-file.ts';

/** One file of the pool as an index describes it. Hex digests are lower case. */
export interface PackageFile {
  /** Relative to the archive root, e.g. `pool/main/h/hello/hello_2.10-3_amd64.deb`. */
  readonly path: string;
  readonly size: number;
  readonly sha256?: string | undefined;
  readonly sha512?: string | undefined;
  readonly sha1?: string | undefined;
  readonly md5?: string | undefined;
}

interface MutableFile {
  path: string;
  size: number;
  sha256?: string;
  sha512?: string;
  sha1?: string;
  md5?: string;
}

// Debian RepositoryFormat, "Packages" indices: Filename, Size and the MD5sum/SHA1/SHA256/SHA512
// fields describe the one .deb of each paragraph (field names match without regard to case).
const packagesDigestFields: readonly [string, HashAlgorithm, keyof PackageFile][] = [
  ['SHA256', 'SHA256', 'sha256'],
  ['SHA512', 'SHA512', 'sha512'],
  ['SHA1', 'SHA1', 'sha1'],
  ['MD5sum', 'MD5Sum', 'md5'],
];

/** The package file of one Packages paragraph. Throws AptFormatError when Filename or Size is missing or malformed. */
export function packageFilesFromPackages(paragraph: Deb822Paragraph): PackageFile {
  const filename = paragraph.get('Filename');
  if (filename === undefined) throw new AptFormatError('Packages paragraph has no Filename', paragraph.line);
  const path = archiveRelativePath(filename, paragraph);
  const file: MutableFile = { path, size: parseSize(paragraph.get('Size'), path, paragraph) };
  for (const [field, algorithm, key] of packagesDigestFields) {
    const value = paragraph.get(field);
    if (value === undefined) continue;
    const hex = value.toLowerCase();
    if (!isHexDigest(algorithm, hex)) throw new AptFormatError(`${field} of ${path} is not a ${algorithm} digest`, paragraph.line);
    file[key as 'sha256' | 'sha512' | 'sha1' | 'md5'] = hex;
  }
  return file;
}

// Debian Policy 5.6.21 (Files) and 5.6.24 (Checksums-Sha1, Checksums-Sha256), plus Checksums-Sha512
// where an archive writes it: one "digest size name" line per file. Debian RepositoryFormat, "Sources"
// indices: the names are relative to Directory, itself relative to the archive root.
const sourcesDigestFields: readonly [string, HashAlgorithm, 'sha256' | 'sha512' | 'sha1' | 'md5'][] = [
  ['Checksums-Sha256', 'SHA256', 'sha256'],
  ['Checksums-Sha512', 'SHA512', 'sha512'],
  ['Checksums-Sha1', 'SHA1', 'sha1'],
  ['Files', 'MD5Sum', 'md5'],
];

/**
 * The files of one Sources paragraph (.dsc, tarballs, diffs), with every digest the paragraph
 * gives. Throws AptFormatError when Directory is missing, a name escapes it, or sizes disagree.
 */
export function packageFilesFromSources(paragraph: Deb822Paragraph): PackageFile[] {
  const directory = paragraph.get('Directory');
  if (directory === undefined) throw new AptFormatError('Sources paragraph has no Directory', paragraph.line);
  const dir = stripDotSlash(directory);
  const files = new Map<string, MutableFile>();
  for (const [field, algorithm, key] of sourcesDigestFields) {
    const value = paragraph.get(field);
    if (value === undefined) continue;
    for (const line of fieldLines(value)) {
      const parts = line.split(/\s+/);
      const [digest, sizeText, name] = parts;
      if (parts.length !== 3 || digest === undefined || name === undefined) {
        throw new AptFormatError(`${field} entry is not "digest size name": ${JSON.stringify(line)}`, paragraph.line);
      }
      if (name.includes('/')) throw new AptFormatError(`${field} names a file outside Directory: ${name}`, paragraph.line);
      const path = archiveRelativePath(dir === '' || dir === '.' ? name : `${dir}/${name}`, paragraph);
      const size = parseSize(sizeText, path, paragraph);
      const hex = digest.toLowerCase();
      if (!isHexDigest(algorithm, hex)) throw new AptFormatError(`${field} of ${name} is not a ${algorithm} digest`, paragraph.line);
      let file = files.get(path);
      if (file === undefined) {
        file = { path, size };
        files.set(path, file);
      } else if (file.size !== size) {
        throw new AptFormatError(`${name} is listed with sizes ${file.size} and ${size}`, paragraph.line);
      }
      file[key] = hex;
    }
  }
  return [...files.values()];
}

/**
 * The archive root of a Release directory: `/debian/dists/bookworm/` -> `/debian/`, and for suites
 * with a slash `/debian-security/dists/buster/updates/` -> `/debian-security/`.
 * Debian RepositoryFormat: Filename (and Directory) are relative to the archive root, the part of
 * the URI before `dists/`.
 * A flat repository (no `dists/` in the path) gets its own directory back: that is right for the
 * usual `deb uri ./` source, but with `deb uri sub/dir/` apt resolves Filename against `uri`,
 * which the path alone cannot reveal.
 */
export function archiveRoot(releaseDir: string): string {
  const dir = releaseDir.endsWith('/') ? releaseDir : `${releaseDir}/`;
  // The first dists/ segment, as in path-class.ts: the archive root itself never contains one.
  const at = dir.indexOf('/dists/');
  return at < 0 ? dir : dir.slice(0, at + 1);
}

/** The request path of a pool file: archive root joined with its Filename. */
export function archivePath(root: string, relativePath: string): string {
  return `${root.endsWith('/') ? root : `${root}/`}${relativePath}`;
}

function stripDotSlash(path: string): string {
  let rest = path;
  while (rest.startsWith('./')) rest = rest.slice(2);
  return rest.replace(/\/+$/, '');
}

// Flat repositories commonly write `Filename: ./name.deb`; the leading `./` names the archive root
// itself. Anything that would climb out of the root (`..`, absolute) is refused, since the result
// becomes a request path and a cache key.
function archiveRelativePath(raw: string, paragraph: Deb822Paragraph): string {
  const path = stripDotSlash(raw.trim());
  if (!isSafeRelativePath(path)) throw new AptFormatError(`unsafe file path ${JSON.stringify(raw)}`, paragraph.line);
  return path;
}

function parseSize(text: string | undefined, path: string, paragraph: Deb822Paragraph): number {
  if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new AptFormatError(`size of ${path} is missing or invalid: ${JSON.stringify(text)}`, paragraph.line);
  }
  return Number(text);
}
