// Sends a byte range of an open blob to a response from pooled buffers sized to the client's pace: the next chunk is read while the last one is written.
import type { ServerResponse } from 'node:http';
import { HoardError } from '../errors.ts';
import type { BlobReader } from '../storage/blob-store.ts';
import { SendPacer, sendChunkSizes, slowAfterMs } from './send-pacer.ts';

/**
 * Largest chunk of large bodies. Big enough that the per-chunk costs (a thread-pool read, a socket
 * write, a promise) vanish next to the copying; two per response in flight at once. Measured on the
 * bench's 200 MB file, one client: 1 MiB gave 4.0-4.2 GB/s at 283-297 ms of CPU per GB, 512 KiB
 * 3.1-3.4 GB/s at 345-379 ms; eight clients did not tell them apart. A client gets it only once it
 * keeps up (`SendPacer`).
 */
export const sendChunkBytes = 1024 * 1024;

/**
 * Bytes of buffers above the smallest size lent out at once, across all responses. A buffer stays
 * lent while a write of it waits on a slow socket, so this bounds what clients that stopped reading
 * can hold; past it responses get the smallest size, whatever their pace. 16 MiB: eight fast
 * clients at full chunk size (two buffers each), the most the bench's eight-client run uses.
 */
export const defaultSendBudgetBytes = 32 * 1024 * 1024;

const slabSize = 1024 * 1024;

export interface SendBufferPoolOptions {
  /** Chunk sizes, ascending; the smallest is never refused. Default `sendChunkSizes`. */
  readonly sizes?: readonly number[];
  /** Bound on bytes lent in sizes above the smallest. Default `defaultSendBudgetBytes`. */
  readonly budgetBytes?: number;
  /** Idle buffers kept per size above the smallest (default 4); of the smallest, 16 times that. */
  readonly maxIdle?: number;
}

/**
 * Buffers for sending, reused across responses so that a large download allocates nothing per chunk
 * (fresh buffers per chunk leave the garbage collector hundreds of MB behind at GB/s). Sizes above the
 * smallest come out of a shared budget; a few idle ones of each size are kept between responses.
 */
export class SendBufferPool {
  readonly sizes: readonly number[];
  readonly #idle: Buffer[][];
  readonly #maxIdle: number[];
  readonly #budget: number;
  #lent = 0;
  /** Where buffers of the smallest size are cut from, and how far. */
  #slab: ArrayBuffer | undefined;
  #slabUsed = 0;

  constructor(options: SendBufferPoolOptions = {}) {
    this.sizes = options.sizes ?? sendChunkSizes;
    if (this.sizes.length === 0) throw new RangeError('a send buffer pool needs at least one size');
    this.#budget = options.budgetBytes ?? defaultSendBudgetBytes;
    const maxIdle = options.maxIdle ?? 4;
    this.#idle = this.sizes.map(() => []);
    this.#maxIdle = this.sizes.map((_, i) => (i === 0 ? maxIdle * 16 : maxIdle));
  }

  /** Bytes lent in sizes above the smallest. */
  get lentBytes(): number {
    return this.#lent;
  }

