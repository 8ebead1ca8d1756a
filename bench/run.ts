// `npm run bench`: hoard beside apt-cacher-ng, an nginx proxy cache and nginx from disk, interleaved, medians of repetitions.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptRunScenarios, parseSettings, peerNames, UsageError, type BenchSettings } from './bench-settings.ts';
import { runPeer, type PeerRunResult } from './peer-run.ts';
import { aptCacherNgPeer } from './peers/apt-cacher-ng-peer.ts';
import { hoardPeer } from './peers/hoard-peer.ts';
import { nginxDiskPeer } from './peers/nginx-disk-peer.ts';
import { nginxProxyCachePeer } from './peers/nginx-proxy-cache-peer.ts';
import type { Peer } from './peers/peer.ts';
import { buildBenchRepository, type BenchRepository } from './repo/bench-repository.ts';
import { renderMachine, renderTable, renderTargets } from './report/report-table.ts';
import { median } from './report/stats.ts';
import { Summary } from './report/summary.ts';
import { checkTargets, countTargets } from './report/targets.ts';
import { directColdSeconds } from './scenarios/cold-burst.ts';
import { directColdLargeMbPerSecond } from './scenarios/cold-large-file.ts';
import { imageScenario, runImageScenario } from './image/image-scenario.ts';
import { machineInfo } from './system/machine-info.ts';
import { ensureTools } from './system/required-tools.ts';
import { NginxOrigins } from './upstream/nginx-origin.ts';
import { repoRoot } from '../test/support/hoard-process.ts';

const allPeers: readonly Peer[] = [hoardPeer, aptCacherNgPeer, nginxProxyCachePeer, nginxDiskPeer];
if (allPeers.map((p) => p.name).join() !== peerNames.join()) throw new Error('bench/run.ts: allPeers and peerNames (bench-settings.ts) name different peers');

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  // The image scenario has its own upstream, peers and report; the apt run follows when one of its scenarios is asked.
  if (settings.scenarios.includes(imageScenario)) await runImage(settings);
  if (!settings.scenarios.some((s) => aptRunScenarios.includes(s))) return;
  const peers = allPeers.filter((p) => settings.peers === undefined || settings.peers.includes(p.name));
  if (!peers.some((p) => p.name === 'hoard')) throw new UsageError('the bench compares hoard with its peers: --peers must include hoard');
  const started = performance.now();
  await ensureTools(log);
  const machine = await machineInfo();
  log(`machine: ${machine.cores} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, kernel ${machine.kernel}`);

  log('building the signed repository');
  const repository = await buildBenchRepository(settings.shape, { image: settings.scenarios.includes('images'), coldLarge: settings.scenarios.includes('f') });
  log(`repository: ${repository.repo.packages.length} packages, ${(repository.totalBytes / 1e6).toFixed(0)} MB`);
  const originDir = await mkdtemp(join(tmpdir(), 'hoard-bench-origin-'));
  let origins: NginxOrigins | undefined;
  try {
    origins = await NginxOrigins.start(originDir, repository.repo.root, repository.urlPrefix, settings.upstreamRate);
    const { runs, direct } = await runAll(peers, settings, origins, repository);
    await report(peers, runs, direct, settings, repository, machine, (performance.now() - started) / 1000);
  } finally {
    await origins?.stop();
    await rm(originDir, { recursive: true, force: true });
    await repository.repo.cleanup();
  }
}

