// Release and InRelease files: splitting the clear-signed form, reading the fields, and the table of index checksums.
import { AptFormatError } from './apt-format-error.ts';
import { type Deb822Paragraph, fieldLines, parseDeb822 } from './deb822.ts';
import { type HashAlgorithm, hashAlgorithms, hexLength, isHashAlgorithm, isHexDigest } from './hash-algorithm.ts';

export interface ClearsignedParts {
  /**
   * The signed text with dash-escaping undone. RFC 4880 section 7.1: the line ending before the
   * signature block is not part of the signed text, so there is no final newline.
   */
  readonly text: string;
  /** The `Hash:` armor header values (e.g. ['SHA512']), in order. */
  readonly hashHeaders: readonly string[];
  /** The armored signature block(s), BEGIN and END lines included, each line ending in `\n`. */
  readonly signature: string;
}

const beginMessage = '-----BEGIN PGP SIGNED MESSAGE-----';
const beginSignature = '-----BEGIN PGP SIGNATURE-----';
const endSignature = '-----END PGP SIGNATURE-----';

/**
 * Splits an InRelease file into its signed text and signature, or returns undefined when the text
 * is not clear-signed at all (a plain Release). Throws AptFormatError on anything apt would refuse.
 * The signature is not verified here: hoard passes signatures through and lets apt judge them.
 */
export function splitClearsigned(input: string): ClearsignedParts | undefined {
  // RFC 4880 section 7.1: trailing whitespace on a line is not part of the signed text (and CRLF
  // files are the same message as LF ones).
  const lines = input.split('\n').map((line) => line.trimEnd());
  if (lines.at(-1) === '') lines.pop();
  let i = 0;
  if (lines[0] !== beginMessage) {
    // apt (SplitClearSignedFile): a signed block further down means someone put unsigned text in
    // front of it, to be read by a parser that skips to the block while gpgv checks the block.
    if (lines.includes(beginMessage)) {
      throw new AptFormatError('clear-signed file does not start with a signed message block');
    }
    return undefined;
  }
  i += 1;

  const hashHeaders: string[] = [];
  for (; ; i += 1) {
    const line = lines[i];
    if (line === undefined) throw new AptFormatError('clear-signed file ends inside its armor headers', i + 1);
    if (line === '') break;
    // apt: no armor header starts with a dash; such a line is an attempt to confuse parsers.
    if (line.startsWith('-')) throw new AptFormatError('unexpected line starting with a dash in the armor headers', i + 1);
    if (line.startsWith('Hash: ')) hashHeaders.push(line.slice('Hash: '.length));
  }
  i += 1;

  const text: string[] = [];
  for (; ; i += 1) {
    const line = lines[i];
    if (line === undefined) throw new AptFormatError('clear-signed file has no signature block', i + 1);
    if (line === beginSignature) break;
    if (line.startsWith('-')) {
      // RFC 4880 section 7.1: lines starting with a dash are escaped as "- "; apt refuses any other
      // line with a leading dash in the signed part rather than guess what gpgv made of it.
      if (!line.startsWith('- ')) throw new AptFormatError('unexpected line starting with a dash in the signed text', i + 1);
      text.push(line.slice(2));
    } else {
      text.push(line);
    }
  }

  // apt: after the signed text come one or more signature blocks and nothing else, so no unsigned
  // line can be taken for part of the message.
  const signature: string[] = [];
  let open = false;
  for (; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (open) {
      if (line === endSignature) open = false;
      else if (line.startsWith('-')) throw new AptFormatError('unexpected line starting with a dash in the signature', i + 1);
    } else if (line === beginSignature) {
      open = true;
    } else {
      throw new AptFormatError('clear-signed file contains unsigned lines after the signature', i + 1);
    }
    signature.push(line);
  }
  if (open) throw new AptFormatError('signature block is not closed');
  return { text: text.join('\n'), hashHeaders, signature: signature.map((line) => `${line}\n`).join('') };
}

/** What the Release file says about one file it covers. Hex digests are lower case. */
export interface ReleaseEntry {
  readonly size: number;
  readonly md5?: string | undefined;
  readonly sha1?: string | undefined;
  readonly sha256?: string | undefined;
  readonly sha512?: string | undefined;
}

