// (images) One 500 MB cloud image item: 8 clients at once through the rate-limited origin, cold, then warm throughput.
import { runDownloads } from '../load/downloads.ts';
import { median } from '../report/stats.ts';
import { imageItemPath, imageStreamDir } from '../repo/bench-repository.ts';
import type { ColdBurstResult } from './cold-burst.ts';
import { originRequestsFor, settledOriginRequestsFor } from './cold-burst.ts';
import { portOf, type ScenarioContext } from './scenario-context.ts';

export interface ImageItemResult {
  readonly itemBytes: number;
  /** Absent for a peer that does not cache (nginx from disk): its cold run means nothing. */
  readonly cold: (ColdBurstResult & { readonly upstreamRatio: number }) | undefined;
  /** Whether one full download after the cold run had exactly the item's bytes. */
  readonly verified: boolean;
  /** Decimal MB of body per second, the item already cached, by `clients` keep-alive clients for `largeSeconds`. */
  readonly warmMbPerSecond: number;
}

/** The scenario's clients at once, cold and warm: a lab launching one image on several hosts. */
export const imageClients = 8;

export async function imageItem(context: ScenarioContext): Promise<ImageItemResult> {
  const { origins, repository, running, settings, peer } = context;
  const file = repository.image;
  if (file === undefined) throw new Error('the repository was built without the image item');
  const originPath = `${repository.urlPrefix}/${imageStreamDir}${imageItemPath}`;
  const path = running.imageRequestPath?.(imageItemPath) ?? running.requestPath(origins.limited, originPath);
  const port = portOf(running.base);
  let cold: ImageItemResult['cold'];
  if (peer.caches) {
    const before = await originRequestsFor(origins, origins.limited, originPath);
    const report = await runDownloads(
      { host: '127.0.0.1', port, path, connections: imageClients, mode: 'once', durationMs: 0, hash: true },
      // 500 MB at 20 MB/s is 25 s once; a peer that fetched once per client would take minutes, so the bound is generous.
      600_000,
    );
    const after = await settledOriginRequestsFor(origins, origins.limited, originPath, before.length);
    const fresh = after.slice(before.length);
    const firstBytes = report.responses.map((r) => r.firstByteMs / 1000);
    const upstreamBytes = fresh.reduce((sum, r) => sum + r.bodyBytes, 0);
    cold = {
      clients: imageClients,
      upstreamRequests: fresh.length,
      upstreamBytes,
      upstreamRatio: upstreamBytes / file.size,
      wallSeconds: report.elapsedMs / 1000,
      medianFirstByteSeconds: median(firstBytes),
      maxFirstByteSeconds: Math.max(...firstBytes.filter((v) => Number.isFinite(v))),
      correctBodies: report.responses.filter((r) => r.status === 200 && r.bodyBytes === file.size && r.sha256 === file.sha256).length,
    };
  }
  const check = await runDownloads({ host: '127.0.0.1', port, path, connections: 1, mode: 'once', durationMs: 0, hash: true }, 600_000);
  const verified = check.responses.every((r) => r.status === 200 && r.sha256 === file.sha256);
  const warm = await runDownloads(
    { host: '127.0.0.1', port, path, connections: imageClients, mode: 'loop', durationMs: settings.largeSeconds * 1000, hash: false },
    settings.largeSeconds * 1000 + 120_000,
  );
  const failed = warm.responses.find((r) => r.status !== 200);
  if (failed !== undefined) throw new Error(`images warm: status ${failed.status}`);
  return { itemBytes: file.size, cold, verified, warmMbPerSecond: warm.bodyBytes / 1e6 / (warm.elapsedMs / 1000) };
}
