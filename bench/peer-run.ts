// One run of one peer: start it with an empty cache, run the scenarios in a fixed order, track its peak memory, stop it.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchSettings } from './bench-settings.ts';
import type { Peer } from './peers/peer.ts';
import { imageStreamDir, type BenchRepository } from './repo/bench-repository.ts';
import { aptRun, type AptRunResult } from './scenarios/apt-run.ts';
import { coldBurst, type ColdBurstResult } from './scenarios/cold-burst.ts';
import { coldLargeFile, type ColdLargeResult } from './scenarios/cold-large-file.ts';
import { imageItem, type ImageItemResult } from './scenarios/image-item.ts';
import type { ScenarioContext } from './scenarios/scenario-context.ts';
import { warmLargeFile, type WarmLargeResult } from './scenarios/warm-large-file.ts';
import { warmSmallFiles, type WarmSmallResult } from './scenarios/warm-small-files.ts';
import { PeakMemorySampler } from './system/process-memory.ts';
import type { NginxOrigins } from './upstream/nginx-origin.ts';

export interface PeerRunResult {
  readonly peer: string;
  readonly repetition: number;
  readonly coldLarge?: ColdLargeResult | undefined;
  readonly cold?: ColdBurstResult | undefined;
  readonly aptCold?: AptRunResult | undefined;
  readonly aptWarm?: AptRunResult | undefined;
  readonly large?: WarmLargeResult | undefined;
  readonly small?: WarmSmallResult | undefined;
  readonly images?: ImageItemResult | undefined;
  /** Sum of the peaks of every process of the peer's tree, sampled from start to stop (d). */
  readonly peakRssBytes: number | undefined;
  readonly seconds: number;
  /** Scenario failures: the run goes on with the next scenario, and the report shows them. */
  readonly failures: readonly string[];
}

/**
 * Order: (f) first, on the freshly started peer: one file in no index, through the unlimited origin.
 * Then (e) cold, while nothing the apt run asks for is cached, then (e) warm; both go through the
 * unlimited origin and fill the cache for (a) and (b). (c) comes next: its file is in no index, so
 * nothing has fetched it, and it goes through the limited origin. Peak memory is sampled from start
 * to stop, so it covers the whole run and every process the peer starts.
 */
export async function runPeer(
  peer: Peer,
  repetition: number,
  settings: BenchSettings,
  origins: NginxOrigins,
  repository: BenchRepository,
  log: (line: string) => void,
): Promise<PeerRunResult> {
  const started = performance.now();
  const workDir = await mkdtemp(join(tmpdir(), `hoard-bench-${peer.name}-`));
  const scratchDir = join(workDir, 'scratch');
  await mkdir(scratchDir);
  const failures: string[] = [];
  const imageStreamPath = repository.image === undefined ? undefined : `${repository.urlPrefix}/${imageStreamDir}`;
  const running = await peer.start({
    workDir,
    repoRoot: repository.repo.root,
    urlPrefix: repository.urlPrefix,
    origins: [origins.fast, origins.limited],
    imageStreamPath,
  });
  const memory = new PeakMemorySampler(() => running.pids());
  const context: ScenarioContext = { peer, running, origins, repository, settings, scratchDir, log };
  const step = async <T>(letter: string, name: string, work: () => Promise<T>): Promise<T | undefined> => {
    if (!settings.scenarios.includes(letter)) return undefined;
    const t = performance.now();
    try {
      const result = await work();
      log(`    ${name}: ${((performance.now() - t) / 1000).toFixed(1)} s (load average ${loadavg()[0]?.toFixed(2) ?? '?'})`);
      return result;
    } catch (err) {
      const message = `${name}: ${err instanceof Error ? err.message : String(err)}`;
      failures.push(message);
      log(`    FAILED ${message}`);
      return undefined;
    }
  };
  let result: PeerRunResult;
  try {
    const coldLarge = peer.caches ? await step('f', '(f) cold 200 MB file, first fetch, curl', () => coldLargeFile(context)) : undefined;
    const aptCold = await step('e', '(e) apt cold', () => aptRun(context));
    const aptWarm = await step('e', '(e) apt warm', () => aptRun(context));
    const cold = peer.caches ? await step('c', '(c) cold burst', () => coldBurst(context)) : undefined;
    const large = await step('a', '(a) warm large file', () => warmLargeFile(context));
    const small = await step('b', '(b) warm small files', () => warmSmallFiles(context));
    // Last: its 500 MB stays out of the page cache that (a) and (b) measure.
    const images = peer.images ? await step('images', '(images) 500 MB image item, cold x8 then warm', () => imageItem(context)) : undefined;
    for (const apt of [aptCold, aptWarm]) if (apt?.problem !== undefined) failures.push(`apt: ${apt.problem}`);
    result = { peer: peer.name, repetition, coldLarge, cold, aptCold, aptWarm, large, small, images, peakRssBytes: memory.stop(), seconds: 0, failures };
  } finally {
    // Ends the sampling when a scenario threw before the result was made.
    memory.stop();
    await running.stop();
    await rm(workDir, { recursive: true, force: true, maxRetries: 3 });
  }
  return { ...result, seconds: (performance.now() - started) / 1000 };
}
