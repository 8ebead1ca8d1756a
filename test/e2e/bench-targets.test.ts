// The bench's verdicts on issue 16's targets (medians of repetitions, ratios to the right peer, bounds inclusive, only scenarios that ran), and its memory figure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import type { WrkResult } from '../../bench/load/wrk-runner.ts';
import type { PeerRunResult } from '../../bench/peer-run.ts';
import { renderTargets } from '../../bench/report/report-table.ts';
import { Summary } from '../../bench/report/summary.ts';
import { checkTargets, countTargets, type TargetCheck } from '../../bench/report/targets.ts';
import { PeakMemorySampler } from '../../bench/system/process-memory.ts';

const peers = ['hoard', 'apt-cacher-ng', 'nginx-cache', 'nginx-disk'];

function wrk(requestsPerSecond: number): WrkResult {
  return { requestsPerSecond, requests: 0, bytes: 0, durationSeconds: 3, p50Ms: 1, p90Ms: 1, p99Ms: 1, maxMs: 1, errors: 0, statusErrors: 0 };
}

/** One figure per measured quantity; every other field as a run would fill it. */
interface Figures {
  coldLarge?: number;
  aptCold?: number;
  aptWarm?: number;
  reader?: [number, number];
  curl?: [number, number];
  keepAlive1?: [number, number];
  keepAlive2?: [number, number];
  newConnection?: [number, number];
  burst?: { requests: number; wall: number; ttfb: number; correct: number };
  peakMB?: number;
}

function run(peer: string, repetition: number, f: Figures): PeerRunResult {
  const apt = (totalSeconds: number | undefined) =>
    totalSeconds === undefined ? undefined : { updateSeconds: 0, downloadSeconds: totalSeconds, totalSeconds, packages: 315, ok: true, problem: undefined };
  return {
    peer,
    repetition,
    coldLarge:
      f.coldLarge === undefined
        ? undefined
        : { mbPerSecond: f.coldLarge, seconds: 200 / f.coldLarge, cpu: { totalSeconds: 1, kernelSeconds: 0.5, mainThreadSeconds: 0.5, minorFaults: 0 } },
    aptCold: apt(f.aptCold),
    aptWarm: apt(f.aptWarm),
    large:
      f.reader === undefined || f.curl === undefined
        ? undefined
        : { verified: true, mbPerSecond: { 1: f.reader[0], 8: f.reader[1] }, curlMbPerSecond: { 1: f.curl[0], 8: f.curl[1] } },
    small:
      f.keepAlive1 === undefined || f.keepAlive2 === undefined || f.newConnection === undefined
        ? undefined
        : {
            verified: 301,
            files: 301,
            keepAliveByThreads: {
              1: { one: wrk(f.keepAlive1[0]), mix: wrk(f.keepAlive1[1]) },
              2: { one: wrk(f.keepAlive2[0]), mix: wrk(f.keepAlive2[1]) },
            },
            newConnectionOne: wrk(f.newConnection[0]),
            newConnectionMix: wrk(f.newConnection[1]),
          },
    cold:
      f.burst === undefined
        ? undefined
        : {
            clients: 16,
            upstreamRequests: f.burst.requests,
            upstreamBytes: 50e6 * f.burst.requests,
            wallSeconds: f.burst.wall,
            medianFirstByteSeconds: f.burst.ttfb,
            maxFirstByteSeconds: f.burst.ttfb,
            correctBodies: f.burst.correct,
          },
    peakRssBytes: f.peakMB === undefined ? undefined : f.peakMB * 1e6,
    seconds: 40,
    failures: [],
  };
}

