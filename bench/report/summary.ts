// Medians over repetitions, per peer and figure, and hoard's ratio against each peer.
import type { PeerRunResult } from '../peer-run.ts';
import { metrics } from './metrics.ts';
import { median, ratio } from './stats.ts';

export class Summary {
  readonly peers: readonly string[];
  readonly runs: readonly PeerRunResult[];
  readonly coldFileBytes: number;
  readonly upstreamRate: number;
  readonly coldClients: number;

  constructor(peers: readonly string[], runs: readonly PeerRunResult[], coldFileBytes: number, upstreamRate: number, coldClients: number) {
    this.peers = peers;
    this.runs = runs;
    this.coldFileBytes = coldFileBytes;
    this.upstreamRate = upstreamRate;
    this.coldClients = coldClients;
  }

  runsOf(peer: string): PeerRunResult[] {
    return this.runs.filter((r) => r.peer === peer);
  }

  median(metricId: string, peer: string): number | undefined {
    const metric = metrics.find((m) => m.id === metricId);
    if (metric === undefined) throw new Error(`unknown metric ${metricId}`);
    return median(this.runsOf(peer).map((r) => metric.read(r) ?? Number.NaN));
  }

  /** hoard's median over the peer's median. */
  ratio(metricId: string, peer: string): number | undefined {
    return ratio(this.median(metricId, 'hoard'), this.median(metricId, peer));
  }

  /** Everything as plain data, for the results JSON. */
  toJson(): Record<string, unknown> {
    const medians: Record<string, Record<string, number | undefined>> = {};
    const ratios: Record<string, Record<string, number | undefined>> = {};
    for (const metric of metrics) {
      medians[metric.id] = Object.fromEntries(this.peers.map((p) => [p, this.median(metric.id, p)]));
      ratios[metric.id] = Object.fromEntries(this.peers.filter((p) => p !== 'hoard').map((p) => [p, this.ratio(metric.id, p)]));
    }
    return { medians, ratios };
  }
}
