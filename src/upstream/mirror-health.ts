// Per-mirror health: consecutive failures, last error and a cooldown that moves failing mirrors to the back.
import type { Clock } from '../clock.ts';
import { publishMirrorHealth } from '../events.ts';

export interface MirrorState {
  mirror: string;
  healthy: boolean;
  consecutiveFailures: number;
  lastError: string | undefined;
  lastFailureAt: number | undefined;
  lastSuccessAt: number | undefined;
}

export class MirrorHealth {
  readonly #states = new Map<string, MirrorState>();
  readonly #clock: Clock;
  readonly #cooldownMs: number;

  constructor(clock: Clock, cooldownMs: number) {
    this.#clock = clock;
    this.#cooldownMs = cooldownMs;
  }

  #state(mirror: string): MirrorState {
    let state = this.#states.get(mirror);
    if (!state) {
      state = { mirror, healthy: true, consecutiveFailures: 0, lastError: undefined, lastFailureAt: undefined, lastSuccessAt: undefined };
      this.#states.set(mirror, state);
    }
    return state;
  }

  success(mirror: string): void {
    const state = this.#state(mirror);
    const changed = !state.healthy;
    state.healthy = true;
    state.consecutiveFailures = 0;
    state.lastSuccessAt = this.#clock.now();
    if (changed) publishMirrorHealth({ mirror, healthy: true });
  }

  failure(mirror: string, error: string): void {
    const state = this.#state(mirror);
    state.healthy = false;
    state.consecutiveFailures++;
    state.lastError = error;
    state.lastFailureAt = this.#clock.now();
    publishMirrorHealth({ mirror, healthy: false, error });
  }

  coolingDown(mirror: string): boolean {
    const state = this.#states.get(mirror);
    return state !== undefined && !state.healthy && state.lastFailureAt !== undefined && this.#clock.now() - state.lastFailureAt < this.#cooldownMs;
  }

  snapshot(): MirrorState[] {
    return [...this.#states.values()].map((s) => ({ ...s }));
  }
}
