// The issue's targets, checked against one run's figures: each says what it compares, the figure, and met or not.
import type { Summary } from './summary.ts';

export interface TargetCheck {
  readonly scenario: string;
  readonly target: string;
  readonly value: string;
  readonly met: boolean | undefined;
}

const fmt = (v: number | undefined, digits = 2) => (v === undefined ? 'n/a' : v.toFixed(digits));

export function checkTargets(summary: Summary): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const ratioAtLeast = (scenario: string, metric: string, peer: string, min: number, what: string) => {
    const r = summary.ratio(metric, peer);
    checks.push({ scenario, target: `${what} >= ${min}x ${peer}`, value: `${fmt(r)}x`, met: r === undefined ? undefined : r >= min });
  };
  const ratioAtMost = (scenario: string, metric: string, peer: string, max: number, what: string) => {
    const r = summary.ratio(metric, peer);
    checks.push({ scenario, target: `${what} <= ${max}x ${peer}`, value: `${fmt(r)}x`, met: r === undefined ? undefined : r <= max });
  };
  for (const c of ['1', '8']) {
    ratioAtLeast('a', `a.${c}`, 'apt-cacher-ng', 1.0, `warm 200 MB, ${c} client(s), MB/s`);
    ratioAtLeast('a', `a.${c}`, 'nginx-disk', 0.9, `warm 200 MB, ${c} client(s), MB/s`);
  }
  ratioAtLeast('b', 'b.ka1.rps', 'nginx-disk', 0.5, 'keep-alive 4 KB file, req/s');
  ratioAtLeast('b', 'b.kaMix.rps', 'nginx-disk', 0.5, 'keep-alive small mix, req/s');
  ratioAtLeast('b', 'b.nc1.rps', 'apt-cacher-ng', 1.5, 'new connection 4 KB file, req/s');
  ratioAtLeast('b', 'b.ncMix.rps', 'apt-cacher-ng', 1.5, 'new connection small mix, req/s');

  const hoardRuns = summary.runsOf('hoard');
  const requests = hoardRuns.map((r) => r.cold?.upstreamRequests);
  // A run without (c) (`--scenarios images`) has nothing to check there.
  if (requests.some((n) => n !== undefined)) coldTargets(summary, checks, requests);
  imageTargets(summary, checks, ratioAtLeast);
  // The stricter reading: the highest peak of any repetition, not the median.
  const peaks = hoardRuns.map((r) => r.peakRssBytes).filter((v): v is number => v !== undefined);
  const peak = peaks.length === 0 ? undefined : Math.max(...peaks) / 1e6;
  checks.push({
    scenario: 'd',
    target: 'peak resident memory <= 120 MB (highest of all repetitions)',
    value: `${fmt(peak, 1)} MB`,
    met: peak === undefined ? undefined : peak <= 120,
  });
  ratioAtMost('e', 'e.warm', 'apt-cacher-ng', 1.0, 'warm apt run, seconds');
  ratioAtMost('e', 'e.cold', 'nginx-cache', 1.2, 'cold apt run, seconds');
  return checks;
}

/** The `images` scenario, shaped as (a) and (c): one upstream copy, the origin's pace, first bytes at once, warm beside nginx. */
function imageTargets(
  summary: Summary,
  checks: TargetCheck[],
  ratioAtLeast: (scenario: string, metric: string, peer: string, min: number, what: string) => void,
): void {
  const runs = summary.runsOf('hoard').map((r) => r.images?.cold);
  if (runs.every((r) => r === undefined)) return;
  checks.push({
    scenario: 'images',
    target: 'upstream body 1.00x the item in every repetition',
    value: runs.map((r) => (r === undefined ? '?' : `${r.upstreamRatio.toFixed(2)}x`)).join(', '),
    met: runs.every((r) => r !== undefined && r.upstreamRatio <= 1.0),
  });
  const bytes = summary.runs.find((r) => r.images !== undefined)?.images?.itemBytes;
  const wall = summary.median('images.wall', 'hoard');
  const bound = bytes === undefined ? undefined : (bytes / summary.upstreamRate) * 1.05;
  checks.push({
    scenario: 'images',
    target: `wall time <= 1.05 x size/rate${bound === undefined ? '' : ` = ${bound.toFixed(2)} s`}`,
    value: `${fmt(wall)} s`,
    met: wall === undefined || bound === undefined ? undefined : wall <= bound,
  });
  const ttfb = summary.median('images.ttfb', 'hoard');
  checks.push({
    scenario: 'images',
    target: 'median time to first byte <= 0.05 s',
    value: `${fmt(ttfb, 3)} s`,
    met: ttfb === undefined ? undefined : ttfb <= 0.05,
  });
  const correct = runs.map((r) => r?.correctBodies);
  checks.push({
    scenario: 'images',
    target: 'all 8 bodies correct in every repetition',
    value: correct.map((n) => (n === undefined ? '?' : String(n))).join(', '),
    met: correct.every((n) => n === 8),
  });
  ratioAtLeast('images', 'images.warm8', 'nginx-cache', 1.0, 'warm 500 MB item, 8 clients, MB/s');
  ratioAtLeast('images', 'images.warm8', 'nginx-disk', 0.9, 'warm 500 MB item, 8 clients, MB/s');
}

function coldTargets(summary: Summary, checks: TargetCheck[], requests: ReadonlyArray<number | undefined>): void {
  const hoardRuns = summary.runsOf('hoard');
  checks.push({
    scenario: 'c',
    target: 'exactly one upstream request in every repetition',
    value: requests.map((n) => (n === undefined ? '?' : String(n))).join(', '),
    met: requests.length > 0 && requests.every((n) => n === 1),
  });
  const bound = (summary.coldFileBytes / summary.upstreamRate) * 1.05;
  const wall = summary.median('c.wall', 'hoard');
  checks.push({
    scenario: 'c',
    target: `wall time <= 1.05 x size/rate = ${bound.toFixed(2)} s`,
    value: `${fmt(wall)} s`,
    met: wall === undefined ? undefined : wall <= bound,
  });
  const ttfb = summary.median('c.ttfb', 'hoard');
  checks.push({ scenario: 'c', target: 'median time to first byte <= 0.05 s', value: `${fmt(ttfb, 3)} s`, met: ttfb === undefined ? undefined : ttfb <= 0.05 });
  const correct = hoardRuns.map((r) => r.cold?.correctBodies);
  checks.push({
    scenario: 'c',
    target: 'all 16 bodies correct in every repetition',
    value: correct.map((n) => (n === undefined ? '?' : String(n))).join(', '),
    met: correct.length > 0 && correct.every((n) => n === summary.coldClients),
  });
}
