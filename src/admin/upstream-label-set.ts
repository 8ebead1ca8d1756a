// Which upstreams get a label of their own in the metrics: the configured ones, then the first hosts that answered; `other` for the rest.

/** The label of every upstream beyond the bound. Origins always carry a scheme, so no real upstream is called this. */
export const otherUpstream = 'other';

/**
 * Proxy and prefix mode let a client name any host, so a label per host would let one client grow the
 * metrics without end (5,000 hosts made 80,000 series, 8 MB a scrape). Configured upstreams are labelled
 * always; of the rest, the first `max` that answered an exchange keep their label for the process's life
 * (a label that came and went would reset its counters under the scraper's feet). A host that never
 * answered tells an operator nothing per host, and it is what a scan or a typo produces: it stays `other`
 * until it answers, so failures alone never use up the slots.
 */
export class UpstreamLabelSet {
  readonly #pinned: ReadonlySet<string>;
  readonly #granted = new Set<string>();
  readonly #max: number;

  constructor(pinned: Iterable<string>, max: number) {
    this.#pinned = new Set(pinned);
    this.#max = max;
  }

  isPinned(upstream: string): boolean {
    return this.#pinned.has(upstream);
  }

  /** The label for an exchange with `upstream`; `answered` is whether this exchange got a response (of any status). */
  label(upstream: string, answered: boolean): string {
    if (this.#pinned.has(upstream) || this.#granted.has(upstream)) return upstream;
    if (answered && this.#granted.size < this.#max) {
      this.#granted.add(upstream);
      return upstream;
    }
    return otherUpstream;
  }
}
