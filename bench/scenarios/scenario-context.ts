// What every scenario receives: the peer under test, the origins, the repository, and a scratch directory.
import type { NginxOrigins } from '../upstream/nginx-origin.ts';
import type { BenchRepository } from '../repo/bench-repository.ts';
import type { Peer, RunningPeer } from '../peers/peer.ts';
import type { BenchSettings } from '../bench-settings.ts';

export interface ScenarioContext {
  readonly peer: Peer;
  readonly running: RunningPeer;
  readonly origins: NginxOrigins;
  readonly repository: BenchRepository;
  readonly settings: BenchSettings;
  readonly scratchDir: string;
  readonly log: (line: string) => void;
}

/** `http://127.0.0.1:PORT` -> PORT. */
export function portOf(base: string): number {
  return Number(new URL(base).port);
}
