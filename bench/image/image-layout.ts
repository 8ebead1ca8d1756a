// The bench's images, built by hand as OCI image layouts: layers of random bytes (incompressible), each an uncompressed tar.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from '../../test/support/command-runner.ts';

export interface BenchImage {
  /** The OCI layout directory (`oci:<dir>:<tag>` for skopeo). */
  readonly dir: string;
  readonly tag: string;
  /** Manifest, config and layers: what one pull moves. */
  readonly bytes: number;
  readonly layers: number;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** An image of `layerSizes.length` layers, each one file of that many random bytes; written in 8 MB pieces to bound memory. */
export async function buildBenchImage(dir: string, tag: string, layerSizes: readonly number[]): Promise<BenchImage> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.byteLength };
  };
  const layers: Array<{ digest: string; size: number }> = [];
  for (const [i, size] of layerSizes.entries()) {
    const src = join(dir, `src-${i}`);
    await mkdir(src, { recursive: true });
    const file = join(src, `layer-${i}.bin`);
    const piece = 8 * 1024 * 1024;
    await writeFile(file, '');
    for (let written = 0; written < size; written += piece) await writeFile(file, randomBytes(Math.min(piece, size - written)), { flag: 'a' });
    const tar = join(dir, `layer-${i}.tar`);
    await runChecked('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', src, '-cf', tar, `layer-${i}.bin`]);
    await rm(src, { recursive: true, force: true });
    const hex = await sha256OfFile(tar);
    await rename(tar, join(blobs, hex));
    layers.push({ digest: `sha256:${hex}`, size: (await stat(join(blobs, hex))).size });
  }
  const config = await put(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } })),
  );
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
    }),
  );
  const manifest = await put(manifestBytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  const bytes = manifest.size + config.size + layers.reduce((sum, l) => sum + l.size, 0);
  return { dir, tag, bytes, layers: layers.length };
}
