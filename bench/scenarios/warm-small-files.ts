// (b) Cached small packages under wrk: one 4 KB file and a mix of ~300 files of 2-20 KB, keep-alive (1 and 2 threads) and one connection per request.
import { createHash } from 'node:crypto';
import { runWrk, type WrkResult } from '../load/wrk-runner.ts';
import type { ScenarioContext } from './scenario-context.ts';

export interface KeepAliveRuns {
  readonly one: WrkResult;
  readonly mix: WrkResult;
}

export interface WarmSmallResult {
  /** Small files whose bytes, fetched once through the peer, were exactly the repository's. */
  readonly verified: number;
  readonly files: number;
  /** Keep-alive runs by wrk's thread count (`settings.smallThreads`). */
  readonly keepAliveByThreads: Readonly<Record<string, KeepAliveRuns>>;
  /** New connections: wrk with the first of `settings.smallThreads`. */
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
  // One wrk thread leaves the servers one of the two cores; two let wrk press harder but take from the servers
  // (see docs/performance.md). The targets ask for both.
  const [firstThreads = 1] = settings.smallThreads;
  const run = (paths: readonly string[], newConnectionPerRequest: boolean, threads = firstThreads, durationSeconds = settings.smallSeconds) =>
    runWrk({ base: running.base, paths, connections: settings.smallConnections, threads, durationSeconds, newConnectionPerRequest, scratchDir });
  // Warm-up, not recorded: lets a JIT compile the hit path and a server open what it keeps open.
  await run(mix, false, firstThreads, settings.warmupSeconds);
  const keepAliveByThreads: Record<string, KeepAliveRuns> = {};
  for (const threads of settings.smallThreads)
    keepAliveByThreads[String(threads)] = { one: await run(one, false, threads), mix: await run(mix, false, threads) };
  const newConnectionOne = await run(one, true);
  const newConnectionMix = await run(mix, true);
  return { verified, files: repository.small.length, keepAliveByThreads, newConnectionOne, newConnectionMix };
}
