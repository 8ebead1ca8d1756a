// A labelled prom-client counter whose per-request increments are kept in plain numbers and added when it is read.
import { Counter, type CounterConfiguration } from 'prom-client';

interface Series {
  readonly labels: Record<string, string>;
  pending: number;
}

/**
 * prom-client's `inc(labels, n)` sorts and joins the label values into a key on every call (`labels()`
 * children do the same): two such counters per small cache hit were about 1 % of its CPU. Here one series
 * per label pair is found through two map lookups and counts into a field; what it counted since the last
 * read goes into the counter when the registry reads it (its `collect`), so every scrape sees exactly the
 * values an `inc` per request would have given. The label values must come from bounded sets (they do:
 * protocol names, results, sources), as each pair is kept for the life of the process.
 */
export class DeferredCounter {
  readonly counter: Counter;
  readonly #first: string;
  readonly #second: string;
  readonly #series = new Map<string, Map<string, Series>>();

  /** `config.labelNames` must be exactly two names: the series are found by the first, then the second. */
  constructor(config: CounterConfiguration<string>) {
    const [first, second] = config.labelNames ?? [];
    if (first === undefined || second === undefined || config.labelNames?.length !== 2) throw new Error('a DeferredCounter has exactly two labels');
    this.#first = first;
    this.#second = second;
    const flush = () => this.flush();
    this.counter = new Counter({
      ...config,
      collect() {
        flush();
      },
    });
  }

  inc(first: string, second: string, value = 1): void {
    let inner = this.#series.get(first);
    if (inner === undefined) {
      inner = new Map();
      this.#series.set(first, inner);
    }
    let series = inner.get(second);
    if (series === undefined) {
      series = { labels: { [this.#first]: first, [this.#second]: second }, pending: 0 };
      inner.set(second, series);
      // The series exists from its first increment on, even one of 0, as with a direct inc.
      this.counter.inc(series.labels, 0);
    }
    series.pending += value;
  }

  /** Adds what was counted since the last flush to the prom-client counter. */
  flush(): void {
    for (const inner of this.#series.values()) {
      for (const series of inner.values()) {
        if (series.pending === 0) continue;
        this.counter.inc(series.labels, series.pending);
        series.pending = 0;
      }
    }
  }
}
