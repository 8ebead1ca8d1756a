// Tests for index compression: suffixes, sibling names and the decoders node:zlib provides.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { IndexBoundError } from './index-bound-error.ts';
import {
  type Compression,
  canDecompress,
  compressionContentType,
  compressionOf,
  createDecompressor,
  decodableCompressions,
  defaultMaxIndexExpandedBytes,
  releaseChunks,
  uncompressedName,
  withCompression,
  xzInstanceKept,
} from './index-compression.ts';

void describe('compression names', () => {
  for (const [name, kind, plain] of [
    ['main/binary-amd64/Packages.xz', 'xz', 'main/binary-amd64/Packages'],
    ['Packages.gz', 'gz', 'Packages'],
    ['Translation-en.bz2', 'bz2', 'Translation-en'],
    ['Sources.lzma', 'lzma', 'Sources'],
    ['Packages.zst', 'zst', 'Packages'],
    ['Packages.lz4', 'lz4', 'Packages'],
    ['Packages', 'none', 'Packages'],
    ['icons-64x64.tar.gz', 'gz', 'icons-64x64.tar'],
    ['icons-64x64.tar', 'none', 'icons-64x64.tar'],
    ['Components-amd64.yml', 'none', 'Components-amd64.yml'],
    ['dir.gz/Packages', 'none', 'dir.gz/Packages'],
    ['Packages.gzip', 'none', 'Packages.gzip'],
  ] as const) {
    void it(`${name} is ${kind}, uncompressed ${plain}`, () => {
      assert.equal(compressionOf(name), kind);
      assert.equal(uncompressedName(name), plain);
    });
  }

  void it('names siblings in other compressions', () => {
    assert.equal(withCompression('main/binary-amd64/Packages.xz', 'gz'), 'main/binary-amd64/Packages.gz');
    assert.equal(withCompression('main/binary-amd64/Packages.xz', 'none'), 'main/binary-amd64/Packages');
    assert.equal(withCompression('Packages', 'zst'), 'Packages.zst');
  });

  void it('gives each compression a content type', () => {
    assert.equal(compressionContentType('gz'), 'application/gzip');
    assert.equal(compressionContentType('xz'), 'application/x-xz');
    assert.equal(compressionContentType('none'), undefined);
  });
});

async function decode(kind: Compression, input: Uint8Array, maxOutputBytes?: number): Promise<string> {
  const decoder = createDecompressor(kind, { maxOutputBytes });
  assert.ok(decoder, `no decoder for ${kind}`);
  const chunks: Buffer[] = [];
  // Feed in small pieces so the decoder really streams.
  const pieces = Array.from({ length: Math.ceil(input.length / 7) }, (_, i) => input.subarray(i * 7, i * 7 + 7));
  await pipeline(Readable.from(pieces), decoder, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  return Buffer.concat(chunks).toString('utf8');
}

void describe('createDecompressor', () => {
  const text = 'Package: hello\nVersion: 2.10-3\n\n'.repeat(200);

  void it('decodes gzip, including concatenated members', async () => {
    assert.equal(await decode('gz', gzipSync(text)), text);
    assert.equal(await decode('gz', Buffer.concat([gzipSync('A: 1\n'), gzipSync('B: 2\n')])), 'A: 1\nB: 2\n');
  });

  void it('decodes zstd', async () => {
    assert.equal(await decode('zst', zstdCompressSync(text)), text);
  });

  void it('passes plain bytes through', async () => {
    assert.equal(await decode('none', Buffer.from(text)), text);
  });

  void it('fails the stream on corrupt input', async () => {
    const corrupt = gzipSync(text);
    corrupt[corrupt.length - 6] = (corrupt[corrupt.length - 6] ?? 0) ^ 0xff;
    await assert.rejects(decode('gz', corrupt));
    await assert.rejects(decode('gz', gzipSync(text).subarray(0, 40)));
  });

  void it('decodes xz (as the xz tool writes it) and fails on corrupt or truncated input', async () => {
    const packed = execFileSync('xz', ['--compress', '--stdout', '-6'], { input: text });
    assert.equal(await decode('xz', packed), text);
    const corrupt = Buffer.from(packed);
    corrupt[corrupt.length >> 1] = (corrupt[corrupt.length >> 1] ?? 0) ^ 0xff;
    await assert.rejects(decode('xz', corrupt));
    await assert.rejects(decode('xz', packed.subarray(0, packed.length - 10)));
  });

  void it("drops the xz decoder's WebAssembly memory when no xz stream is open, and decodes again after", async () => {
    const packed = execFileSync('xz', ['--compress', '--stdout', '-6'], { input: text });
    const decoder = createDecompressor('xz');
    assert.ok(decoder);
    const firstChunk = new Promise<Buffer>((resolve, reject) => {
      decoder.once('data', resolve);
      decoder.once('error', reject);
    });
    decoder.write(packed);
    decoder.end();
    await firstChunk;
    // While a stream decodes, the package's instance (with its dictionary) is kept.
    assert.equal(await xzInstanceKept(), true);
    decoder.resume();
    await finished(decoder);
    assert.equal(await xzInstanceKept(), false);
    assert.equal(await decode('xz', packed), text);
    assert.equal(await xzInstanceKept(), false);
    // A stream destroyed half way also lets it go.
    const abandoned = createDecompressor('xz');
    assert.ok(abandoned);
    abandoned.write(packed.subarray(0, packed.length >> 1));
    await new Promise((resolve) => setImmediate(resolve));
    abandoned.on('error', () => undefined).destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await decode('xz', packed), text);
    assert.equal(await xzInstanceKept(), false);
  });

  void it('has no decoder for bz2, lzma and lz4', () => {
    for (const kind of ['bz2', 'lzma', 'lz4'] as const) {
      assert.equal(createDecompressor(kind), undefined);
      assert.equal(canDecompress(kind), false);
    }
  });

  void it('lists what it can decode, plain last', () => {
    assert.deepEqual(decodableCompressions, ['zst', 'xz', 'gz', 'none']);
    for (const kind of decodableCompressions) {
      const decoder = createDecompressor(kind);
      assert.ok(decoder);
      // xz-decompress decodes one stream at a time process-wide: an xz decoder left open blocks every later one.
      decoder.on('error', () => undefined).destroy();
    }
  });
});

