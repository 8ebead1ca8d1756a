// (a) The 200 MB file, already cached, downloaded for a fixed time by 1 and by 8 clients: the 1 MiB reader, then curl; MB/s.
import { curlClients } from '../load/curl-download.ts';
import { runDownloads } from '../load/downloads.ts';
import { portOf, type ScenarioContext } from './scenario-context.ts';

export interface WarmLargeResult {
  /** Whether one full download before the timed runs had exactly the file's bytes. */
  readonly verified: boolean;
  /** The bench's own reader (keep-alive, one reused 1 MiB buffer per connection): decimal MB (1e6 bytes) of body per second, by concurrency. */
  readonly mbPerSecond: Readonly<Record<string, number>>;
  /** curl to /dev/null, one process (and connection) per download, clients in parallel: aggregate MB/s, by concurrency. */
  readonly curlMbPerSecond: Readonly<Record<string, number>>;
}

export async function warmLargeFile(context: ScenarioContext): Promise<WarmLargeResult> {
  const { repository, running, origins, settings } = context;
  const file = repository.huge;
  const path = running.requestPath(origins.fast, `${repository.urlPrefix}/${file.poolPath}`);
  const port = portOf(running.base);
  // Also caches it where it was not yet (the apt runs fetched it already when they ran).
  const check = await runDownloads({ host: '127.0.0.1', port, path, connections: 1, mode: 'once', durationMs: 0, hash: true }, 120_000);
  const verified = check.responses.every((r) => r.status === 200 && r.sha256 === file.sha256);
  const mbPerSecond: Record<string, number> = {};
  for (const connections of settings.largeConcurrency) {
    const report = await runDownloads(
      { host: '127.0.0.1', port, path, connections, mode: 'loop', durationMs: settings.largeSeconds * 1000, hash: false },
      settings.largeSeconds * 1000 + 60_000,
    );
    const failed = report.responses.find((r) => r.status !== 200);
    if (failed !== undefined) throw new Error(`warm large file: status ${failed.status} with ${connections} clients`);
    mbPerSecond[String(connections)] = report.bodyBytes / 1e6 / (report.elapsedMs / 1000);
  }
  // Users read with curl: larger per-read overheads than the reader's, and a connection per download.
  const curlMbPerSecond: Record<string, number> = {};
  for (const clients of settings.largeConcurrency) {
    const result = await curlClients(`${running.base}${path}`, file.size, clients, settings.largeSeconds * 1000);
    curlMbPerSecond[String(clients)] = result.mbPerSecond;
  }
  return { verified, mbPerSecond, curlMbPerSecond };
}
