// (c) 16 clients ask at once for one uncached 50 MB file through the 20 MB/s origin: upstream traffic, wall time, first byte, bodies.
import { runDownloads } from '../load/downloads.ts';
import { median } from '../report/stats.ts';
import type { Origin } from '../peers/peer.ts';
import type { NginxOrigins } from '../upstream/nginx-origin.ts';
import { sleep } from '../system/managed-process.ts';
import { portOf, type ScenarioContext } from './scenario-context.ts';

export interface ColdBurstResult {
  readonly clients: number;
  /** Requests for the file that reached the origin. */
  readonly upstreamRequests: number;
  /** Body bytes the origin sent for it. */
  readonly upstreamBytes: number;
  /** From the requests going out to the last client's last byte. */
  readonly wallSeconds: number;
  readonly medianFirstByteSeconds: number | undefined;
  readonly maxFirstByteSeconds: number | undefined;
  /** Clients that got status 200 and exactly the file's bytes (SHA-256 checked). */
  readonly correctBodies: number;
}

export async function coldBurst(context: ScenarioContext): Promise<ColdBurstResult> {
  const { origins, repository, running, settings } = context;
  const file = repository.cold;
  const repoPath = `${repository.urlPrefix}/${file.poolPath}`;
  const origin = origins.limited;
  const before = await originRequestsFor(origins, origin, repoPath);
  const report = await runDownloads(
    {
      host: '127.0.0.1',
      port: portOf(running.base),
      path: running.requestPath(origin, repoPath),
      connections: settings.coldClients,
      mode: 'once',
      durationMs: 0,
      hash: true,
    },
    // Generous bound: 16 clients of a 50 MB file at 20 MB/s take seconds, unless a peer fetches once per client.
    120_000,
  );
  const after = await settledOriginRequestsFor(origins, origin, repoPath, before.length);
  const fresh = after.slice(before.length);
  const firstBytes = report.responses.map((r) => r.firstByteMs / 1000);
  return {
    clients: settings.coldClients,
    upstreamRequests: fresh.length,
    upstreamBytes: fresh.reduce((sum, r) => sum + r.bodyBytes, 0),
    wallSeconds: report.elapsedMs / 1000,
    medianFirstByteSeconds: median(firstBytes),
    maxFirstByteSeconds: Math.max(...firstBytes.filter((v) => Number.isFinite(v))),
    correctBodies: report.responses.filter((r) => r.status === 200 && r.bodyBytes === file.size && r.sha256 === file.sha256).length,
  };
}

/** One client straight from the limited origin, as a reference for the wall times (see NginxOrigins on limit_rate). */
export async function directColdSeconds(origins: NginxOrigins, repoPath: string): Promise<number> {
  const origin = origins.limited;
  const report = await runDownloads(
    { host: '127.0.0.1', port: origin.port, path: repoPath, connections: 1, mode: 'once', durationMs: 0, hash: false },
    120_000,
  );
  return report.elapsedMs / 1000;
}

export async function originRequestsFor(origins: NginxOrigins, origin: Origin, repoPath: string) {
  return (await origins.requests(origin)).filter((r) => r.path === repoPath);
}

/**
 * nginx logs a request when its response ends; a peer may still be finishing (or a second fetch may
 * still run) right after the clients are served. Wait until the count holds still for 0.5 s (at most 5 s).
 */
export async function settledOriginRequestsFor(origins: NginxOrigins, origin: Origin, repoPath: string, minimum: number) {
  let last = await originRequestsFor(origins, origin, repoPath);
  for (let waited = 0; waited < 5000; waited += 500) {
    await sleep(500);
    const now = await originRequestsFor(origins, origin, repoPath);
    if (now.length === last.length && now.length > minimum) return now;
    last = now;
  }
  return last;
}