async function runImage(settings: BenchSettings): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'hoard-bench-image-'));
  try {
    const { text, runs } = await runImageScenario(settings.repetitions, work, log);
    process.stdout.write(text);
    const resultsDir = join(repoRoot, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    const file = join(resultsDir, `bench-image-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify({ machine: await machineInfo(), repetitions: settings.repetitions, runs, table: text }, null, 2)}\n`);
    log(`image results written to ${file}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Clients straight from the origins, each repetition: references for (c) and (f). */
interface DirectFigures {
  /** (c): one client of the 50 MB file through the limited origin, seconds. */
  readonly coldSeconds: number[];
  /** (f): one curl of the 200 MB file from the unshaped origin, MB/s. */
  readonly coldLargeMbPerSecond: number[];
}

/** Repetition r starts with the peer after the one repetition r - 1 started with, so no peer always runs first. */
async function runAll(peers: readonly Peer[], settings: BenchSettings, origins: NginxOrigins, repository: BenchRepository) {
  const runs: PeerRunResult[] = [];
  const direct: DirectFigures = { coldSeconds: [], coldLargeMbPerSecond: [] };
  for (let rep = 1; rep <= settings.repetitions; rep++) {
    const order = peers.map((_, i) => peers[(i + rep - 1) % peers.length] as Peer);
    if (settings.scenarios.includes('c')) direct.coldSeconds.push(await directColdSeconds(origins, `${repository.urlPrefix}/${repository.cold.poolPath}`));
    if (settings.scenarios.includes('f')) direct.coldLargeMbPerSecond.push(await directColdLargeMbPerSecond({ origins, repository }));
    for (const peer of order) {
      log(`repetition ${rep}/${settings.repetitions}: ${peer.name}`);
      const run = await runPeer(peer, rep, settings, origins, repository, log);
      log(`  done in ${run.seconds.toFixed(1)} s${run.failures.length > 0 ? `, ${run.failures.length} failure(s)` : ''}`);
      runs.push(run);
    }
  }
  return { runs, direct };
}

async function report(
  peers: readonly Peer[],
  runs: readonly PeerRunResult[],
  directFigures: DirectFigures,
  settings: BenchSettings,
  repository: BenchRepository,
  machine: Awaited<ReturnType<typeof machineInfo>>,
  totalSeconds: number,
): Promise<void> {
  const coldFileBytes = repository.cold.size;
  const summary = new Summary(
    peers.map((p) => p.name),
    runs,
    coldFileBytes,
    settings.upstreamRate,
    settings.coldClients,
  );
  const targets = checkTargets(summary, settings.scenarios);
  const direct = median(directFigures.coldSeconds);
  const directLarge = median(directFigures.coldLargeMbPerSecond);
  const failures = runs.flatMap((r) => r.failures.map((f) => `${r.peer} (repetition ${r.repetition}): ${f}`));
  const text = [
    `hoard bench: ${settings.repetitions} repetition(s), medians; ${repository.repo.packages.length} packages, ${(repository.totalBytes / 1e6).toFixed(0)} MB; ${totalSeconds.toFixed(0)} s in all`,
    renderMachine(machine),
    '',
    renderTable(summary),
    '',
    ...(settings.scenarios.includes('c')
      ? [
          `(c) reference: one client straight from the 20 MB/s origin took ${direct === undefined ? 'n/a' : direct.toFixed(2)} s for the ${(coldFileBytes / 1e6).toFixed(1)} MB file (size/rate = ${(coldFileBytes / settings.upstreamRate).toFixed(2)} s).`,
        ]
      : []),
    ...(settings.scenarios.includes('f')
      ? [`(f) reference: one curl straight from the unshaped origin: ${directLarge === undefined ? 'n/a' : directLarge.toFixed(0)} MB/s (median).`]
      : []),
    '',
    renderTargets(targets),
    ...(failures.length > 0 ? ['', 'Failures:', ...failures.map((f) => `- ${f}`)] : []),
    '',
  ].join('\n');
  process.stdout.write(text);
  const resultsDir = join(repoRoot, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        machine,
        settings,
        totalSeconds,
        directColdSeconds: directFigures.coldSeconds,
        directColdLargeMbPerSecond: directFigures.coldLargeMbPerSecond,
        ...summary.toJson(),
        targets,
        targetCount: countTargets(targets),
        runs,
        table: text,
      },
      null,
      2,
    )}\n`,
  );
  log(`results written to ${file}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // A wrong argument needs its message, not a stack.
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
