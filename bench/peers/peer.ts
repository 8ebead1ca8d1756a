// The seam every server in the comparison sits behind: start with an empty cache, give URLs, report PIDs, stop.
import type { AptRoute } from '../../test/support/apt-client.ts';

/** An nginx serving the repository on loopback: the upstream the caches fetch from. */
export interface Origin {
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly base: string;
  /** Bytes per second, when limited. */
  readonly rateLimit: number | undefined;
}

export interface PeerContext {
  /** An empty directory of this run; removed after it. */
  readonly workDir: string;
  /** Root of the repository on disk (holds dists/ and pool/). */
  readonly repoRoot: string;
  /** The URL path the origins serve the repository root under, e.g. `/repo`. */
  readonly urlPrefix: string;
  readonly origins: readonly Origin[];
  /** The URL path (on the rate-limited origin) of an image stream's root, when the `images` scenario runs: `/repo/images`. */
  readonly imageStreamPath?: string | undefined;
}

export interface RunningPeer {
  /** `http://127.0.0.1:PORT`: where clients connect. */
  readonly base: string;
  /** The request path (origin-form) a client sends to this peer for `repoPath` (e.g. `/repo/pool/...`) of `origin`. */
  requestPath(origin: Origin, repoPath: string): string;
  /**
   * The request path for a file of the image stream (`/cloud/current/disk.img`) fetched from the rate-limited
   * origin; absent: the same spelling as any file (`requestPath` of the stream's path on the origin).
   */
  imageRequestPath?(streamPath: string): string;
  /** How apt reaches `origin` through this peer. */
  aptRoute(origin: Origin): { readonly sourceUrl: string; readonly route: AptRoute };
  /** The server's processes (nginx: master and workers), for peak memory. */
  pids(): number[];
  stop(): Promise<void>;
}

export interface Peer {
  readonly name: string;
  /** False for nginx serving from disk: it has no upstream, so the cold scenario does not apply. */
  readonly caches: boolean;
  /** Runs the `images` scenario (apt-cacher-ng does not: it caches apt repositories only). */
  readonly images: boolean;
  start(context: PeerContext): Promise<RunningPeer>;
}

/** Prefix-mode spelling shared by hoard, apt-cacher-ng and the nginx proxy cache: `/<host:port>/<path>`. */
export function prefixPath(origin: Origin, repoPath: string): string {
  return `/127.0.0.1:${origin.port}${repoPath}`;
}

export function prefixRoute(peerBase: string, origin: Origin, urlPrefix: string): { sourceUrl: string; route: AptRoute } {
  return { sourceUrl: `${origin.base}${urlPrefix}`, route: { kind: 'prefix', cacheUrl: peerBase } };
}

/** A caching peer reached in prefix mode on `127.0.0.1:port`, as hoard, apt-cacher-ng and the nginx proxy cache are. */
export function prefixModePeer(port: number, context: PeerContext, pids: () => number[], stop: () => Promise<void>): RunningPeer {
  const base = `http://127.0.0.1:${port}`;
  return { base, requestPath: prefixPath, aptRoute: (origin) => prefixRoute(base, origin, context.urlPrefix), pids, stop };
}
