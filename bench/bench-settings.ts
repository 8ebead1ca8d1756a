// Durations, concurrencies and repetition counts of one bench run, with the reasons they are what they are.
import type { RepositoryShape } from './repo/bench-repository.ts';
import { defaultShape } from './repo/bench-repository.ts';

export interface BenchSettings {
  readonly repetitions: number;
  readonly shape: RepositoryShape;
  /** The limited origin's rate (nginx limit_rate), bytes per second. */
  readonly upstreamRate: number;
  /** (a) seconds of downloading the 200 MB file, per concurrency. */
  readonly largeSeconds: number;
  readonly largeConcurrency: readonly number[];
  /** (b) seconds of wrk per small-file run, after a warm-up of `warmupSeconds`. */
  readonly smallSeconds: number;
  readonly warmupSeconds: number;
  readonly smallConnections: number;
  /** (c) clients asking at once for the uncached 50 MB file. */
  readonly coldClients: number;
  /** Peers to run, by name (all by default). */
  readonly peers: readonly string[] | undefined;
  /**
   * Scenarios to run (a, b, c, e by default; (d) is read in every run). `images` (one 500 MB image item, cold
   * through the rate-limited origin with 8 clients, then warm) runs only when named: it adds about 30 s per
   * caching peer and repetition, and 500 MB of disk per peer.
   */
  readonly scenarios: readonly string[];
}

/**
 * Sized to finish in about 8 minutes on a 2-core machine: 4 peers x 3 repetitions of 20-50 s each,
 * plus about 15 s to build the repository. `--quick` keeps the shape but runs once, with shorter
 * load runs (for development).
 */
export const defaultSettings: BenchSettings = {
  repetitions: 3,
  shape: defaultShape,
  upstreamRate: 20_000_000,
  largeSeconds: 4,
  largeConcurrency: [1, 8],
  smallSeconds: 4,
  warmupSeconds: 1,
  smallConnections: 16,
  coldClients: 16,
  peers: undefined,
  scenarios: ['a', 'b', 'c', 'e'],
};

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
      settings = { ...settings, peers: value.split(',') };
      i++;
    } else if (arg === '--scenarios' && value !== undefined) {
      settings = { ...settings, scenarios: value.split(',') };
      i++;
    } else if (arg === '--seconds' && value !== undefined) {
      const s = positive(arg, value);
      settings = { ...settings, largeSeconds: s, smallSeconds: s };
      i++;
    } else {
      throw new Error(`unknown argument ${arg ?? ''}; use --quick, --reps N, --seconds N, --peers a,b --scenarios a,b,c,e,images`);
    }
  }
  return settings;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return n;
}
