// `npm run bench:scale`: hoard over a synthetic store of 1,000,000 objects against one of 1,000: start-up, memory, hits.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/support/hoard-process.ts';
import { runWrk } from './load/wrk-runner.ts';
import { median } from './report/stats.ts';
import { ensureSyntheticStore, measuredObjects, syntheticBackend, syntheticBody, syntheticPath } from './scale/synthetic-store.ts';
import { findFreePortBelow } from './system/free-port.ts';
import { ManagedProcess, sleep } from './system/managed-process.ts';

interface Settings {
  readonly objects: number;
  readonly small: number;
  readonly dir: string;
  readonly repetitions: number;
  /** wrk seconds per round, and rounds per store in each repetition. */
  readonly seconds: number;
  readonly rounds: number;
  /** Also one start after a kill -9 per store: the reconciliation a crash costs (`--no-unclean` skips it). */
  readonly unclean: boolean;
}

interface RunFigures {
  /** Spawn to the first 200 of /_hoard/health. */
  readonly startupMs: number;
  /** Resident memory once healthy, before any request. */
  readonly rssStartMiB: number;
  /** Sequential keep-alive GETs of a few objects: median and 99th percentile. */
  readonly hitP50Us: number;
  readonly hitP99Us: number;
  /** wrk, 2 threads, 16 connections, the same few objects: the median of the rounds. */
  readonly hitsPerSecond: number;
  /** Sequential GETs of objects picked at random over the whole store (mostly not among the hot entries). */
  readonly spreadP50Us: number;
  /** Resident memory after the hits on the few objects, after the spread ones, and its peak over the run. */
  readonly rssEndMiB: number;
  readonly rssSpreadMiB: number;
  readonly rssPeakMiB: number;
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function parseSettings(argv: readonly string[]): Settings {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const positive = (name: string, fallback: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw.replaceAll('_', ''));
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${raw}`);
    return n;
  };
  return {
    objects: positive('objects', 1_000_000),
    small: positive('small', 1000),
    dir: value('dir') ?? process.env.HOARD_BENCH_SCALE_DIR ?? join(tmpdir(), 'hoard-bench-scale'),
    repetitions: positive('repetitions', 3),
    seconds: positive('seconds', 3),
    rounds: positive('rounds', 4),
    unclean: !argv.includes('--no-unclean'),
  };
}

function procKib(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/** One GET (on `agent`'s keep-alive connection, or a new one); resolves with its status and body length. */
function fetchOnce(url: string, agent: Agent | undefined): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`timed out: ${url}`)));
  });
}

async function timedGets(base: string, indices: readonly number[], agent: Agent): Promise<number[]> {
  const micros: number[] = [];
  for (const i of indices) {
    const started = process.hrtime.bigint();
    const { status, bytes } = await fetchOnce(`${base}/${syntheticBackend}${syntheticPath(i)}`, agent);
    micros.push(Number(process.hrtime.bigint() - started) / 1000);
    if (status !== 200 || bytes !== syntheticBody(i).length) throw new Error(`object ${i}: status ${status}, ${bytes} bytes`);
  }
  return micros;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

async function waitForLogLine(file: string, text: string, timeoutMs: number, hoard: ManagedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!hoard.alive) throw new Error(`hoard exited:\n${hoard.logTail()}`);
    if ((await readFile(file, 'utf8').catch(() => '')).includes(text)) return;
    await sleep(100);
  }
  throw new Error(`no "${text}" in ${file} within ${timeoutMs} ms`);
}

interface UncleanFigures {
  readonly startupMs: number;
  /** Listening to the 'store reconciled' log line: the background check of index against blobs. */
  readonly reconcileMs: number;
  readonly rssAfterMiB: number;
  readonly rssPeakMiB: number;
}

/** hoard killed (-9) once healthy, then started again: the start-up and the background reconciliation that follow. */
async function uncleanStart(dataDir: string, count: number, scratch: string): Promise<UncleanFigures> {
  const killed = await startHoard(dataDir, count, scratch);
  killed.hoard.killNow();
  await killed.hoard.exited;
  const { hoard, startupMs, logFile } = await startHoard(dataDir, count, scratch);
  try {
    await waitForLogLine(logFile, '"msg":"store reconciled"', 30 * 60_000, hoard);
    const line = readFileSync(logFile, 'utf8')
      .split('\n')
      .find((l) => l.includes('"msg":"store reconciled"'));
    return {
      startupMs,
      reconcileMs: line === undefined ? Number.NaN : (JSON.parse(line) as { ms: number }).ms,
      rssAfterMiB: procKib(hoard.pid, 'VmRSS') / 1024,
      rssPeakMiB: procKib(hoard.pid, 'VmHWM') / 1024,
    };
  } finally {
    await hoard.stop('SIGTERM', 30_000);
  }
}

/** Starts hoard on `dataDir` and waits for the first 200 of /_hoard/health. */
async function startHoard(dataDir: string, count: number, scratch: string) {
  const port = await findFreePortBelow(32768);
  const configPath = join(scratch, `hoard-${count}.yaml`);
  // The backend's mirror is a closed port: every request measured is a hit, none may go upstream.
  await writeFile(
    configPath,
    `listen: 127.0.0.1:${port}\ndataDir: ${dataDir}\napt:\n  backends:\n    ${syntheticBackend}:\n      mirrors: ['http://127.0.0.1:9/']\n`,
  );
  const logFile = join(scratch, `hoard-${count}.log`);
  await rm(logFile, { force: true });
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const hoard = ManagedProcess.start('hoard', { command: join(repoRoot, 'bin/hoard'), args: ['serve', '--config', configPath], cwd: repoRoot, logFile });
  for (let tries = 0; tries < 12_000; tries++) {
    if (!hoard.alive) throw new Error(`hoard exited during start-up:\n${hoard.logTail()}`);
    const health = await fetchOnce(`${base}/_hoard/health`, undefined).catch(() => undefined);
    if (health?.status === 200) return { hoard, base, logFile, startupMs: performance.now() - started };
    await sleep(5);
  }
  await hoard.stop('SIGKILL');
  throw new Error('hoard did not answer /_hoard/health within a minute');
}

/**
 * Both stores served at once by two hoards, measured in alternation (latency in rounds of 500 requests,
 * wrk in rounds of `seconds`): on a machine other work shares, both see the same load. Start-ups are one
 * after the other, in the order given.
 */
async function runPair(stores: readonly (readonly [string, number])[], settings: Settings, scratch: string): Promise<RunFigures[]> {
  const servers: { hoard: ManagedProcess; base: string; startupMs: number; count: number; agent: Agent; few: number[] }[] = [];
  try {
    for (const [dir, count] of stores) {
      const started = await startHoard(dir, count, scratch);
      servers.push({ ...started, count, agent: new Agent({ keepAlive: true, maxSockets: 1 }), few: measuredObjects(count) });
    }
    const rssStart = servers.map((s) => procKib(s.hoard.pid, 'VmRSS') / 1024);
    for (const s of servers) await timedGets(s.base, s.few, s.agent);
    const hits: number[][] = servers.map(() => []);
    for (let round = 0; round < 8; round++) {
      for (const [n, s] of servers.entries()) {
        const sequence = Array.from({ length: 500 }, (_, k) => s.few[k % s.few.length] as number);
        hits[n]?.push(...(await timedGets(s.base, sequence, s.agent)));
      }
    }
    const rates: number[][] = servers.map(() => []);
    for (let round = 0; round < settings.rounds; round++) {
      // Each round starts with the other server, so neither always follows the other.
      const order = round % 2 === 0 ? [...servers.keys()] : [...servers.keys()].reverse();
      for (const n of order) {
        const s = servers[n] as (typeof servers)[number];
        const wrk = await runWrk({
          base: s.base,
          paths: s.few.map((i) => `/${syntheticBackend}${syntheticPath(i)}`),
          connections: 16,
          threads: 2,
          durationSeconds: settings.seconds,
          newConnectionPerRequest: false,
          scratchDir: scratch,
        });
        if (wrk.errors > 0) throw new Error(`wrk saw ${wrk.errors} errors`);
        rates[n]?.push(wrk.requestsPerSecond);
      }
    }
    const rssEnd = servers.map((s) => procKib(s.hoard.pid, 'VmRSS') / 1024);
    // Last, since they fill the hot entries and SQLite's page cache (both bounded) where the few objects do not.
    const spread: number[][] = [];
    for (const s of servers)
      spread.push(
        await timedGets(
          s.base,
          Array.from({ length: 2000 }, () => Math.floor(Math.random() * s.count)),
          s.agent,
        ),
      );
    return servers.map((s, n) => ({
      startupMs: s.startupMs,
      rssStartMiB: rssStart[n] ?? Number.NaN,
      hitP50Us: percentile(hits[n] ?? [], 50),
      hitP99Us: percentile(hits[n] ?? [], 99),
      hitsPerSecond: median(rates[n] ?? []) ?? Number.NaN,
      spreadP50Us: percentile(spread[n] ?? [], 50),
      rssEndMiB: rssEnd[n] ?? Number.NaN,
      rssSpreadMiB: procKib(s.hoard.pid, 'VmRSS') / 1024,
      rssPeakMiB: procKib(s.hoard.pid, 'VmHWM') / 1024,
    }));
  } finally {
    for (const s of servers) {
      s.agent.destroy();
      await s.hoard.stop('SIGTERM', 30_000);
    }
  }
}

function medianOf(runs: readonly RunFigures[], figure: keyof RunFigures): number {
  return median(runs.map((r) => r[figure])) ?? Number.NaN;
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  // As `npm start` does: the compiled build, so start-up is not spent stripping types.
  execFileSync(process.execPath, [join(repoRoot, 'scripts/build.ts'), '--if-stale'], { cwd: repoRoot, stdio: 'inherit' });
  const largeDir = join(settings.dir, `store-${settings.objects}`);
  const smallDir = join(settings.dir, `store-${settings.small}`);
  log(`synthetic stores in ${settings.dir} (built once, reused)`);
  log(`store of ${settings.small} objects`);
  await ensureSyntheticStore(smallDir, settings.small, log);
  log(`store of ${settings.objects} objects`);
  await ensureSyntheticStore(largeDir, settings.objects, log);
  const scratch = await mkdtemp(join(tmpdir(), 'hoard-bench-scale-run-'));
  await mkdir(scratch, { recursive: true });
  const small: RunFigures[] = [];
  const large: RunFigures[] = [];
  const unclean: UncleanFigures[] = [];
  try {
    for (let rep = 1; rep <= settings.repetitions; rep++) {
      // The start-up order alternates, so neither store always starts on a machine the other has just warmed.
      const smallFirst = rep % 2 === 1;
      const stores = smallFirst
        ? ([
            [smallDir, settings.small],
            [largeDir, settings.objects],
          ] as const)
        : ([
            [largeDir, settings.objects],
            [smallDir, settings.small],
          ] as const);
      log(`repetition ${rep}: both stores, measured in alternation`);
      const figures = await runPair(stores, settings, scratch);
      const [first, second] = figures as [RunFigures, RunFigures];
      small.push(smallFirst ? first : second);
      large.push(smallFirst ? second : first);
      const brief = (f: RunFigures) => JSON.stringify(f, (_, v: unknown) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v));
      log(`  ${settings.small}: ${brief(small[small.length - 1] as RunFigures)}`);
      log(`  ${settings.objects}: ${brief(large[large.length - 1] as RunFigures)}`);
    }
    if (settings.unclean) {
      for (const [dir, count] of [
        [smallDir, settings.small],
        [largeDir, settings.objects],
      ] as const) {
        log(`after a kill -9: ${count} objects`);
        const figures = await uncleanStart(dir, count, scratch);
        log(`  ${JSON.stringify(figures, (_, v: unknown) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v))}`);
        unclean.push(figures);
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  report(settings, small, large, unclean);
}

function report(settings: Settings, small: readonly RunFigures[], large: readonly RunFigures[], unclean: readonly UncleanFigures[]): void {
  const rows: [string, keyof RunFigures, number][] = [
    ['start-up to first 200 on /_hoard/health, ms', 'startupMs', 0],
    ['RSS once healthy, MiB', 'rssStartMiB', 1],
    ['hit latency p50 (8 objects, keep-alive), us', 'hitP50Us', 0],
    ['hit latency p99, us', 'hitP99Us', 0],
    ['hit throughput (wrk 2 threads, 16 connections), req/s', 'hitsPerSecond', 0],
    ['hits spread over the whole store, p50 us', 'spreadP50Us', 0],
    ['RSS after the hits on the 8 objects, MiB', 'rssEndMiB', 1],
    ['RSS after the spread hits, MiB', 'rssSpreadMiB', 1],
    ['peak RSS, MiB', 'rssPeakMiB', 1],
  ];
  const lines = ['', `| figure (medians of ${settings.repetitions}) | ${settings.small} objects | ${settings.objects} objects | ratio |`, '|---|---|---|---|'];
  for (const [name, figure, digits] of rows) {
    const a = medianOf(small, figure);
    const b = medianOf(large, figure);
    lines.push(`| ${name} | ${a.toFixed(digits)} | ${b.toFixed(digits)} | ${(b / a).toFixed(2)} |`);
  }
  const startup = medianOf(large, 'startupMs');
  const latency = medianOf(large, 'hitP50Us') / medianOf(small, 'hitP50Us');
  const throughput = medianOf(large, 'hitsPerSecond') / medianOf(small, 'hitsPerSecond');
  const memory = medianOf(large, 'rssEndMiB') - medianOf(small, 'rssEndMiB');
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  lines.push(
    '',
    `target: start-up under 3 s with ${settings.objects} objects: ${verdict(startup < 3000)} (${(startup / 1000).toFixed(2)} s)`,
    `target: hit latency within 10 % of the small store: ${verdict(latency <= 1.1)} (${latency.toFixed(2)}x)`,
    `target: hit throughput within 10 % of the small store: ${verdict(throughput >= 0.9)} (${throughput.toFixed(2)}x)`,
    `target: memory independent of the object count (within 10 MiB after the hits): ${verdict(Math.abs(memory) <= 10)} (${memory >= 0 ? '+' : ''}${memory.toFixed(1)} MiB)`,
    '',
  );
  const [uncleanSmall, uncleanLarge] = unclean;
  if (uncleanSmall !== undefined && uncleanLarge !== undefined) {
    const row = (name: string, figure: keyof UncleanFigures, digits: number) =>
      `| ${name} | ${uncleanSmall[figure].toFixed(digits)} | ${uncleanLarge[figure].toFixed(digits)} | ${(uncleanLarge[figure] / uncleanSmall[figure]).toFixed(2)} |`;
    lines.push(
      `| after a kill -9 (one run) | ${settings.small} objects | ${settings.objects} objects | ratio |`,
      '|---|---|---|---|',
      row('start-up to first 200, ms', 'startupMs', 0),
      row('background reconciliation, ms', 'reconcileMs', 0),
      row('RSS once reconciled, MiB', 'rssAfterMiB', 1),
      row('peak RSS, MiB', 'rssPeakMiB', 1),
      '',
    );
  }
  process.stdout.write(lines.join('\n'));
}

await main();
