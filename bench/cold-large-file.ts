// The cold byte path alone: the first fetch of one large file with curl through hoard (fresh data dir each run),
// through nginx proxy_cache (fresh cache each run) and straight from the origin; interleaved runs, medians, ratios.
//
//   node bench/cold-large-file.ts [--reps 5] [--mb 200] [--hoard LABEL=CHECKOUT[,VAR=VALUE...] ...] [--no-nginx]
//
// `--hoard` may be given several times to compare checkouts or environments (e.g. `--hoard before=/path/to/main
// --hoard after=. --hoard big-mmap=.,MALLOC_MMAP_THRESHOLD_=262144`), each started through its own bin/hoard with
// those variables added; without it, this checkout runs as `hoard`. HOARD_BENCH_NODE_FLAGS adds Node
// flags to hoard (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), as in the full bench.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../test/support/hoard-process.ts';
import { nginxProxyCachePeer } from './peers/nginx-proxy-cache-peer.ts';
import { prefixPath, type Origin } from './peers/peer.ts';
import { median } from './report/stats.ts';
import { findFreePortBelow } from './system/free-port.ts';
import { ManagedProcess } from './system/managed-process.ts';
import { NginxOrigins } from './upstream/nginx-origin.ts';
import { writeRandomFile } from './repo/random-file.ts';

const run = promisify(execFile);
const urlPrefix = '/repo';
const filePath = '/pool/main/h/huge/huge_1.0_amd64.deb';

interface Target {
  readonly label: string;
  /** Starts the server with an empty cache, returns its base URL (or undefined: fetch the origin directly) and a stop. */
  start(workDir: string): Promise<{ base: string | undefined; pids: () => number[]; stop: () => Promise<void> }>;
}

interface HoardVariant {
  readonly label: string;
  readonly root: string;
  readonly env: Record<string, string>;
}

function parseVariant(value: string): HoardVariant {
  const eq = value.indexOf('=');
  const [dir = '.', ...vars] = (eq < 0 ? value : value.slice(eq + 1)).split(',');
  const env = Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
  return { label: eq < 0 ? 'hoard' : value.slice(0, eq), root: resolve(dir), env };
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
  if (hoards.length === 0) hoards.push({ label: 'hoard', root: repoRoot, env: {} });
  return { reps, mb, hoards, nginx };
}

/** hoard as the full bench starts it (bin/hoard, default configuration), from checkout `root`. */
function hoardTarget({ label, root, env }: HoardVariant): Target {
  return {
    label,
    async start(workDir) {
      const port = await findFreePortBelow(32768);
      await mkdir(join(workDir, 'data'), { recursive: true });
      const configPath = join(workDir, 'hoard.yaml');
      await writeFile(configPath, `listen: 127.0.0.1:${port}\ndataDir: ${join(workDir, 'data')}\ndeniedUpstreamNetworks: []\n`);
      const hoard = ManagedProcess.start(label, {
        command: join(root, 'bin/hoard'),
        args: ['serve', '--config', configPath],
        cwd: root,
        env: {
          ...process.env,
          ...env,
          NODE_OPTIONS: [process.env.NODE_OPTIONS, process.env.HOARD_BENCH_NODE_FLAGS].filter((f) => f !== undefined && f !== '').join(' '),
        },
        logFile: join(workDir, 'hoard.log'),
      });
      await hoard.waitForPort(port);
      return { base: `http://127.0.0.1:${port}`, pids: () => [hoard.pid], stop: () => hoard.stop('SIGTERM', 30_000).then(() => undefined) };
    },
  };
}

function nginxCacheTarget(origin: Origin, repoDir: string): Target {
  return {
    label: 'nginx-cache',
    async start(workDir) {
      const peer = await nginxProxyCachePeer.start({ workDir, repoRoot: repoDir, urlPrefix, origins: [origin] });
      return { base: peer.base, pids: () => peer.pids(), stop: () => peer.stop() };
    },
  };
}

