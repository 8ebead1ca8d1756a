// Runs one full garbage collection once many client connections that were held open have closed, when Node exposes gc.

/**
 * Thousands of connections that stayed open for a while (slow readers, a crowd of clients) leave
 * their sockets, parsers and send buffers in V8's old generation. Once they close, an idle process
 * allocates nothing that would start a collection, so that memory stays resident for as long as
 * hoard stays quiet (measured: 2,000 slow readers gone, 110 MB above idle 20 s later). One major
 * collection, a second after the number of open connections has fallen by `dropForCollection`
 * from its peak, returns it. Steady traffic, even with many short connections, never drops that far
 * below a peak, so it never pays for this. Without an exposed gc (tests, `node src/main.ts`) it does nothing.
 */
export class ConnectionGarbage {
  readonly #drop: number;
  readonly #delayMs: number;
  readonly #collect: ((options: NodeJS.GCOptions) => void) | undefined;
  readonly #schedule: (run: () => void, ms: number) => void;
  #open = 0;
  #peak = 0;
  #scheduled = false;
  #collections = 0;

  constructor(
    options: { dropForCollection?: number; delayMs?: number } = {},
    collect: ((options: NodeJS.GCOptions) => void) | undefined = globalThis.gc,
    schedule: (run: () => void, ms: number) => void = (run, ms) => setTimeout(run, ms).unref(),
  ) {
    this.#drop = options.dropForCollection ?? 256;
    this.#delayMs = options.delayMs ?? 1000;
    this.#collect = collect;
    this.#schedule = schedule;
  }

  opened(): void {
    this.#open += 1;
    if (this.#open > this.#peak) this.#peak = this.#open;
  }

  closed(): void {
    this.#open -= 1;
    const collect = this.#collect;
    if (collect === undefined || this.#scheduled || this.#peak - this.#open < this.#drop) return;
    this.#scheduled = true;
    // Later, so that the rest of a crowd leaving together is collected by the same run.
    this.#schedule(() => {
      this.#scheduled = false;
      this.#peak = this.#open;
      this.#collections += 1;
      collect({ type: 'major', execution: 'async' });
    }, this.#delayMs);
  }

  get collections(): number {
    return this.#collections;
  }
}

/** The one tracker of client connections. */
export const connectionGarbage = new ConnectionGarbage();