void describe('createDecompressor with maxOutputBytes', () => {
  const text = 'Package: hello\nVersion: 2.10-3\n\n'.repeat(2000);
  const expandedPast = (limit: number) => (error: unknown) => error instanceof IndexBoundError && error.bound === 'expanded-size' && error.limit === limit;
  const packed: Record<'gz' | 'zst' | 'xz' | 'none', Buffer> = {
    gz: gzipSync(text),
    zst: zstdCompressSync(text),
    xz: execFileSync('xz', ['--compress', '--stdout'], { input: text }),
    none: Buffer.from(text),
  };

  for (const kind of ['gz', 'zst', 'xz', 'none'] as const) {
    void it(`${kind}: passes output of exactly the limit, fails one byte more`, async () => {
      assert.equal(await decode(kind, packed[kind], text.length), text);
      await assert.rejects(decode(kind, packed[kind], text.length - 1), expandedPast(text.length - 1));
    });
  }

  void it('stops a gzip bomb early: 64 MiB of zeros (64 KiB packed) against a 1 MiB limit', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    assert.ok(bomb.length < 128 * 1024);
    const decoder = createDecompressor('gz', { maxOutputBytes: 1024 * 1024 });
    assert.ok(decoder);
    let seen = 0;
    await assert.rejects(
      pipeline(Readable.from([bomb]), decoder, async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) seen += chunk.length;
      }),
      expandedPast(1024 * 1024),
    );
    // Only what came before the limit reached the reader.
    assert.ok(seen <= 1024 * 1024, String(seen));
  });

  void it('still reports corrupt input as such, not as a bound', async () => {
    const corrupt = gzipSync(text);
    corrupt[corrupt.length - 6] = (corrupt[corrupt.length - 6] ?? 0) ^ 0xff;
    await assert.rejects(decode('gz', corrupt, text.length * 2), (error: unknown) => error instanceof Error && !(error instanceof IndexBoundError));
  });

  void it('has a ceiling of 256 MiB by default for callers to use', () => {
    assert.equal(defaultMaxIndexExpandedBytes, 256 * 1024 * 1024);
  });
});

void describe('releaseChunks', () => {
  void it('frees each decoded chunk that owns its buffer once the reader moves on, and leaves slices alone', async () => {
    // 300 KB of output: the gzip decoder fills whole output buffers, each a chunk of its own.
    const plain = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
    const decoder = createDecompressor('gz');
    assert.ok(decoder);
    const taken: Uint8Array[] = [];
    let bytes = 0;
    await pipeline(Readable.from([gzipSync(plain)]), decoder, async (source: AsyncIterable<Uint8Array>) => {
      for await (const chunk of releaseChunks(source)) {
        // While the reader holds it, the chunk is intact.
        assert.equal((chunk.buffer as ArrayBuffer).detached, false);
        bytes += chunk.byteLength;
        taken.push(chunk);
      }
    });
    assert.equal(bytes, plain.length);
    const whole = taken.filter((c) => (c.buffer as ArrayBuffer).detached);
    assert.ok(whole.length >= 4, `${whole.length} of ${taken.length} chunks freed`);
    // A chunk that was freed reads as empty; none that a decoder may still share was touched.
    for (const chunk of whole) assert.equal(chunk.byteLength, 0);

    const pool = Buffer.allocUnsafe(64 * 1024);
    const slices = [pool.subarray(0, 100), pool.subarray(100, 200)];
    for await (const slice of releaseChunks(Readable.from(slices))) assert.equal(slice.byteLength, 100);
    assert.equal(pool.buffer.detached, false);
  });
});
