// What the verified Packages and Sources indices say each pool file must be: request path -> SHA-256, size, trust, in bounded memory.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HoardError } from '../../../errors.ts';
import { AptFormatError } from '../apt-format-error.ts';
import { parseDeb822Stream } from '../deb822.ts';
import { IndexBoundError } from '../index-bound-error.ts';
import { type Compression, createDecompressor, defaultMaxIndexExpandedBytes, release, releaseChunks } from '../index-compression.ts';
import { archivePath, packageFilesFromPackages, packageFilesFromSources, type PackageFile } from '../package-index.ts';
import type { GenerationTrust } from './release-generations.ts';

export interface PackageExpectation {
  readonly sha256: string | undefined;
  readonly size: number;
  readonly trust: GenerationTrust;
}

export type IndexKind = 'packages' | 'sources';

const MiB = 1024 * 1024;

/**
 * Estimated heap bytes one entry costs besides the characters of its path: the packed value (about
 * 56), the path string's header (16), the Map slot and its share of the Map's spare capacity. Measured
 * on Node 24 (x64): about 170 bytes for a 50-character path (an object with a hex digest string, as
 * before, took 250, and 830 with the chunk text its sliced strings kept alive). Every knowledge
 * budget counts `path length + this` per entry.
 */
export const entryOverheadBytes = 136;

/** Budgets of package knowledge, in estimated bytes (see `entryOverheadBytes`). */
export interface KnowledgeLimits {
  /** Most one index may add; past it the index fails (HOARD_ERR_INDEX_TOO_LARGE) and adds nothing. */
  readonly perIndex: number;
  /** Most one upstream holds; past it its least recently learned entries are dropped. */
  readonly perUpstream: number;
  /** Most the whole table holds; past it the least recently learning upstream loses its oldest entries. */
  readonly total: number;
}

/**
 * - per index 48 MiB: about 260,000 files with Debian-like paths, twice the largest real index (the
 *   Sources of Debian's or Ubuntu's main archive, some 130,000 files). An index is staged whole
 *   before it is learned (off-heap, at about a third of this), so this also bounds what one read
 *   holds; the index bomb of issue 15 (5 million paragraphs) stops there.
 * - per upstream 256 MiB: about 1.4 million files, every suite and architecture of one mirror that a
 *   lab plausibly uses; one hostile upstream cannot take more.
 * - total 512 MiB: proxy mode lets clients name upstreams, so many hostile ones are bounded together.
 * A dropped entry only means hoard no longer checks that file's hash itself (apt still does).
 */
export const defaultKnowledgeLimits: KnowledgeLimits = { perIndex: 48 * MiB, perUpstream: 256 * MiB, total: 512 * MiB };

const authenticatedFlag = 1;
const sha256Flag = 2;

/**
 * One entry as the table keeps it, a flat one-byte string: a flags character, the 32 bytes of the
 * SHA-256 when known, then the size in decimal. About a third of an object with a hex string.
 */
function pack(sha256: string | undefined, size: number, trust: GenerationTrust): string {
  const sizeText = String(size);
  const digestBytes = sha256 === undefined ? 0 : 32;
  const bytes = Buffer.allocUnsafe(1 + digestBytes + sizeText.length);
  bytes[0] = (trust === 'authenticated' ? authenticatedFlag : 0) | (sha256 === undefined ? 0 : sha256Flag);
  if (sha256 !== undefined) bytes.write(sha256, 1, 'hex');
  bytes.write(sizeText, 1 + digestBytes, 'latin1');
  return bytes.toString('latin1');
}

function unpack(packed: string): PackageExpectation {
  const flags = packed.charCodeAt(0);
  const hasDigest = (flags & sha256Flag) !== 0;
  return {
    sha256: hasDigest ? Buffer.from(packed.slice(1, 33), 'latin1').toString('hex') : undefined,
    size: Number(packed.slice(hasDigest ? 33 : 1)),
    trust: (flags & authenticatedFlag) !== 0 ? 'authenticated' : 'hash-verified',
  };
}

