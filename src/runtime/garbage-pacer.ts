// Collects the young generation after every few MB of streamed download data, when Node exposes gc.

/**
 * Every upstream chunk arrives in a fresh 64 KB buffer that lives a few milliseconds. V8 counts those
 * buffers as external memory and, at hundreds of MB/s, answers with a full mark-compact every ~10 MB
 * (27 of them, 4-8 ms each, for one cold 200 MB file on loopback: a fifth of the download's main
 * thread). A scavenge every 4 MB frees most of the same dead buffers for well under a millisecond:
 * measured on that download, 0.68-0.69 s instead of 0.77-1.04 s, and a peak of 133 MB resident
 * instead of 167-174 MB (three runs each). bin/hoard
 * starts Node with --expose-gc; without it (tests, `node src/main.ts`) this does nothing.
 */
export class GarbagePacer {
  readonly #bytesPerCollection: number;
  readonly #collect: ((options: NodeJS.GCOptions) => void) | undefined;
  #since = 0;
  #collections = 0;

  constructor(bytesPerCollection: number, collect: ((options: NodeJS.GCOptions) => void) | undefined = globalThis.gc) {
    this.#bytesPerCollection = bytesPerCollection;
    this.#collect = collect;
  }

  /** Counts `bytes` of short-lived buffers; collects the young generation once enough have passed. */
  note(bytes: number): void {
    if (this.#collect === undefined) return;
    this.#since += bytes;
    if (this.#since < this.#bytesPerCollection) return;
    this.#since = 0;
    this.#collections += 1;
    this.#collect({ type: 'minor' });
  }

  get collections(): number {
    return this.#collections;
  }
}

/** The one pacer for download chunks. */
export const downloadGarbage = new GarbagePacer(4 * 1024 * 1024);
