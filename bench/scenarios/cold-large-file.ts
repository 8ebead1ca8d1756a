// (f) The first fetch of a 200 MB file through an empty cache: one curl client, the unshaped origin; MB/s and the server's CPU.
import { curlDownload } from '../load/curl-download.ts';
import { cpuUsage, cpuUsedBetween, type CpuUsage } from '../system/process-cpu.ts';
import { processTree } from '../system/process-memory.ts';
import type { ScenarioContext } from './scenario-context.ts';

export interface ColdLargeResult {
  /** curl's average speed over the whole download, decimal MB/s. */
  readonly mbPerSecond: number;
  readonly seconds: number;
  /** What the server's processes (and any they started) used during the download. */
  readonly cpu: CpuUsage;
}

/**
 * One curl GET of `url`, which the server has never fetched, checked for status and size; the CPU
 * the server's process tree used meanwhile is read around it. Shared with `npm run bench:cold`.
 */
export async function firstFetch(url: string, size: number, serverPids: () => readonly number[]): Promise<ColdLargeResult> {
  const before = cpuUsage(processTree(serverPids()));
  const download = await curlDownload(url, size);
  const cpu = cpuUsedBetween(before, cpuUsage(processTree(serverPids())));
  return { mbPerSecond: download.mbPerSecond, seconds: download.seconds, cpu };
}

/** The repository's unlisted 200 MB file through the peer: the first thing a freshly started peer is asked. */
export async function coldLargeFile(context: ScenarioContext): Promise<ColdLargeResult> {
  const { repository, running, origins } = context;
  const file = repository.coldLarge;
  if (file === undefined) throw new Error('the repository was built without the cold large file');
  const url = `${running.base}${running.requestPath(origins.fast, `${repository.urlPrefix}/${file.poolPath}`)}`;
  return firstFetch(url, file.size, () => running.pids());
}

/** The same file straight from the origin: the reference beside the peers' figures. */
export async function directColdLargeMbPerSecond(context: Pick<ScenarioContext, 'repository' | 'origins'>): Promise<number> {
  const { repository, origins } = context;
  const file = repository.coldLarge;
  if (file === undefined) throw new Error('the repository was built without the cold large file');
  return (await curlDownload(`${origins.fast.base}${repository.urlPrefix}/${file.poolPath}`, file.size)).mbPerSecond;
}
