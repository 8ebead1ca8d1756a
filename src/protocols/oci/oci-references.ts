// What cached manifests refer to (config, layers, the manifests of an index): eviction and gc take unreferenced blobs first.
import type { ReferenceOracle } from '../../cache/eviction-policy.ts';
import type { BlobStore } from '../../storage/blob-store.ts';
import type { MetadataIndex, ObjectEntry } from '../../storage/metadata-index.ts';
import { endpointOfPath } from './oci-reference.ts';

/** Distribution refuses manifests over 4 MiB; larger stored objects are not read as manifests. */
const maxManifestBytes = 4 * 1024 * 1024;

/** The sha256 digests (hex) a manifest or index names: `config`, `layers[]`, `manifests[]`, `blobs[]`. */
export function manifestReferences(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null) return [];
  const record = parsed as Record<string, unknown>;
  const descriptors: unknown[] = [record.config];
  // OCI image spec: image manifests list `layers`, indices `manifests`; Docker v2 the same; artifacts `blobs`.
  for (const list of [record.layers, record.manifests, record.blobs]) if (Array.isArray(list)) descriptors.push(...(list as unknown[]));
  const digests: string[] = [];
  for (const d of descriptors) {
    const digest = typeof d === 'object' && d !== null ? (d as Record<string, unknown>).digest : undefined;
    if (typeof digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(digest)) digests.push(digest.slice('sha256:'.length));
  }
  return digests;
}

export class OciReferences implements ReferenceOracle {
  readonly #blobs: BlobStore;
  readonly #index: MetadataIndex;
  /** Referenced digest -> the digests of the manifests that name it. */
  readonly #referrers = new Map<string, Set<string>>();
  /** Manifest digests already read. */
  readonly #read = new Set<string>();

  constructor(blobs: BlobStore, index: MetadataIndex) {
    this.#blobs = blobs;
    this.#index = index;
  }

  /** Reads every stored OCI manifest once, before the first request (nothing here needs an upstream). */
  async start(): Promise<void> {
    const manifests = this.#index.findByPath({ protocol: 'oci', pathContains: '/manifests/' }).filter((e) => endpointOfPath(e.path)?.kind === 'manifest');
    for (const entry of manifests) await this.learn(entry.path, entry.digest);
  }

  /** Learns what a newly stored manifest names. */
  async learn(path: string, digest: string): Promise<void> {
    if (endpointOfPath(path)?.kind !== 'manifest' || this.#read.has(digest)) return;
    const info = await this.#blobs.stat(digest);
    if (info === undefined || info.size > maxManifestBytes) return;
    const chunks: Buffer[] = [];
    for await (const chunk of this.#blobs.createReadStream(digest)) chunks.push(chunk as Buffer);
    this.#read.add(digest);
    for (const named of manifestReferences(Buffer.concat(chunks).toString('utf8'))) {
      let set = this.#referrers.get(named);
      if (set === undefined) this.#referrers.set(named, (set = new Set()));
      set.add(digest);
    }
  }

  /**
   * A blob (or a manifest an index names) is referenced while a manifest naming it is still stored; a blob no
   * stored manifest names is not (it goes first). Manifests themselves, by tag or digest, are left to LRU.
   */
  isReferenced(entry: ObjectEntry): boolean | undefined {
    if (entry.protocol !== 'oci') return undefined;
    const endpoint = endpointOfPath(entry.path);
    if (endpoint === undefined || endpoint.kind === 'tags') return undefined;
    const referrers = this.#referrers.get(entry.digest);
    const named = referrers !== undefined && [...referrers].some((manifest) => this.#index.byDigest(manifest).length > 0);
    if (endpoint.kind === 'blob') return named;
    return named ? true : undefined;
  }
}
