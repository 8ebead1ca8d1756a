// Durations, concurrencies and repetition counts of one bench run, with the reasons they are what they are.
import type { RepositoryShape } from './repo/bench-repository.ts';
import { defaultShape } from './repo/bench-repository.ts';

export interface BenchSettings {
  readonly repetitions: number;
  readonly shape: RepositoryShape;
  /** The limited origin's rate (nginx limit_rate), bytes per second. */
  readonly upstreamRate: number;
  /** (a) seconds of downloading the 200 MB file, per client and concurrency (the 1 MiB reader, then curl). */
  readonly largeSeconds: number;
  readonly largeConcurrency: readonly number[];
  /** (b) seconds of wrk per small-file run, after a warm-up of `warmupSeconds`. */
  readonly smallSeconds: number;
  readonly warmupSeconds: number;
  readonly smallConnections: number;
  /** (b) wrk's thread counts for the keep-alive runs (new connections run at the first only). */
  readonly smallThreads: readonly number[];
  /** (c) clients asking at once for the uncached 50 MB file. */
  readonly coldClients: number;
  /** Peers to run, by name (all by default). */
  readonly peers: readonly string[] | undefined;
  /**
   * Scenarios to run (a, b, c, e, f and `image` by default): the apt ones by letter ((d) is read in every apt run);
   * `image` for container images (bench/image/: its own registry, peers and report). `images` (one 500 MB image
   * stream item, cold through the rate-limited origin with 8 clients, then warm; part of the apt run) runs only
   * when named: it adds about 30 s per caching peer and repetition, and 500 MB of disk per peer.
   */
  readonly scenarios: readonly string[];
}

/**
 * The apt run is sized to finish in about 11 minutes on a 2-core machine: 4 peers x 3 repetitions of 40-60 s each,
 * plus about 20 s to build the repository (14.5 minutes at a load average of 11-18); the image scenario
 * (bench/image/) about 8 more. Issue 16 added (f), curl in (a) and a second wrk thread count in (b); to stay
 * near 20 minutes in all, (a)'s runs take 3 s rather than 4 (still at least one whole 200 MB download per
 * client) and (b)'s 3 s rather than 4 (tens of thousands of requests each). `--quick` keeps the shape but
 * runs once, with shorter load runs (for development).
 */
export const defaultSettings: BenchSettings = {
  repetitions: 3,
  shape: defaultShape,
  upstreamRate: 20_000_000,
  largeSeconds: 3,
  largeConcurrency: [1, 8],
  smallSeconds: 3,
  warmupSeconds: 1,
  smallConnections: 16,
  smallThreads: [1, 2],
  coldClients: 16,
  peers: undefined,
  scenarios: ['a', 'b', 'c', 'e', 'f', 'image'],
};

/** The peers `--peers` takes (bench/peers/), in the order the report shows them. */
export const peerNames: readonly string[] = ['hoard', 'apt-cacher-ng', 'nginx-cache', 'nginx-disk'];

/** The apt run's default scenarios (the signed repository, apt-cacher-ng, nginx); `image` brings its own upstream and peers. */
export const aptScenarios: readonly string[] = ['a', 'b', 'c', 'e', 'f'];

/** Every scenario the apt run holds: its letters and `images`, which runs only when named. */
export const aptRunScenarios: readonly string[] = [...aptScenarios, 'images'];

/** Every scenario name `--scenarios` takes. */
export const allScenarios: readonly string[] = [...aptRunScenarios, 'image'];

/** A wrong command line: the bench prints its message alone. */
export class UsageError extends Error {}

export function parseSettings(argv: readonly string[]): BenchSettings {
  let settings = defaultSettings;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--quick') {
      settings = { ...settings, repetitions: 1, largeSeconds: 2, smallSeconds: 2, warmupSeconds: 1 };
    } else if (arg === '--reps' && value !== undefined) {
      settings = { ...settings, repetitions: positive(arg, value) };
      i++;
    } else if (arg === '--peers' && value !== undefined) {
      const peers = value.split(',');
      const unknown = peers.filter((p) => !peerNames.includes(p));
      if (unknown.length > 0) throw new UsageError(`unknown peer ${unknown.join(', ')}; --peers takes ${peerNames.join(',')}`);
      settings = { ...settings, peers };
      i++;
    } else if (arg === '--scenarios' && value !== undefined) {
      const scenarios = value.split(',');
      const unknown = scenarios.filter((s) => !allScenarios.includes(s));
      if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')}; --scenarios takes ${allScenarios.join(',')}`);
      settings = { ...settings, scenarios };
      i++;
    } else if (arg === '--seconds' && value !== undefined) {
      const s = positive(arg, value);
      settings = { ...settings, largeSeconds: s, smallSeconds: s };
      i++;
    } else {
      throw new UsageError(
        `unknown argument ${arg ?? ''}; use --quick, --reps N, --seconds N, --peers ${peerNames.join(',')}, --scenarios ${allScenarios.join(',')}`,
      );
    }
  }
  return settings;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got ${value}`);
  return n;
}