/** The peers' figures, the same in each of three repetitions; hoard's given per repetition. */
const peerFigures: Record<string, Figures> = {
  'apt-cacher-ng': {
    coldLarge: 400,
    aptCold: 12,
    aptWarm: 4,
    reader: [800, 1400],
    curl: [800, 1000],
    keepAlive1: [350, 350],
    keepAlive2: [350, 350],
    newConnection: [5000, 4000],
    peakMB: 14,
  },
  'nginx-cache': {
    coldLarge: 500,
    aptCold: 4,
    aptWarm: 3,
    reader: [700, 600],
    curl: [400, 500],
    keepAlive1: [20000, 10000],
    keepAlive2: [26000, 10000],
    newConnection: [7000, 8000],
    peakMB: 28,
  },
  'nginx-disk': {
    aptCold: 3,
    aptWarm: 3,
    reader: [1000, 1000],
    curl: [1000, 1000],
    keepAlive1: [30000, 26000],
    keepAlive2: [30000, 28000],
    newConnection: [12000, 10000],
    peakMB: 19,
  },
};

/** The figures every repetition shares; each repetition adds its own cold fetch, burst and memory. */
const sharedMedians = {
  aptCold: 4.8,
  aptWarm: 3.4,
  reader: [1200, 950],
  curl: [900, 800],
  keepAlive1: [15000, 13000],
  keepAlive2: [14000, 14000],
  newConnection: [5000, 3000],
} satisfies Partial<Figures>;

const hoardFigures: Figures[] = [
  // The medians: (f) 500 = 1.0x nginx-cache (met, the bound is inclusive); cold apt 4.8 s = 1.2x (met);
  // curl 1 client 900 = 0.9x nginx-disk (met), 8 clients 800 (not); reader 1,200 and 950 (met);
  // warm apt 3.4 s = 1.13x nginx-disk's seconds (not: more than 1/0.9); keep-alive 1 thread 15,000 and 13,000
  // (0.5x: met), 2 threads 14,000 (0.47x: not) and 14,000 (0.5x: met); new connections 5,000 (1.0x: met) and 3,000 (not).
  {
    coldLarge: 100,
    ...sharedMedians,
    burst: { requests: 1, wall: 2.4, ttfb: 0.01, correct: 16 },
    peakMB: 110,
  },
  {
    coldLarge: 500,
    ...sharedMedians,
    burst: { requests: 2, wall: 2.5, ttfb: 0.05, correct: 16 },
    peakMB: 125,
  },
  {
    coldLarge: 900,
    ...sharedMedians,
    burst: { requests: 1, wall: 2.7, ttfb: 0.02, correct: 16 },
    peakMB: 100,
  },
];

function summaryOf(included: readonly string[]): Summary {
  const runs = [1, 2, 3].flatMap((rep) =>
    included.map((peer) => run(peer, rep, peer === 'hoard' ? (hoardFigures[rep - 1] as Figures) : (peerFigures[peer] as Figures))),
  );
  return new Summary(included, runs, 50e6, 20e6, 16);
}

const verdicts = (checks: readonly TargetCheck[]) => checks.map((c) => `(${c.scenario}) ${c.target}: ${c.value} ${String(c.met)}`);

test("issue 16's targets: one check each, in the issue's order, from hoard's medians against the named peer", () => {
  const checks = checkTargets(summaryOf(peers), ['a', 'b', 'c', 'e', 'f', 'image']);
  assert.deepEqual(verdicts(checks), [
    '(f) cold 200 MB first fetch, 1 curl client, MB/s >= 1.0x nginx-cache: 1.00x true',
    '(e) cold apt run, seconds <= 1.20x nginx-cache: 1.20x true',
    '(a) warm 200 MB, 1 curl client, MB/s >= 0.9x nginx-disk: 0.90x true',
    '(a) warm 200 MB, 8 curl clients, aggregate MB/s >= 0.9x nginx-disk: 0.80x false',
    '(a) warm 200 MB, 1 client (1 MiB reader), MB/s >= 0.9x nginx-disk: 1.20x true',
    '(a) warm 200 MB, 8 clients (1 MiB reader), MB/s >= 0.9x nginx-disk: 0.95x true',
    '(e) warm apt run (0.9x the speed), seconds <= 1.11x nginx-disk: 1.13x false',
    '(b) keep-alive 4 KB file, wrk 1 thread, req/s >= 0.5x nginx-disk: 0.50x true',
    '(b) keep-alive small mix, wrk 1 thread, req/s >= 0.5x nginx-disk: 0.50x true',
    '(b) keep-alive 4 KB file, wrk 2 threads, req/s >= 0.5x nginx-disk: 0.47x false',
    '(b) keep-alive small mix, wrk 2 threads, req/s >= 0.5x nginx-disk: 0.50x true',
    '(b) new connection 4 KB file, req/s >= 1.0x apt-cacher-ng: 1.00x true',
    '(b) new connection small mix, req/s >= 1.0x apt-cacher-ng: 0.75x false',
    // One repetition with two upstream requests fails "always"; the medians of wall time and first byte pass.
    '(c) exactly one upstream request in every repetition: 1, 2, 1 false',
    '(c) wall time <= 1.05 x size/rate = 2.63 s: 2.50 s true',
    '(c) median time to first byte <= 0.05 s: 0.020 s true',
    '(c) all 16 bodies correct in every repetition: 16, 16, 16 true',
    // Memory takes the highest repetition, not the median (110 MB).
    '(d) peak resident memory of all hoard processes through the run <= 120 MB (highest of all repetitions): 125.0 MB false',
  ]);
  assert.deepEqual(countTargets(checks), { met: 12, notMet: 6, notMeasured: 0 });
});

