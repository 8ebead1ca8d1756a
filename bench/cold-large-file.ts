// The cold byte path alone: the first fetch of one large file with curl through hoard (fresh data dir each run),
// through nginx proxy_cache (fresh cache each run) and straight from the origin; interleaved runs, medians, ratios.
//
//   node bench/cold-large-file.ts [--reps 5] [--mb 200] [--hoard LABEL=CHECKOUT[,VAR=VALUE...] ...] [--no-nginx]
//
// `--hoard` may be given several times to compare checkouts or environments (e.g. `--hoard before=/path/to/main
// --hoard after=. --hoard big-mmap=.,MALLOC_MMAP_THRESHOLD_=262144`), each started through its own bin/hoard with
// those variables added; without it, this checkout runs as `hoard`. HOARD_BENCH_NODE_FLAGS adds Node
// flags to hoard (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), as in the full bench. The full bench's
// scenario (f) is the same measurement (bench/scenarios/cold-large-file.ts), beside all its peers.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repoRoot } from '../test/support/hoard-process.ts';
import { curlDownload } from './load/curl-download.ts';
import { hoardPeerOf, type HoardVariant } from './peers/hoard-peer.ts';
import { nginxProxyCachePeer } from './peers/nginx-proxy-cache-peer.ts';
import type { Peer } from './peers/peer.ts';
import { writeRandomFile } from './repo/random-file.ts';
import { median } from './report/stats.ts';
import { firstFetch, type ColdLargeResult } from './scenarios/cold-large-file.ts';
import { NginxOrigins } from './upstream/nginx-origin.ts';

const urlPrefix = '/repo';
const filePath = '/pool/main/h/huge/huge_1.0_amd64.deb';

function parseVariant(value: string): HoardVariant {
  const eq = value.indexOf('=');
  const [dir = '.', ...vars] = (eq < 0 ? value : value.slice(eq + 1)).split(',');
  const env = Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
  return { name: eq < 0 ? 'hoard' : value.slice(0, eq), checkout: resolve(dir), env };
}

function parseArgs(argv: readonly string[]): { reps: number; mb: number; hoards: HoardVariant[]; nginx: boolean } {
  let reps = 5;
  let mb = 200;
  let nginx = true;
  const hoards: HoardVariant[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--reps' && value !== undefined) {
      reps = Number(value);
      i++;
    } else if (arg === '--mb' && value !== undefined) {
      mb = Number(value);
      i++;
    } else if (arg === '--hoard' && value !== undefined) {
      hoards.push(parseVariant(value));
      i++;
    } else if (arg === '--no-nginx') {
      nginx = false;
    } else {
      throw new Error(`unknown argument ${arg ?? ''}; use --reps N, --mb N, --hoard LABEL=DIR, --no-nginx`);
    }
  }
  if (!Number.isInteger(reps) || reps < 1 || !Number.isInteger(mb) || mb < 1) throw new Error('--reps and --mb take positive integers');
  if (hoards.length === 0) hoards.push({ name: 'hoard', checkout: repoRoot, env: {} });
  return { reps, mb, hoards, nginx };
}

/** A peer of the full bench, or `direct` (no server: curl from the origin). */
type Target = Peer | 'direct';
const labelOf = (target: Target) => (target === 'direct' ? 'direct' : target.name);

function describe(label: string, r: ColdLargeResult | number): string {
  if (typeof r === 'number') return `${label} ${r.toFixed(0)}`;
  const { cpu } = r;
  return `${label} ${r.mbPerSecond.toFixed(0)} (CPU ${cpu.totalSeconds.toFixed(2)} s: kernel ${cpu.kernelSeconds.toFixed(2)}, main thread ${cpu.mainThreadSeconds.toFixed(2)}, ${cpu.minorFaults} page faults)`;
}

async function main(): Promise<void> {
  const { reps, mb, hoards, nginx } = parseArgs(process.argv.slice(2));
  const size = mb * 1_000_000;
  const work = await mkdtemp(join(tmpdir(), 'hoard-cold-large-'));
  let origins: NginxOrigins | undefined;
  try {
    const repoDir = join(work, 'repo');
    await writeRandomFile(join(repoDir, filePath), size);
    origins = await NginxOrigins.start(join(work, 'origin'), repoDir, urlPrefix, 20_000_000);
    const origin = origins.fast;
    const targets: Target[] = ['direct', ...(nginx ? [nginxProxyCachePeer] : []), ...hoards.map((h) => hoardPeerOf(h))];
    const speeds = new Map<string, number[]>(targets.map((t) => [labelOf(t), []]));
    const cpu = new Map<string, number[]>(targets.map((t) => [labelOf(t), []]));
    const originUrl = `${origin.base}${urlPrefix}${filePath}`;
    await curlDownload(originUrl, size); // into the page cache
    for (let rep = 0; rep < reps; rep++) {
      // Rotated each repetition, so no target always runs right after another one's disk writes.
      const order = targets.map((_, i) => targets[(i + rep) % targets.length] as Target);
      const line: string[] = [];
      for (const target of order) {
        const label = labelOf(target);
        if (target === 'direct') {
          const { mbPerSecond } = await curlDownload(originUrl, size);
          speeds.get(label)?.push(mbPerSecond);
          line.push(describe(label, mbPerSecond));
          continue;
        }
        const dir = join(work, `run-${rep}-${label}`);
        await mkdir(dir, { recursive: true });
        const server = await target.start({ workDir: dir, repoRoot: repoDir, urlPrefix, origins: [origin] });
        try {
          const result = await firstFetch(`${server.base}${server.requestPath(origin, urlPrefix + filePath)}`, size, () => server.pids());
          speeds.get(label)?.push(result.mbPerSecond);
          cpu.get(label)?.push(result.cpu.totalSeconds);
          line.push(describe(label, result));
        } finally {
          await server.stop();
          await rm(dir, { recursive: true, force: true });
        }
      }
      console.log(`rep ${rep + 1}/${reps}: ${line.join(', ')} MB/s`);
    }
    const reference = nginx ? median(speeds.get('nginx-cache') ?? []) : undefined;
    console.log(`\ncold ${mb} MB, one curl client, medians of ${reps}: MB/s, and CPU seconds of the server's processes per download`);
    for (const target of targets) {
      const label = labelOf(target);
      const values = speeds.get(label) ?? [];
      const m = median(values) ?? Number.NaN;
      const ratio = reference === undefined || label === 'nginx-cache' ? '' : `  ${(m / reference).toFixed(2)}x nginx-cache`;
      const c = target === 'direct' ? '' : `  CPU ${(median(cpu.get(label) ?? []) ?? Number.NaN).toFixed(2)} s`;
      console.log(`  ${label.padEnd(12)} ${m.toFixed(0).padStart(6)}  (${values.map((v) => v.toFixed(0)).join(' ')})${ratio}${c}`);
    }
  } finally {
    await origins?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
