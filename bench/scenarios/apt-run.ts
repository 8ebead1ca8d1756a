// (e) Real apt-get, isolated: `update` then a download of every package of the repository, timed; run cold and warm.
import { AptClient } from '../../test/support/apt-client.ts';
import type { ScenarioContext } from './scenario-context.ts';

export interface AptRunResult {
  readonly updateSeconds: number;
  readonly downloadSeconds: number;
  readonly totalSeconds: number;
  readonly packages: number;
  readonly ok: boolean;
  readonly problem: string | undefined;
}

/** A fresh apt state every time (no lists, no archives), so "warm" means only that the peer's cache is. */
export async function aptRun(context: ScenarioContext): Promise<AptRunResult> {
  const { repository, running, origins } = context;
  const { sourceUrl, route } = running.aptRoute(origins.fast);
  const apt = await AptClient.create({
    sources: [{ url: sourceUrl, suite: repository.repo.suite, keyringPath: repository.repo.keyringPath }],
    route,
    timeoutMs: 300_000,
  });
  try {
    const names = repository.repo.packages.map((p) => p.name);
    const started = performance.now();
    const update = await apt.update();
    const updated = performance.now();
    const download = update.exitCode === 0 ? await apt.download(names) : undefined;
    const done = performance.now();
    let problem: string | undefined;
    if (update.exitCode !== 0) problem = `apt-get update exited ${update.exitCode}: ${[...update.errors, ...update.warnings].join(' | ')}`;
    else if (download === undefined || download.exitCode !== 0)
      problem = `apt-get install --download-only exited ${download?.exitCode}: ${download?.errors.join(' | ') ?? ''}`;
    else if (download.debs.length !== names.length) problem = `${download.debs.length} of ${names.length} packages downloaded`;
    else if (update.warnings.length > 0) problem = `apt-get update warned: ${update.warnings.join(' | ')}`;
    return {
      updateSeconds: (updated - started) / 1000,
      downloadSeconds: (done - updated) / 1000,
      totalSeconds: (done - started) / 1000,
      packages: download?.debs.length ?? 0,
      ok: problem === undefined,
      problem,
    };
  } finally {
    await apt.cleanup();
  }
}