test('targets of scenarios that did not run are left out; those of peers that did not run are "not measured"', () => {
  const onlyA = checkTargets(summaryOf(peers), ['a']);
  assert.deepEqual(
    onlyA.map((c) => c.scenario),
    ['a', 'a', 'a', 'a', 'd'],
  );
  assert.deepEqual(checkTargets(summaryOf(peers), ['image']), [], 'the image scenario reports its own targets');

  const withoutCaches = checkTargets(summaryOf(['hoard', 'nginx-disk']), ['b', 'f']);
  const byTarget = new Map(withoutCaches.map((c) => [c.target, c]));
  assert.equal(byTarget.get('cold 200 MB first fetch, 1 curl client, MB/s >= 1.0x nginx-cache')?.met, undefined);
  assert.equal(byTarget.get('new connection 4 KB file, req/s >= 1.0x apt-cacher-ng')?.value, 'n/a');
  assert.equal(byTarget.get('keep-alive 4 KB file, wrk 1 thread, req/s >= 0.5x nginx-disk')?.met, true);

  const text = renderTargets(withoutCaches);
  assert.match(text, /^Targets: 3 met, 2 NOT met, 3 not measured$/m);
  assert.match(text, /^\| \(f\) \| cold 200 MB first fetch, 1 curl client, MB\/s >= 1\.0x nginx-cache \| n\/a \| not measured \|$/m);
  assert.match(text, /^\| \(b\) \| keep-alive 4 KB file, wrk 2 threads, req\/s >= 0\.5x nginx-disk \| 0\.47x \| NOT met \|$/m);
  assert.match(text, /^\| \(b\) \| keep-alive small mix, wrk 2 threads, req\/s >= 0\.5x nginx-disk \| 0\.50x \| met \|$/m);
  // One line per check after the header, the separator and the count.
  assert.equal(text.split('\n').filter((l) => l.startsWith('| (')).length, withoutCaches.length);
});

test('(d) the memory sampler sums the peaks of the whole process tree, a grandchild that exited before the end included', async () => {
  // sh starts node, which holds 80 MB of touched memory for a second and exits; sh lives on a little.
  const script = 'const b = Buffer.alloc(80e6, 1); setTimeout(() => b.length, 1000)';
  const child = spawn('sh', ['-c', `${JSON.stringify(process.execPath)} -e ${JSON.stringify(script)}; sleep 1`], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  try {
    const pid = child.pid as number;
    const sampler = new PeakMemorySampler(() => [pid], 50);
    // Bounded: the shell ends about two seconds after it started; wait at most 20 s on a loaded machine.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
    const peak = sampler.stop();
    // Only the grandchild (node with its 80 MB) can bring the sum past 80 MB: sh alone holds a few MB.
    assert.ok(peak !== undefined && peak >= 80e6, `peak ${peak} bytes`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
});
