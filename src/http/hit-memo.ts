// Hit decisions kept for a moment: the same plain request for an immutable stored object, asked again within a second, is answered as before.
import type { IncomingMessage } from 'node:http';

/** How long a hit decision stands, whatever the epoch says (ms): the verifier may learn in the background. */
export const reuseMs = 1000;

/** Entries kept at most; the oldest goes first. */
const maxEntries = 4096;

interface Kept<T> {
  readonly value: T;
  /** What the value holds in memory (a body), counted against `maxBytes`. */
  readonly bytes: number;
  /** The write epoch read before the decision was looked up: any index write since ends it. */
  readonly epoch: number;
  readonly at: number;
}

/**
 * Decisions by `memoKeyOf`, each valid while the epoch it was looked up at is current (a counter that every index
 * write, and on the main thread every download's end, advances) and for at most `reuseMs`. Only a plain hit on an
 * immutable object goes in: its answer depends on nothing but the stored entry, which only a write changes.
 * Bounded by count and by the bytes the values hold; expired ones go when the next is kept (oldest first).
 */
export class HitMemo<T> {
  /** Insertion order is age order: a key kept again moves to the end. */
  readonly #kept = new Map<string, Kept<T>>();
  readonly #epoch: () => number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(epoch: () => number, maxBytes = Number.POSITIVE_INFINITY) {
    this.#epoch = epoch;
    this.#maxBytes = maxBytes;
  }

  /** The epoch to pass to `remember`: read before the lookup whose result is remembered. */
  epoch(): number {
    return this.#epoch();
  }

  remember(key: string, value: T, epochAsked: number, bytes = 0): void {
    if (bytes > this.#maxBytes) return;
    this.forget(key);
    const now = performance.now();
    // Oldest first: what has run out, then what the bounds leave no room for. Ends: each step removes one.
    for (const [oldKey, kept] of this.#kept) {
      if (now - kept.at < reuseMs && this.#kept.size < maxEntries && this.#bytes + bytes <= this.#maxBytes) break;
      this.forget(oldKey);
    }
    this.#kept.set(key, { value, bytes, epoch: epochAsked, at: now });
    this.#bytes += bytes;
  }

  /** A decision that still stands for this key. */
  recall(key: string): T | undefined {
    const kept = this.#kept.get(key);
    if (kept === undefined) return undefined;
    if (kept.epoch === this.#epoch() && performance.now() - kept.at < reuseMs) return kept.value;
    this.forget(key);
    return undefined;
  }

  forget(key: string): void {
    const kept = this.#kept.get(key);
    if (kept === undefined) return;
    this.#kept.delete(key);
    this.#bytes -= kept.bytes;
  }

  get size(): number {
    return this.#kept.size;
  }

  /** Bytes the kept values hold. */
  get bytes(): number {
    return this.#bytes;
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