export interface ReleaseFile {
  /** The whole paragraph, for fields not modelled below. */
  readonly paragraph: Deb822Paragraph;
  readonly origin: string | undefined;
  readonly label: string | undefined;
  readonly suite: string | undefined;
  readonly codename: string | undefined;
  readonly version: string | undefined;
  readonly date: Date | undefined;
  /** After this instant apt refuses the Release (and so should a cache serving it as fresh). */
  readonly validUntil: Date | undefined;
  /** Whether indices may be fetched under by-hash/ names (the archive keeps old ones there). */
  readonly acquireByHash: boolean;
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  /** True when architecture `all` packages are listed only in per-architecture Packages files. */
  readonly noSupportForArchitectureAll: boolean;
  readonly notAutomatic: boolean;
  readonly butAutomaticUpgrades: boolean;
  /** OpenPGP fingerprints that must sign the next Release, when given. */
  readonly signedBy: readonly string[];
  /** Checksums and sizes by path relative to the Release file's directory. */
  readonly files: ReadonlyMap<string, ReleaseEntry>;
}

const entryKey: Readonly<Record<HashAlgorithm, 'md5' | 'sha1' | 'sha256' | 'sha512'>> = {
  MD5Sum: 'md5',
  SHA1: 'sha1',
  SHA256: 'sha256',
  SHA512: 'sha512',
};

/**
 * Parses a Release file, or an InRelease file (the clear-signed wrapper is split off first, its
 * signature unchecked). Throws AptFormatError on malformed input.
 */
