// Whether a transfer has fallen below a minimum rate over a sliding window: pure, over recorded byte counts and times.

/** The floor a download must keep: at least `minBytesPerSecond` on average over every `windowMs`. */
export interface RateFloor {
  /** 0 turns the floor off. */
  readonly minBytesPerSecond: number;
  readonly windowMs: number;
}

export type RateVerdict =
  | { readonly slow: false }
  /** `bytes` arrived in the last `overMs` (at least one window), fewer than the floor asks for one window. */
  | { readonly slow: true; readonly bytes: number; readonly overMs: number };

interface Sample {
  at: number;
  total: number;
}

/** Samples are kept at least this share of the window apart, which bounds them to about 18. */
const sampleGapShare = 16;

/**
 * Cumulative byte counts sampled over time. A transfer is slow when fewer than
 * `minBytesPerSecond * windowMs / 1000` bytes arrived since the newest sample at least one window old.
 * That span is never shorter than the window, so the check errs towards keeping a transfer: one that
 * delivered the floor's worth in its last window is never called slow. Nothing is judged before a
 * whole window has passed since `startedAt`.
 */
export class TransferRateWindow {
  readonly #floor: RateFloor;
  readonly #neededBytes: number;
  readonly #minGapMs: number;
  /** Oldest first; the first is the baseline once it is a window old. */
  readonly #samples: Sample[];

  constructor(floor: RateFloor, startedAt: number, startTotal = 0) {
    this.#floor = floor;
    this.#neededBytes = (floor.minBytesPerSecond * floor.windowMs) / 1000;
    this.#minGapMs = floor.windowMs / sampleGapShare;
    this.#samples = [{ at: startedAt, total: startTotal }];
  }

  /** Records that `total` bytes had arrived by `now` (times never go back) and judges the last window. */
  sample(now: number, total: number): RateVerdict {
    const samples = this.#samples;
    const last = samples[samples.length - 1] as Sample;
    // Only baselines are taken from samples (the current total is the argument), so one closer than the gap
    // to the last is dropped: a baseline then lies a little earlier, which only lengthens the span judged.
    if (now - last.at >= this.#minGapMs) samples.push({ at: now, total });
    // Keep the newest sample that is at least a window old as the baseline, and nothing older.
    while (samples.length > 1 && (samples[1] as Sample).at <= now - this.#floor.windowMs) samples.shift();
    const baseline = samples[0] as Sample;
    if (this.#floor.minBytesPerSecond <= 0 || now - baseline.at < this.#floor.windowMs) return { slow: false };
    const bytes = total - baseline.total;
    return bytes < this.#neededBytes ? { slow: true, bytes, overMs: now - baseline.at } : { slow: false };
  }

  /** Samples held; bounded whatever the calling rate (for tests). */
  get samplesKept(): number {
    return this.#samples.length;
  }
}