const directTarget: Target = { label: 'direct', start: () => Promise.resolve({ base: undefined, pids: () => [], stop: () => Promise.resolve() }) };

/**
 * CPU seconds (user + system, all threads) the processes have used so far: the load-independent figure. The
 * machine the bench shares makes wall-clock speeds swing by 3x between runs; the CPU one download costs does not.
 */
function cpuSeconds(pids: readonly number[], which: 'all' | 'main' | 'system' | 'faults' = 'all'): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(which === 'main' ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (which === 'faults') ticks += Number(fields[7]) * 100;
      else ticks += (which === 'system' ? 0 : Number(fields[11])) + Number(fields[12]);
    } catch {
      // Gone: counts nothing.
    }
  }
  return ticks / 100;
}

/** One curl download to /dev/null: its average speed in MB/s (10^6 bytes), after checking status and size. */
async function curlSpeed(url: string, size: number): Promise<number> {
  const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url], { timeout: 300_000 });
  const [status, bytes, seconds] = stdout.trim().split(' ').map(Number);
  if (status !== 200 || bytes !== size) throw new Error(`${url}: status ${status}, ${bytes} of ${size} bytes`);
  return size / (seconds ?? Number.NaN) / 1e6;
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
    const targets: Target[] = [directTarget, ...(nginx ? [nginxCacheTarget(origin, repoDir)] : []), ...hoards.map((h) => hoardTarget(h))];
    const speeds = new Map<string, number[]>(targets.map((t) => [t.label, []]));
    const cpu = new Map<string, number[]>(targets.map((t) => [t.label, []]));
    await curlSpeed(`${origin.base}${urlPrefix}${filePath}`, size); // into the page cache
    for (let rep = 0; rep < reps; rep++) {
      // Rotated each repetition, so no target always runs right after another one's disk writes.
      const order = targets.map((_, i) => targets[(i + rep) % targets.length] as Target);
      const line: string[] = [];
      for (const target of order) {
        const dir = join(work, `run-${rep}-${target.label}`);
        await mkdir(dir, { recursive: true });
        const server = await target.start(dir);
        try {
          const url = server.base === undefined ? `${origin.base}${urlPrefix}${filePath}` : `${server.base}${prefixPath(origin, urlPrefix + filePath)}`;
          const cpuBefore = cpuSeconds(server.pids());
          const mainBefore = cpuSeconds(server.pids(), 'main');
          const systemBefore = cpuSeconds(server.pids(), 'system');
          const faultsBefore = cpuSeconds(server.pids(), 'faults');
          const speed = await curlSpeed(url, size);
          const used = cpuSeconds(server.pids()) - cpuBefore;
          const mainUsed = cpuSeconds(server.pids(), 'main') - mainBefore;
          const systemUsed = cpuSeconds(server.pids(), 'system') - systemBefore;
          const faults = cpuSeconds(server.pids(), 'faults') - faultsBefore;
          speeds.get(target.label)?.push(speed);
          cpu.get(target.label)?.push(used);
          line.push(
            `${target.label} ${speed.toFixed(0)}${server.base === undefined ? '' : ` (CPU ${used.toFixed(2)} s: kernel ${systemUsed.toFixed(2)}, main thread ${mainUsed.toFixed(2)}, ${faults} page faults)`}`,
          );
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
      const values = speeds.get(target.label) ?? [];
      const m = median(values) ?? Number.NaN;
      const ratio = reference === undefined || target.label === 'nginx-cache' ? '' : `  ${(m / reference).toFixed(2)}x nginx-cache`;
      const c = target.label === 'direct' ? '' : `  CPU ${(median(cpu.get(target.label) ?? []) ?? Number.NaN).toFixed(2)} s`;
      console.log(`  ${target.label.padEnd(12)} ${m.toFixed(0).padStart(6)}  (${values.map((v) => v.toFixed(0)).join(' ')})${ratio}${c}`);
    }
  } finally {
    await origins?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
