// Starts a major collection once V8's heap has grown by a step since the last one, when Node exposes gc.
import { getHeapSpaceStatistics } from 'node:v8';

/**
 * Bytes in use outside the young generation: the scavenges keep that one in check, and counting it would start a
 * major collection whenever the young generation happened to be full.
 */
function oldGenerationUsed(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics()) if (!space.space_name.startsWith('new_')) used += space.space_used_size;
  return used;
}

/**
 * Under a steady stream of small hits, V8 lets its old generation fill with the dead objects of past
 * requests before it marks: the process grew by about 45 MB over 13 s of wrk against a 4 KB file, all of
 * it garbage that a full collection returned (docs/performance.md, "Memory"). Checking the heap twice a
 * second and starting an incremental (concurrent, off the request path) major collection after every
 * 16 MB of growth kept the peak of the bench's large- and small-file scenarios at 140-142 MB instead of
 * 169-180 MB, three runs each, with no throughput change beyond the noise. Growth that survives the
 * collection becomes the new base, so a heap that grows for good is collected once per step, not more.
 * bin/hoard starts Node with --expose-gc; without it (tests, `node src/main.ts`) this does nothing.
 */
export class HeapGrowthCollector {
  readonly #stepBytes: number;
  readonly #collect: ((options: NodeJS.GCOptions) => void) | undefined;
  readonly #heapUsed: () => number;
  /** Heap in use after the last collection this started (or the lowest seen since). */
  #base: number;
  /** A collection was started at the last check: the next one reads the new base instead. */
  #collecting = false;
  #collections = 0;

  constructor(stepBytes: number, collect: ((options: NodeJS.GCOptions) => void) | undefined = globalThis.gc, heapUsed: () => number = oldGenerationUsed) {
    this.#stepBytes = stepBytes;
    this.#collect = collect;
    this.#heapUsed = heapUsed;
    this.#base = collect === undefined ? 0 : heapUsed();
  }

  /** One look at the heap: collects when it has grown by a step over the base. */
  check(): void {
    const collect = this.#collect;
    if (collect === undefined) return;
    const used = this.#heapUsed();
    if (this.#collecting) {
      this.#collecting = false;
      this.#base = used;
      return;
    }
    if (used < this.#base) this.#base = used;
    else if (used - this.#base >= this.#stepBytes) {
      this.#collecting = true;
      this.#collections += 1;
      collect({ type: 'major', execution: 'async' });
    }
  }

  /** Checks every `intervalMs` until the returned function is called; a timer that never keeps the process alive. */
  start(intervalMs: number): () => void {
    if (this.#collect === undefined) return () => undefined;
    const timer = setInterval(() => this.check(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  get collections(): number {
    return this.#collections;
  }
}
