// Per-mirror health: consecutive failures, last error and a cooldown that moves failing mirrors to the back; bounded.
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

export interface MirrorHealthOptions {
  /** Bound on remembered mirrors that are not pinned; default 1024. */
  maxEntries?: number;
}

/**
 * Pinned mirrors (those of configured backends, a list the operator wrote) are kept for good. Every other
 * mirror (one per client-chosen origin) lives in an LRU of `maxEntries`, touched by each request's
 * ordering check and each report, so thousands of hosts named by clients cannot grow it. Dropping one
 * forgets its cooldown; that approximation is harmless because such an origin is a set of one mirror,
 * tried first or last alike, and a mirror still in use is touched and so not the one dropped.
 */
export class MirrorHealth {
  readonly #pinned = new Map<string, MirrorState>();
  readonly #recent = new Map<string, MirrorState>();
  readonly #clock: Clock;
  readonly #cooldownMs: number;
  readonly #maxEntries: number;

  constructor(clock: Clock, cooldownMs: number, options: MirrorHealthOptions = {}) {
    this.#clock = clock;
    this.#cooldownMs = cooldownMs;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1024);
  }

  /** Keeps `mirror`'s state however many other mirrors come and go. */
  pin(mirror: string): void {
    if (this.#pinned.has(mirror)) return;
    const state = this.#recent.get(mirror) ?? fresh(mirror);
    this.#recent.delete(mirror);
    this.#pinned.set(mirror, state);
  }

  /** The state of `mirror`, marked most recently used; created (evicting the least recently used) when asked to. */
  #lookup(mirror: string, create: boolean): MirrorState | undefined {
    const pinned = this.#pinned.get(mirror);
    if (pinned !== undefined) return pinned;
    let state = this.#recent.get(mirror);
    if (state !== undefined) {
      this.#recent.delete(mirror);
    } else {
      if (!create) return undefined;
      state = fresh(mirror);
      if (this.#recent.size >= this.#maxEntries) this.#recent.delete(this.#recent.keys().next().value as string);
    }
    this.#recent.set(mirror, state);
    return state;
  }

  success(mirror: string): void {
    const state = this.#lookup(mirror, true) as MirrorState;
    const changed = !state.healthy;
    state.healthy = true;
    state.consecutiveFailures = 0;
    state.lastSuccessAt = this.#clock.now();
    if (changed) publishMirrorHealth({ mirror, healthy: true });
  }

  failure(mirror: string, error: string): void {
    const state = this.#lookup(mirror, true) as MirrorState;
    state.healthy = false;
    state.consecutiveFailures++;
    state.lastError = error;
    state.lastFailureAt = this.#clock.now();
    publishMirrorHealth({ mirror, healthy: false, error });
  }

  coolingDown(mirror: string): boolean {
    const state = this.#lookup(mirror, false);
    return state !== undefined && !state.healthy && state.lastFailureAt !== undefined && this.#clock.now() - state.lastFailureAt < this.#cooldownMs;
  }

  /** Number of mirrors remembered, pinned ones included. */
  get size(): number {
    return this.#pinned.size + this.#recent.size;
  }

  snapshot(): MirrorState[] {
    return [...this.#pinned.values(), ...this.#recent.values()].map((s) => ({ ...s }));
  }
}

function fresh(mirror: string): MirrorState {
  return { mirror, healthy: true, consecutiveFailures: 0, lastError: undefined, lastFailureAt: undefined, lastSuccessAt: undefined };
}
