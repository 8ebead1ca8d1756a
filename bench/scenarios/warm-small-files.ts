// (b) Cached small packages under wrk: one 4 KB file and a mix of ~300 files of 2-20 KB, keep-alive and one connection per request.
import { createHash } from 'node:crypto';
import { runWrk, type WrkResult } from '../load/wrk-runner.ts';
import type { ScenarioContext } from './scenario-context.ts';

export interface WarmSmallResult {
  /** Small files whose bytes, fetched once through the peer, were exactly the repository's. */
  readonly verified: number;
  readonly files: number;
  readonly keepAliveOne: WrkResult;
  readonly keepAliveMix: WrkResult;
  readonly newConnectionOne: WrkResult;
  readonly newConnectionMix: WrkResult;
}

export async function warmSmallFiles(context: ScenarioContext): Promise<WarmSmallResult> {
  const { repository, running, origins, settings, scratchDir } = context;
  const pathOf = (poolPath: string) => running.requestPath(origins.fast, `${repository.urlPrefix}/${poolPath}`);
  // Fetch each once: caches any the apt runs did not, and checks the bytes every later request will get.
  let verified = 0;
  for (const pkg of repository.small) {
    const response = await fetch(`${running.base}${pathOf(pkg.poolPath)}`);
    const body = Buffer.from(await response.arrayBuffer());
    if (response.status === 200 && createHash('sha256').update(body).digest('hex') === pkg.sha256) verified++;
  }
  const one = [pathOf(repository.tiny.poolPath)];
  const mix = repository.small.map((p) => pathOf(p.poolPath));
  // wrk gets one thread: a second would take the core the servers need (see docs/performance.md).
  const run = (paths: readonly string[], newConnectionPerRequest: boolean, durationSeconds = settings.smallSeconds) =>
    runWrk({ base: running.base, paths, connections: settings.smallConnections, threads: 1, durationSeconds, newConnectionPerRequest, scratchDir });
  // Warm-up, not recorded: lets a JIT compile the hit path and a server open what it keeps open.
  await run(mix, false, settings.warmupSeconds);
  const keepAliveOne = await run(one, false);
  const keepAliveMix = await run(mix, false);
  const newConnectionOne = await run(one, true);
  const newConnectionMix = await run(mix, true);
  return { verified, files: repository.small.length, keepAliveOne, keepAliveMix, newConnectionOne, newConnectionMix };
}