  /** A buffer of the largest size up to `want` that the budget allows (the smallest size at least). */
  take(want: number): Buffer {
    const sizes = this.sizes;
    let step = sizes.length - 1;
    while (step > 0 && ((sizes[step] as number) > want || this.#lent + (sizes[step] as number) > this.#budget)) step--;
    const size = sizes[step] as number;
    if (step > 0) this.#lent += size;
    return this.#idle[step]?.pop() ?? (step === 0 ? this.#cut(size) : Buffer.allocUnsafeSlow(size));
  }

  /**
   * The smallest buffers are cut from 1 MiB slabs rather than allocated one by one: thousands of
   * them (one per slow reader) from malloc's heap leave it fragmented, and the process keeps the
   * memory after the readers have gone (measured: 2,000 readers, about 100 MB still resident once
   * every object was collected). A slab is mapped on its own and unmapped whole once no buffer cut
   * from it is referenced.
   */
  #cut(size: number): Buffer {
    const slabBytes = Math.max(size, slabSize);
    if (this.#slab === undefined || this.#slabUsed + size > slabBytes) {
      this.#slab = new ArrayBuffer(slabBytes);
      this.#slabUsed = 0;
    }
    const buffer = Buffer.from(this.#slab, this.#slabUsed, size);
    this.#slabUsed += size;
    return buffer;
  }

  /** Returns a buffer from `take`; `reusable` false when a socket may still read it (it is then left to the collector). */
  give(buffer: Buffer, reusable = true): void {
    const step = this.sizes.indexOf(buffer.length);
    if (step < 0) return;
    if (step > 0) this.#lent -= buffer.length;
    const idle = this.#idle[step] as Buffer[];
    if (reusable && idle.length < (this.#maxIdle[step] as number)) idle.push(buffer);
    // One this pool made (allocUnsafeSlow: it owns its memory) that nothing reads any more: freed now rather
    // than at the next full collection, which came seconds after the bench's eight-client run (docs/performance.md, "Memory").
    else if (reusable && step > 0 && buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) (buffer.buffer as ArrayBuffer).transfer(0);
  }
}

/** A write handed to the socket; settled once its buffer went back to the pool. */
interface Write {
  readonly buffer: Buffer;
  readonly length: number;
  readonly done: Promise<void>;
  settled: boolean;
}

/**
 * Writes bytes [start, end] of `reader` to `res` and ends it; resolves with the bytes written. Rejects
 * when the client goes away or the blob ends early (the response is then cut short of its
 * Content-Length, never completed wrongly). Does not close `reader`. A buffer goes back to the pool
 * once the socket is done with it. While a write waits on a slow socket, the chunk read ahead is given
 * back rather than held (it is read again later, smaller): a client that stopped reading holds one
 * buffer, the one it stalled on.
 */
export async function sendRange(res: ServerResponse, reader: BlobReader, start: number, end: number, pool: SendBufferPool): Promise<number> {
  const stop = end + 1;
  const pacer = new SendPacer(pool.sizes);
  let position = start;
  let writing: Write | undefined;
  let gone: (() => void) | undefined;
  const closed = new Promise<never>((_, reject) => {
    gone = () => reject(new HoardError('HOARD_ERR_CLIENT_GONE', 'the client closed the connection'));
  });
  // Not every way a socket dies reports back through a write callback; 'close' always comes.
  closed.catch(() => undefined);
  const onClose = () => gone?.();
  res.once('close', onClose);
  try {
    while (position < stop) {
      const buffer = pool.take(pacer.chunkBytes(performance.now()));
      let got: number;
      let stalled = false;
      try {
        got = await reader.read(buffer, 0, Math.min(buffer.length, stop - position), position);
        if (got === 0) throw new HoardError('HOARD_ERR_STORE_IO', `blob ends at byte ${position}, before ${end}`);
        stalled = writing !== undefined && !writing.settled && !(await settlesWithin(writing.done, closed, slowAfterMs(writing.length)));
        if (!stalled && writing !== undefined) await Promise.race([writing.done, closed]);
      } catch (err) {
        pool.give(buffer);
        throw err;
      }
      if (stalled) {
        // The client is behind: give the chunk back (it is read again, smaller) rather than hold it next to the one in the socket.
        pacer.stalled(performance.now());
        pool.give(buffer);
        await Promise.race([(writing as Write).done, closed]);
        continue;
      }
      writing = writeChunk(res, buffer, got, pool, pacer);
      position += got;
    }
    if (writing !== undefined) await Promise.race([writing.done, closed]);
    res.end();
    return stop - start;
  } finally {
    res.off('close', onClose);
    // A write that never reported back may still be read by the socket: its buffer is not reused.
    if (writing !== undefined && !writing.settled) {
      writing.settled = true;
      pool.give(writing.buffer, false);
    }
  }
}

function writeChunk(res: ServerResponse, buffer: Buffer, length: number, pool: SendBufferPool, pacer: SendPacer): Write {
  const started = performance.now();
  // Shared with `sendRange`, which marks a write it gives up on, so the buffer is given back once.
  const state = { settled: false };
  const done = new Promise<void>((resolve, reject) => {
    if (res.destroyed) {
      reject(new HoardError('HOARD_ERR_CLIENT_GONE', 'the client closed the connection'));
      return;
    }
    res.write(length === buffer.length ? buffer : buffer.subarray(0, length), (err) => {
      const now = performance.now();
      if (!state.settled) {
        state.settled = true;
        pool.give(buffer, err === null || err === undefined);
      }
      if (err === null || err === undefined) {
        pacer.wrote(length, now - started, now);
        resolve();
      } else reject(err);
    });
  });
  // Awaited on the next turn, after a read: until then a failure must not count as unhandled.
  done.catch(() => undefined);
  return Object.assign(state, { buffer, length, done });
}

/** True when `done` settles within `ms`; rejects with its failure or the client's leaving. */
function settlesWithin(done: Promise<void>, closed: Promise<never>, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(false), ms);
    Promise.race([done, closed]).then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
