// Hit decisions kept for a moment: the same plain request for an immutable stored object, asked again within a second, is answered as before.
import type { IncomingMessage } from 'node:http';

/** How long a hit decision stands, whatever the epoch says (ms): the verifier may learn in the background. */
export const reuseMs = 1000;

/** Entries kept at most; the oldest goes first. */
const maxEntries = 4096;

interface Kept<T> {
  readonly value: T;
  /** The write epoch read before the decision was looked up: any index write since ends it. */
  readonly epoch: number;
  readonly at: number;
}

/**
 * Decisions by `memoKeyOf`, each valid while no index entry was written or deleted since it was looked up
 * (`epoch`: a counter the index's writes advance) and for at most `reuseMs`. Only a plain hit on an
 * immutable object goes in: its answer depends on nothing but the stored entry, which only a write changes.
 */
export class HitMemo<T> {
  readonly #kept = new Map<string, Kept<T>>();
  readonly #epoch: () => number;

  constructor(epoch: () => number) {
    this.#epoch = epoch;
  }

  /** The epoch to pass to `remember`: read before the lookup whose result is remembered. */
  epoch(): number {
    return this.#epoch();
  }

  remember(key: string, value: T, epochAsked: number): void {
    if (this.#kept.size >= maxEntries && !this.#kept.has(key)) this.#kept.delete(this.#kept.keys().next().value as string);
    this.#kept.set(key, { value, epoch: epochAsked, at: performance.now() });
  }

  /** A decision that still stands for this key. */
  recall(key: string): T | undefined {
    const kept = this.#kept.get(key);
    if (kept === undefined) return undefined;
    if (kept.epoch === this.#epoch() && performance.now() - kept.at < reuseMs) return kept.value;
    this.#kept.delete(key);
    return undefined;
  }

  forget(key: string): void {
    this.#kept.delete(key);
  }

  get size(): number {
    return this.#kept.size;
  }
}

/**
 * Where a decision is kept: HTTP version, Host and target. None for a request whose answer may depend on who
 * asks (credentials, cookies) or that came through other caches (`Via`, which the loop check reads).
 */
export function memoKeyOf(req: IncomingMessage): string | undefined {
  const h = req.headers;
  if (h.authorization !== undefined || h['proxy-authorization'] !== undefined || h.cookie !== undefined || h.via !== undefined) return undefined;
  if (req.httpVersionMajor !== 1) return undefined;
  return `${req.httpVersionMinor} ${h.host ?? ''} ${req.url ?? ''}`;
}

/** A GET whose answer is the whole body with no condition to weigh: no Range, If-Range or validators. */
export function isPlainGet(req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false;
  const h = req.headers;
  return h.range === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h['if-range'] === undefined;
}