export function parseRelease(input: string): ReleaseFile {
  const signed = splitClearsigned(input);
  // A Release is one paragraph whose checksum fields list every index of the suite (over 500 KB on
  // large archives): the field and paragraph bounds of indices do not fit it. Its callers read it
  // whole and bound its size, so the text itself is the bound here.
  const paragraphs = parseDeb822(signed === undefined ? input : signed.text, { maxFieldLength: Infinity, maxParagraphLength: Infinity });
  // Debian RepositoryFormat, "Release" files: a Release file is a single deb822 paragraph.
  const [paragraph, extra] = paragraphs;
  if (paragraph === undefined) throw new AptFormatError('Release file is empty');
  if (extra !== undefined) throw new AptFormatError('Release file has more than one paragraph', extra.line);

  return {
    paragraph,
    origin: paragraph.get('Origin'),
    label: paragraph.get('Label'),
    suite: paragraph.get('Suite'),
    codename: paragraph.get('Codename'),
    version: paragraph.get('Version'),
    date: optionalDate(paragraph, 'Date'),
    validUntil: optionalDate(paragraph, 'Valid-Until'),
    // Debian RepositoryFormat, Acquire-By-Hash: "yes" means by-hash locations are available.
    acquireByHash: paragraph.get('Acquire-By-Hash') === 'yes',
    architectures: words(paragraph.get('Architectures')),
    components: words(paragraph.get('Components')),
    // Debian RepositoryFormat, No-Support-for-Architecture-all: the only defined value is "Packages".
    noSupportForArchitectureAll: paragraph.get('No-Support-for-Architecture-all') === 'Packages',
    notAutomatic: paragraph.get('NotAutomatic') === 'yes',
    butAutomaticUpgrades: paragraph.get('ButAutomaticUpgrades') === 'yes',
    // Debian RepositoryFormat, Signed-By: a comma separated list of fingerprints.
    signedBy: (paragraph.get('Signed-By') ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
    files: checksumTable(paragraph),
  };
}

function words(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(/\s+/).filter((word) => word !== '');
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function optionalDate(paragraph: Deb822Paragraph, field: string): Date | undefined {
  const value = paragraph.get(field);
  if (value === undefined) return undefined;
  const date = parseReleaseDate(value);
  if (date === undefined) throw new AptFormatError(`${field} is not an RFC 2822 date: ${JSON.stringify(value)}`, paragraph.line);
  return date;
}

/**
 * Parses a Release date ("Sat, 10 Jun 2023 09:15:02 UTC"). Debian RepositoryFormat, Date: the
 * format of `date -R -u`, with the zone one of +0000, UTC, GMT or Z; other numeric offsets are
 * accepted too, as apt does, and converted.
 */
export function parseReleaseDate(value: string): Date | undefined {
  const match = /^(?:[A-Z][a-z]{2}, +)?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (UTC|GMT|Z|[+-]\d{4})$/.exec(value.trim());
  if (match === null) return undefined;
  const [, day, monthName, year, hours, minutes, seconds, zone] = match;
  const month = months.indexOf(monthName ?? '');
  if (month < 0) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && /^[+-]/.test(zone)) {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
  }
  const ms = Date.UTC(Number(year), month, Number(day), Number(hours), Number(minutes), Number(seconds));
  const date = new Date(ms - offsetMinutes * 60_000);
  // Reject dates Date.UTC silently rolled over (31 Feb, 25:00).
  if (new Date(ms).getUTCDate() !== Number(day) || Number(hours) > 23 || Number(minutes) > 59 || Number(seconds) > 60) return undefined;
  return date;
}

interface MutableEntry {
  size: number;
  md5?: string;
  sha1?: string;
  sha256?: string;
  sha512?: string;
}

function checksumTable(paragraph: Deb822Paragraph): Map<string, ReleaseEntry> {
  const table = new Map<string, MutableEntry>();
  for (const algorithm of hashAlgorithms) {
    const value = paragraph.get(algorithm);
    if (value === undefined) continue;
    // Debian RepositoryFormat, MD5Sum/SHA1/SHA256/SHA512: one line per file, "hash size path", with
    // the path relative to the directory of the Release file.
    for (const line of fieldLines(value)) {
      const parts = line.split(/\s+/);
      const [hex, sizeText, path] = parts;
      if (parts.length !== 3 || hex === undefined || sizeText === undefined || path === undefined) {
        throw new AptFormatError(`${algorithm} entry is not "hash size path": ${JSON.stringify(line)}`, paragraph.line);
      }
      const digest = hex.toLowerCase();
      if (!isHexDigest(algorithm, digest)) {
        throw new AptFormatError(`${algorithm} entry for ${path} is not ${hexLength[algorithm]} hex digits`, paragraph.line);
      }
      if (!/^\d+$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
        throw new AptFormatError(`${algorithm} entry for ${path} has an invalid size ${JSON.stringify(sizeText)}`, paragraph.line);
      }
      if (!isSafeRelativePath(path)) {
        throw new AptFormatError(`${algorithm} entry has an unsafe path ${JSON.stringify(path)}`, paragraph.line);
      }
      const size = Number(sizeText);
      const entry = table.get(path);
      if (entry === undefined) {
        const fresh: MutableEntry = { size };
        fresh[entryKey[algorithm]] = digest;
        table.set(path, fresh);
        continue;
      }
      // Each hash section lists the same files with their size; two sizes for one file cannot both be right.
      if (entry.size !== size) {
        throw new AptFormatError(`${path} is listed with sizes ${entry.size} and ${size}`, paragraph.line);
      }
      entry[entryKey[algorithm]] = digest;
    }
  }
  return table;
}

/** A path relative to a directory that stays inside it: no leading slash, no empty, `.` or `..` segment. */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** The digest of `entry` for `algorithm`, if the Release listed one. */
export function entryDigest(entry: ReleaseEntry, algorithm: HashAlgorithm): string | undefined {
  return entry[entryKey[algorithm]];
}

/**
 * The by-hash name of a file: `main/binary-amd64/Packages.xz` -> `main/binary-amd64/by-hash/SHA256/<hex>`.
 * Debian RepositoryFormat, by-hash: the by-hash directory sits beside the file it stands for.
 */
export function byHashPath(relativePath: string, algorithm: HashAlgorithm, hex: string): string {
  const slash = relativePath.lastIndexOf('/');
  const dir = slash < 0 ? '' : relativePath.slice(0, slash + 1);
  return `${dir}by-hash/${algorithm}/${hex}`;
}

/**
 * Every by-hash name of a file the Release lists, strongest algorithm first; empty when the file is
 * not listed. Names are offered whatever `acquireByHash` says: the caller decides whether to use them.
 */
export function byHashPaths(release: ReleaseFile, relativePath: string): string[] {
  const entry = release.files.get(relativePath);
  if (entry === undefined) return [];
  const paths: string[] = [];
  for (const algorithm of hashAlgorithms) {
    const hex = entryDigest(entry, algorithm);
    if (hex !== undefined) paths.push(byHashPath(relativePath, algorithm, hex));
  }
  return paths;
}

export interface ByHashTarget {
  /** The file's ordinary name relative to the Release directory (e.g. `main/binary-amd64/Packages.xz`). */
  readonly path: string;
  readonly entry: ReleaseEntry;
}

/**
 * The files a by-hash name stands for (`main/binary-amd64/by-hash/SHA256/<hex>`): those in the same
 * directory whose digest matches. Several when the archive publishes identical content under two
 * names (an empty Packages and an empty Packages.gz never collide, but two empty plain files do).
 */
export function resolveByHash(release: ReleaseFile, byHashRelative: string): ByHashTarget[] {
  const match = /^((?:[^/]+\/)*)by-hash\/([^/]+)\/([^/]+)$/.exec(byHashRelative);
  if (match === null) return [];
  const [, dir = '', algorithm = '', hex = ''] = match;
  if (!isHashAlgorithm(algorithm)) return [];
  const targets: ByHashTarget[] = [];
  for (const [path, entry] of release.files) {
    if (entryDigest(entry, algorithm) !== hex) continue;
    const slash = path.lastIndexOf('/');
    if ((slash < 0 ? '' : path.slice(0, slash + 1)) === dir) targets.push({ path, entry });
  }
  return targets;
}
