// Compression of apt index files: recognising it by suffix, naming siblings, and decoding streams without I/O.
import { Duplex, PassThrough, Transform, type TransformCallback, pipeline } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { IndexBoundError } from './index-bound-error.ts';

// apt's Acquire::CompressionTypes names these suffixes (gzip, bzip2, xz, lzma, lz4, zstd); Debian
// RepositoryFormat: "indices may be compressed", with the compressed name being the index name plus suffix.
export type Compression = 'none' | 'gz' | 'xz' | 'bz2' | 'lzma' | 'zst' | 'lz4';

const suffixes: readonly Exclude<Compression, 'none'>[] = ['gz', 'xz', 'bz2', 'lzma', 'zst', 'lz4'];

/** The compression a file name announces by its suffix; 'none' when it has none of apt's suffixes. */
export function compressionOf(name: string): Compression {
  const dot = name.lastIndexOf('.');
  if (dot < 0 || dot < name.lastIndexOf('/')) return 'none';
  const suffix = name.slice(dot + 1);
  return (suffixes as readonly string[]).includes(suffix) ? (suffix as Compression) : 'none';
}

/** The name with its compression suffix removed (`main/binary-amd64/Packages.xz` -> `main/binary-amd64/Packages`). */
export function uncompressedName(name: string): string {
  const kind = compressionOf(name);
  return kind === 'none' ? name : name.slice(0, name.length - kind.length - 1);
}

/** The sibling of `name` in another compression (`Packages.xz`, 'gz' -> `Packages.gz`; 'none' -> `Packages`). */
export function withCompression(name: string, kind: Compression): string {
  const base = uncompressedName(name);
  return kind === 'none' ? base : `${base}.${kind}`;
}

/** Content type to serve a compressed file with; undefined for 'none' (the caller knows the inner type). */
export function compressionContentType(kind: Compression): string | undefined {
  switch (kind) {
    case 'gz':
      return 'application/gzip';
    case 'xz':
      return 'application/x-xz';
    case 'bz2':
      return 'application/x-bzip2';
    case 'lzma':
      return 'application/x-lzma';
    case 'zst':
      return 'application/zstd';
    case 'lz4':
      return 'application/x-lz4';
    case 'none':
      return undefined;
  }
}

/** Whether `createDecompressor` can decode `kind`; see there for why some cannot. */
export function canDecompress(kind: Compression): boolean {
  return kind === 'none' || kind === 'gz' || kind === 'zst' || kind === 'xz';
}

/**
 * Ceiling on the plain size of a Packages or Sources index whose Release lists no uncompressed size
 * (the `apt.maxIndexExpandedSize` default). The largest real ones (Debian's and Ubuntu's main
 * archives, every package of one architecture) are about 100 MB plain; 256 MiB leaves room to grow
 * while bounding the work a hostile index can cause: about seven seconds of parsing on one core.
 * Contents-* indices reach 1 GB plain but hoard never decompresses them (only Packages and Sources are read).
 */
export const defaultMaxIndexExpandedBytes = 256 * 1024 * 1024;

export interface DecompressOptions {
  /**
   * Plain bytes the stream may yield: one more fails it with IndexBoundError('expanded-size').
   * Without it the output is unbounded (a 2 MB gzip member can expand to gigabytes).
   */
  readonly maxOutputBytes?: number | undefined;
}

/**
 * A fresh Transform that turns `kind`-compressed bytes into plain bytes, or undefined when hoard
 * cannot decode that compression. Callers that get undefined fall back to a sibling index in a
 * compression listed in `decodableCompressions` (the Release file lists every variant the archive
 * publishes, with its own hashes, so any of them yields the same content).
 *
 * - gz and zstd come from node:zlib (zstd needs Node 23.8+; the project runs Node 24).
 * - xz comes from the xz-decompress package (xz-embedded compiled to WebAssembly): xz is what
 *   Debian and Ubuntu list first, and Ubuntu publishes no .gz variant of most indices.
 * - bz2, lzma and lz4 are undefined: no archive publishes them as the only variant any more.
 */
export function createDecompressor(kind: Compression, options: DecompressOptions = {}): Duplex | undefined {
  const decoder = createUnboundedDecompressor(kind);
  if (decoder === undefined || options.maxOutputBytes === undefined) return decoder;
  return withOutputLimit(decoder, options.maxOutputBytes);
}

/**
 * Output buffers of the zlib decoders: 64 KiB, four times zlib's default. A buffer under 32 KiB is a
 * slice of a shared pool, which nothing can free but the garbage collector; at 64 KiB each output
 * chunk owns its memory, so a reader done with it can give it back at once (`releaseChunks`).
 */
const decoderChunkBytes = 64 * 1024;

