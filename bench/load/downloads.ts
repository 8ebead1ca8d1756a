// Runs the large-body download clients in a separate Node process, so their CPU is not the bench orchestrator's.
import { join } from 'node:path';
import { runCommand } from '../../test/support/command-runner.ts';
import { repoRoot } from '../../test/support/hoard-process.ts';
import type { DownloadJob, DownloadReport } from './download-worker.ts';

export type { DownloadJob, DownloadReport } from './download-worker.ts';

export async function runDownloads(job: DownloadJob, timeoutMs: number): Promise<DownloadReport> {
  const node = join(repoRoot, 'node_modules/.bin/node');
  const result = await runCommand(node, [join(repoRoot, 'bench/load/download-worker.ts'), JSON.stringify(job)], { timeoutMs });
  if (result.exitCode !== 0) throw new Error(`download worker failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}): ${result.stderr}`);
  return JSON.parse(result.stdout) as DownloadReport;
}