function withTrust(packed: string, trust: GenerationTrust): string {
  const flags = packed.charCodeAt(0);
  const wanted = trust === 'authenticated' ? flags | authenticatedFlag : flags & ~authenticatedFlag;
  if (wanted === flags) return packed;
  const bytes = Buffer.from(packed, 'latin1');
  bytes[0] = wanted;
  return bytes.toString('latin1');
}

/**
 * A flat copy of `text`. The parser's values are slices of the 64 KiB chunk they were read from, and
 * V8 keeps a slice's parent alive: kept as they are, a table of slices pins the whole index text.
 */
function detached(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** Bytes of one staging chunk: small enough to waste little, large enough that chunks are few. */
const stagingChunkBytes = 1024 * 1024;

/**
 * The pool files one index lists, staged before they are learned: records in off-heap chunks
 * (`u32 path bytes, u16 packed bytes, path as UTF-8, packed entry`), about 45 bytes plus the path
 * per file and nothing for the garbage collector to trace. Kept as strings and arrays instead, a
 * 48 MiB budget made V8 grow its heap by some 170 MB while the index was read.
 */
export class ParsedIndex {
  readonly archiveRoot: string;
  readonly trust: GenerationTrust;
  /** Each chunk with the bytes of it that hold records. */
  readonly #chunks: { readonly buffer: Buffer; used: number }[] = [];
  #count = 0;
  #bytes = 0;
  #skipped = 0;

  constructor(archiveRoot: string, trust: GenerationTrust) {
    this.archiveRoot = archiveRoot;
    this.trust = trust;
  }

  /** Paragraphs that could not be read (no Filename, a bad digest...): skipped, the rest still counts. */
  get skipped(): number {
    return this.#skipped;
  }

  get count(): number {
    return this.#count;
  }

  /** Estimated memory the staged files will take once learned (see `entryOverheadBytes`). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The files as objects, paths relative to the archive root (for tests and tools; `learn` reads the packed form). */
  get files(): PackageFile[] {
    return [...this.entries()].map(([path, packed]) => {
      const { sha256, size } = unpack(packed);
      return { path: path.slice(this.archiveRoot.length), size, sha256 };
    });
  }

  add(file: PackageFile): void {
    const path = this.archiveRoot === '' ? file.path : archivePath(this.archiveRoot, file.path);
    const packed = pack(file.sha256, file.size, this.trust);
    const pathBytes = Buffer.byteLength(path, 'utf8');
    const record = 6 + pathBytes + packed.length;
    let chunk = this.#chunks.at(-1);
    if (chunk === undefined || chunk.buffer.length - chunk.used < record) {
      chunk = { buffer: Buffer.allocUnsafeSlow(Math.max(stagingChunkBytes, record)), used: 0 };
      this.#chunks.push(chunk);
    }
    const { buffer, used } = chunk;
    buffer.writeUInt32LE(pathBytes, used);
    buffer.writeUInt16LE(packed.length, used + 4);
    buffer.write(path, used + 6, 'utf8');
    buffer.write(packed, used + 6 + pathBytes, 'latin1');
    chunk.used += record;
    this.#count += 1;
    this.#bytes += path.length + entryOverheadBytes;
  }

  skip(): void {
    this.#skipped += 1;
  }

  /** Frees the staged records now, for an index that failed: a bound reached must not hold its memory until a collection. */
  release(): void {
    for (const { buffer } of this.#chunks) release(buffer);
    this.#chunks.length = 0;
    this.#count = 0;
    this.#bytes = 0;
  }

  /** [request path, packed entry] pairs, the path under `archiveRoot`; fresh flat strings, decoded from the chunks. */
  *entries(): Generator<readonly [string, string]> {
    for (const { buffer, used } of this.#chunks) {
      for (let at = 0; at < used;) {
        const pathBytes = buffer.readUInt32LE(at);
        const packedBytes = buffer.readUInt16LE(at + 4);
        const path = buffer.toString('utf8', at + 6, at + 6 + pathBytes);
        const packed = buffer.toString('latin1', at + 6 + pathBytes, at + 6 + pathBytes + packedBytes);
        yield [path, packed];
        at += 6 + pathBytes + packedBytes;
      }
    }
  }
}

interface UpstreamKnowledge {
  /** Request path -> packed entry, least recently learned first (Map order is insertion order). */
  readonly entries: Map<string, string>;
  bytes: number;
}

/**
 * One table per upstream, keyed by request path (the archive root joined with Filename, or with
 * Directory and a Sources file name).
 *
 * Learning a newer index overwrites the entries it lists (a rebuilt package gets its new hash: same
 * name, new bytes) and leaves the others: a package dropped from the index keeps the hash it was
 * last published with, which still describes the bytes a mirror serves under that name. Two suites
 * sharing a pool that disagree about one file (never the case on a dak archive) end with the hash of
 * the index read last.
 *
 * Memory is bounded (`KnowledgeLimits`): past a budget the entries learned longest ago go first;
 * those are the packages no index has listed since, or upstreams no longer used.
 */
export class PackageHashTable {
  readonly #limits: KnowledgeLimits;
  /** Least recently learning upstream first. */
  readonly #upstreams = new Map<string, UpstreamKnowledge>();
  #size = 0;
  #bytes = 0;
  #dropped = 0;

  constructor(limits: Partial<KnowledgeLimits> = {}) {
    this.#limits = { ...defaultKnowledgeLimits, ...limits };
  }

  get size(): number {
    return this.#size;
  }

  /** Estimated memory of the table (see `entryOverheadBytes`). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries dropped to stay within the budgets, since start. */
  get dropped(): number {
    return this.#dropped;
  }

  lookup(upstream: string, path: string): PackageExpectation | undefined {
    const packed = this.#upstreams.get(upstream)?.entries.get(path);
    return packed === undefined ? undefined : unpack(packed);
  }

  /** Learns what an index lists under `archiveRoot`; returns how many files. Older entries may be dropped to stay in budget. */
  learn(upstream: string, archiveRoot: string, files: Iterable<PackageFile> | ParsedIndex, trust: GenerationTrust): number {
    let known = this.#upstreams.get(upstream);
    if (known === undefined) known = { entries: new Map(), bytes: 0 };
    else this.#upstreams.delete(upstream);
    this.#upstreams.set(upstream, known);
    let count = 0;
    if (files instanceof ParsedIndex) {
      const sameRoot = files.archiveRoot === archiveRoot;
      for (const [path, packed] of files.entries()) {
        const key = sameRoot ? path : detached(archivePath(archiveRoot, path.slice(files.archiveRoot.length)));
        this.#put(known, key, withTrust(packed, trust));
        count += 1;
      }
    } else {
      for (const file of files) {
        this.#put(known, detached(archivePath(archiveRoot, file.path)), pack(file.sha256, file.size, trust));
        count += 1;
      }
    }
    if (known.bytes > this.#limits.perUpstream) this.#dropOldest(known, known.bytes - this.#limits.perUpstream);
    for (const [name, oldest] of this.#upstreams) {
      if (this.#bytes <= this.#limits.total) break;
      this.#dropOldest(oldest, this.#bytes - this.#limits.total);
      if (oldest.entries.size === 0) this.#upstreams.delete(name);
    }
    return count;
  }

  #put(known: UpstreamKnowledge, key: string, packed: string): void {
    const cost = key.length + entryOverheadBytes;
    if (known.entries.delete(key)) {
      // Deleted first so that the entry moves to the recently learned end.
      known.bytes -= cost;
      this.#bytes -= cost;
      this.#size -= 1;
    }
    known.entries.set(key, packed);
    known.bytes += cost;
    this.#bytes += cost;
    this.#size += 1;
  }

  #dropOldest(known: UpstreamKnowledge, bytes: number): void {
    let freed = 0;
    // One iterator for the whole run: Map iterators step over entries deleted behind them.
    for (const key of known.entries.keys()) {
      if (freed >= bytes) break;
      const cost = key.length + entryOverheadBytes;
      known.entries.delete(key);
      known.bytes -= cost;
      this.#bytes -= cost;
      this.#size -= 1;
      this.#dropped += 1;
      freed += cost;
    }
  }
}

/**
 * Paragraphs an index may have that describe no usable file (no Filename, a bad size or digest)
 * before it fails whole. Real indices have none, or a handful; without this bound, millions of
 * such paragraphs would each cost an exception (about 14 µs) and no knowledge budget: over a minute
 * of CPU per read for a 256 MiB index.
 */
export const maxUnusableParagraphs = 1000;

export interface IndexReadOptions {
  /** Plain bytes the index may expand to: the size its Release lists uncompressed, else a ceiling. Default `defaultMaxIndexExpandedBytes`. */
  readonly maxExpandedBytes?: number | undefined;
  /** Knowledge the index may stage (estimated bytes). Default `defaultKnowledgeLimits.perIndex`. */
  readonly maxKnowledgeBytes?: number | undefined;
  /** Archive root the staged paths are joined to, so `learn` under that root takes them as they are. Default '' (relative paths). */
  readonly archiveRoot?: string | undefined;
  /** Trust the staged entries carry. Default 'hash-verified'. */
  readonly trust?: GenerationTrust | undefined;
}

/**
 * Reads a Packages or Sources index (in its compression) into the pool files it describes, streaming:
 * memory holds one paragraph and the compact staged entries, never the index text. The bytes were
 * checked against the Release before they were stored, so a paragraph apt would reject is skipped
 * rather than failing the whole index, as apt does (up to `maxUnusableParagraphs`). An index past a
 * bound (expanded size, line, field, paragraph, knowledge, unusable paragraphs) fails whole with
 * HOARD_ERR_INDEX_TOO_LARGE, its IndexBoundError as the cause.
 */
export async function readPackageIndex(bytes: Readable, compression: Compression, kind: IndexKind, options: IndexReadOptions = {}): Promise<ParsedIndex> {
  const maxExpandedBytes = options.maxExpandedBytes ?? defaultMaxIndexExpandedBytes;
  const maxKnowledgeBytes = options.maxKnowledgeBytes ?? defaultKnowledgeLimits.perIndex;
  const decoder = createDecompressor(compression, { maxOutputBytes: maxExpandedBytes });
  if (decoder === undefined) throw new Error(`cannot decode ${compression}-compressed indices`);
  const parsed = new ParsedIndex(options.archiveRoot ?? '', options.trust ?? 'hash-verified');
  try {
    await pipeline(bytes, decoder, async (decoded: AsyncIterable<Uint8Array>) => {
      // The parser decodes each chunk to text as it takes it: the chunk's memory goes back at once.
      for await (const paragraph of parseDeb822Stream(releaseChunks(decoded))) {
        try {
          if (kind === 'packages') parsed.add(packageFilesFromPackages(paragraph));
          else for (const file of packageFilesFromSources(paragraph)) parsed.add(file);
        } catch (err) {
          if (!(err instanceof AptFormatError)) throw err;
          parsed.skip();
          if (parsed.skipped > maxUnusableParagraphs) {
            throw new IndexBoundError(
              'unusable-paragraphs',
              maxUnusableParagraphs,
              `has more than ${maxUnusableParagraphs} paragraphs that describe no usable file`,
              paragraph.line,
            );
          }
        }
        if (parsed.bytes > maxKnowledgeBytes) {
          throw new IndexBoundError(
            'knowledge',
            maxKnowledgeBytes,
            `lists more files than ${maxKnowledgeBytes} bytes of package knowledge hold (${parsed.count} so far)`,
            paragraph.line,
          );
        }
      }
    });
  } catch (err) {
    parsed.release();
    if (err instanceof IndexBoundError) {
      throw new HoardError('HOARD_ERR_INDEX_TOO_LARGE', `${kind === 'packages' ? 'Packages' : 'Sources'} index: ${err.message}`, { cause: err });
    }
    throw err;
  }
  return parsed;
}

/** Which kind of package index a Release-relative name is (`main/binary-amd64/Packages.xz` -> packages), if any. */
export function indexKindOf(uncompressedRelative: string): IndexKind | undefined {
  const name = uncompressedRelative.slice(uncompressedRelative.lastIndexOf('/') + 1);
  // Debian RepositoryFormat: Packages indices sit in binary-<arch>/ (and debian-installer/), Sources in source/.
  if (name === 'Packages') return 'packages';
  if (name === 'Sources') return 'sources';
  return undefined;
}