function createUnboundedDecompressor(kind: Compression): Duplex | undefined {
  if (!canDecompress(kind)) return undefined;
  if (kind === 'gz') {
    // Gunzip also decodes concatenated gzip members, which `gzip -c a b` and some archive tools produce.
    return createGunzip({ chunkSize: decoderChunkBytes });
  }
  if (kind === 'zst') return createZstdDecompress({ chunkSize: decoderChunkBytes });
  if (kind === 'xz') return createXzDecompressor();
  return new PassThrough();
}

/**
 * `decoder` followed by a byte counter that fails the stream as soon as the output passes `maxBytes`.
 * The decoders produce output in small pieces (16 KiB for zlib) and only as fast as it is read, so
 * no more than one piece past the limit is ever held.
 */
function withOutputLimit(decoder: Duplex, maxBytes: number): Duplex {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) done(new IndexBoundError('expanded-size', maxBytes, `expands past ${maxBytes} bytes`));
      else done(null, chunk);
    },
  });
  // Errors of either stage end both; the caller sees them on the readable side.
  pipeline(decoder, counter, () => undefined);
  return Duplex.from({ writable: decoder, readable: counter });
}

/**
 * Yields each chunk of `chunks` and frees its memory once the consumer asks for the next one, for a
 * consumer that keeps nothing of a chunk (a parser that decodes it to text at once). Decoding an index
 * bomb turns a few MB into hundreds of MB of short-lived buffers; left to the garbage collector, they
 * pile up as far as its external-memory trigger (tens of MB, more when the process is busy), and
 * the allocator may keep what they took. Freed here, what decoding holds no longer depends on when
 * the collector runs. Only a chunk that owns its whole ArrayBuffer is freed (a decoder's full output
 * buffer: see `decoderChunkBytes`; xz's outputs are copies); a slice of a buffer that a decoder may
 * still write into, or of a shared pool, is left alone.
 */
export async function* releaseChunks(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of chunks) {
    // In pieces of zlib's default size: a parser's text of one piece is what an unfinished line keeps alive.
    for (let at = 0; at < chunk.byteLength; at += parsePieceBytes) yield chunk.subarray(at, at + parsePieceBytes);
    release(chunk);
  }
}

/** Bytes handed to the consumer at a time by `releaseChunks`. */
const parsePieceBytes = 16 * 1024;

/** Frees the memory of a buffer that owns all of it (detaching its ArrayBuffer); anything else is left to the collector. */
export function release(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (!(buffer instanceof ArrayBuffer) || chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || buffer.detached) return;
  try {
    // transfer(0) moves nothing and detaches the old buffer, whose memory is then freed without waiting for a collection.
    buffer.transfer(0);
  } catch {
    // Not detachable (a pool Node keeps, a WebAssembly memory): the collector frees it.
  }
}

/**
 * The xz decoder (the xz-decompress package, xz-embedded compiled to WebAssembly) speaks web streams;
 * this wraps it as one Node Duplex (bytes in, plain bytes out). The package is imported at the first xz
 * index read, not at start-up. Corrupt input errors the stream; a stream destroyed early cancels the
 * decoder, which frees its context for the next one (the package decodes one stream at a time).
 */
function createXzDecompressor(): Duplex {
  return Duplex.from(async function* (compressed: AsyncIterable<Uint8Array>) {
    // CommonJS: its named export is reached through the default.
    const { XzReadableStream } = (await import('xz-decompress')).default;
    xzDecodersOpen += 1;
    try {
      yield* new XzReadableStream(ReadableStream.from(compressed));
    } finally {
      xzDecodersOpen -= 1;
      if (xzDecodersOpen === 0) forgetXzInstance(XzReadableStream);
    }
  });
}

let xzDecodersOpen = 0;

/**
 * The package keeps one WebAssembly instance for the life of the process, and a WebAssembly memory
 * only grows: after the first index, the decoder's dictionary (8 MiB for `xz -6`, which Debian's
 * indices use) and buffers stayed allocated for good, 8.5 MB in the bench. With no decoder open, the
 * instance is dropped so the collector frees that memory; the next decoder compiles and instantiates
 * a fresh one (a 12 KB module: 2-3 ms, measured, where decoding a real index takes hundreds). The
 * fields are the package's own (0.2.x); the unit test fails if they move.
 */
function forgetXzInstance(decoderClass: object): void {
  const statics = decoderClass as { _moduleInstance?: unknown; _moduleInstancePromise?: unknown };
  statics._moduleInstance = undefined;
  statics._moduleInstancePromise = undefined;
}

/** Whether the xz decoder's WebAssembly instance is kept now (for tests). */
export async function xzInstanceKept(): Promise<boolean> {
  const { XzReadableStream } = (await import('xz-decompress')).default;
  return (XzReadableStream as { _moduleInstance?: unknown })._moduleInstance !== undefined;
}

/** Compressions `createDecompressor` can decode, smallest download first (plain is the largest, so last). */
export const decodableCompressions: readonly Compression[] = (['zst', 'xz', 'gz', 'bz2', 'lzma', 'lz4', 'none'] as const).filter(canDecompress);
