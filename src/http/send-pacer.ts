// Chooses the chunk size of each read-and-write of a response body from how fast the client has taken the last ones.

/**
 * Chunk sizes a response steps through: small for a client that has not shown it keeps up (8 KiB:
 * 2,000 clients that stopped reading hold 16 MB of them), 1 MiB for one that does (the size measured
 * for throughput in docs/performance.md).
 */
export const sendChunkSizes: readonly number[] = [8 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024];

/** How long a chunk should take the client at its pace: sizes on probation are chosen for it. */
export const fastWriteMs = 10;

/**
 * A write counts as slow (the client is behind) once it has taken longer than `fastWriteMs` and than
 * its size at 8 MiB/s: a 1 MiB write may take 125 ms. Not 10 ms for every size: with eight clients on
 * two busy cores a 1 MiB write often takes longer than that to a client that keeps up well.
 */
export function slowAfterMs(bytes: number): number {
  return Math.max(fastWriteMs, (bytes / (8 * 1024 * 1024)) * 1000);
}

/**
 * The shortest time a rate on probation is measured over: a burst of bytes right after a stall (a TCP
 * window opening by 64 KB for a client that reads a little) must not count as speed.
 */
const probationFloorMs = 100;

/**
 * Starts at the smallest size and moves one size up after each write that was not slow
 * (`slowAfterMs`), so a fast client reaches 1 MiB after three writes (328 KiB; 336 KiB in
 * `sendRange`, which reads one chunk ahead). A slow write (or a stall seen while waiting for one)
 * drops to the smallest size and puts the response on probation: from then on a size is allowed only
 * if the rate the client has shown since the first stall (over at least 100 ms) would write it in
 * `fastWriteMs`. A client that stopped reading thus holds at most the one chunk it stalled on, and
 * later ones are small; a fast client that paused a moment (a busy machine) climbs back within a few
 * milliseconds of fast writes.
 *
 * Why not start large: the kernel takes a few MB into socket buffers at once even from a client that
 * reads nothing (about 4 MB on Linux loopback), so early writes are fast for every client; what the
 * first stall pins is bounded by the shared budget of `SendBufferPool`, not here.
 */
export class SendPacer {
  readonly #sizes: readonly number[];
  readonly #fastMs: number;
  #step = 0;
  #probation: { since: number; bytes: number } | undefined;

  constructor(sizes: readonly number[] = sendChunkSizes, fastMs = fastWriteMs) {
    if (sizes.length === 0) throw new RangeError('a pacer needs at least one chunk size');
    this.#sizes = sizes;
    this.#fastMs = fastMs;
  }

  /** The size of the next chunk, at time `now` (ms, any monotonic origin). */
  chunkBytes(now: number): number {
    const sizes = this.#sizes;
    let step = this.#step;
    const probation = this.#probation;
    if (probation !== undefined && step > 0) {
      const elapsed = Math.max(now - probation.since, probationFloorMs);
      const affordable = (probation.bytes / elapsed) * this.#fastMs;
      while (step > 0 && (sizes[step] as number) > affordable) step--;
    }
    return sizes[step] as number;
  }

  /** A write of `bytes` that the socket took `elapsedMs` after it was issued, reported at `now`. */
  wrote(bytes: number, elapsedMs: number, now: number): void {
    if (elapsedMs > Math.max(this.#fastMs, slowAfterMs(bytes))) {
      this.stalled(now);
      return;
    }
    if (this.#probation !== undefined) this.#probation.bytes += bytes;
    if (this.#step < this.#sizes.length - 1) this.#step++;
  }

  /**
   * The client stopped taking bytes for longer than a fast write: back to the smallest size. Probation
   * starts at the first stall and is not restarted by later ones, so a slow client's rate stays measured
   * over its whole slow time.
   */
  stalled(now: number): void {
    this.#step = 0;
    this.#probation ??= { since: now, bytes: 0 };
  }
}
