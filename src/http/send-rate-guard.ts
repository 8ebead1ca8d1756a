// Decides when a client takes a response so slowly that it is cut: bytes per window of time, on an injected clock.
import type { Clock } from '../clock.ts';

export interface SendRateLimits {
  /** Least average rate over a window; 0 turns the guard off. */
  readonly minBytesPerSecond: number;
  readonly windowMs: number;
}

/**
 * Tumbling windows from the start of a response: at the end of each window the client must have taken
 * at least `minBytesPerSecond x window` bytes during it, or the response is cut. A window is restarted
 * (`restart`) whenever hoard itself had nothing to send (a follower waiting for its upstream), so a
 * slow upstream is never blamed on the client. Bursty progress (TCP window updates, large writes
 * completing at once) averages out within a window; a window much longer than a write keeps that
 * granularity small.
 */
export class SendRateGuard {
  readonly #limits: SendRateLimits;
  readonly #clock: Clock;
  #windowStart: number;
  #bytesAtStart: number;

  constructor(limits: SendRateLimits, clock: Clock, sentBytes = 0) {
    this.#limits = limits;
    this.#clock = clock;
    this.#windowStart = clock.now();
    this.#bytesAtStart = sentBytes;
  }

  get enabled(): boolean {
    return this.#limits.minBytesPerSecond > 0;
  }

  /** When the current window ends (epoch ms): the next moment `tooSlow` can say yes. */
  get windowEndsAt(): number {
    return this.#windowStart + this.#limits.windowMs;
  }

  /** Starts a new window from now, forgetting the one in progress. */
  restart(sentBytes: number): void {
    this.#windowStart = this.#clock.now();
    this.#bytesAtStart = sentBytes;
  }

  /**
   * `sentBytes`: what the client has taken since the response began. True once a whole window has
   * passed below the minimum rate; a window that passed at or above it starts the next one.
   */
  tooSlow(sentBytes: number): boolean {
    if (!this.enabled) return false;
    const now = this.#clock.now();
    const elapsed = now - this.#windowStart;
    if (elapsed < this.#limits.windowMs) return false;
    const taken = sentBytes - this.#bytesAtStart;
    if (taken * 1000 < this.#limits.minBytesPerSecond * elapsed) return true;
    this.#windowStart = now;
    this.#bytesAtStart = sentBytes;
    return false;
  }
}
