// The installed protocols in their fixed order: routes a request to the first that claims it, and speaks for all of them.
import type { ReferenceOracle } from '../cache/eviction-policy.ts';
import type { ObjectEntry } from '../storage/metadata-index.ts';
import type { LocalAnswer, Protocol, RequestTarget, Route } from './protocol.ts';

/** Bound on remembered routes; the memo starts over when full (a scan of unique URLs cannot grow it). */
const maxRememberedRoutes = 4096;

export interface Claimed {
  readonly protocol: Protocol;
  readonly route: Route;
}

/** Filled in by `route` when a protocol refuses: the refusal is then rendered in that protocol's format. */
export interface RouteScope {
  protocol?: Protocol | undefined;
}

export class ProtocolSet implements ReferenceOracle {
  readonly #protocols: readonly Protocol[];
  readonly #byName: ReadonlyMap<string, Protocol>;
  // Routing depends only on the target and the configuration, and clients ask the same URLs again and
  // again: a hit then skips a dozen regular expressions. Only GET/HEAD routes that need no header are kept.
  readonly #remembered = new Map<string, Claimed>();

  constructor(protocols: readonly Protocol[]) {
    this.#protocols = protocols;
    this.#byName = new Map(protocols.map((p) => [p.name, p]));
  }

  get all(): readonly Protocol[] {
    return this.#protocols;
  }

  byName(name: string): Protocol | undefined {
    return this.#byName.get(name);
  }

  /**
   * The first protocol that claims the target, with its route; undefined when none does. A protocol's
   * refusal (a HoardError) ends the search: the target was written in its spelling.
   */
  route(target: RequestTarget, scope?: RouteScope): Claimed | undefined {
    const known = this.#remembered.get(target.raw);
    if (known !== undefined) return known;
    for (const protocol of this.#protocols) {
      if (scope !== undefined) scope.protocol = protocol;
      const route = protocol.route(target);
      if (route === undefined) continue;
      const claimed = { protocol, route };
      // A route shaped by request headers (forwarded Accept) belongs to that request alone.
      if (route.forward === undefined) {
        if (this.#remembered.size >= maxRememberedRoutes) this.#remembered.clear();
        this.#remembered.set(target.raw, claimed);
      }
      return claimed;
    }
    if (scope !== undefined) scope.protocol = undefined;
    return undefined;
  }

  /** The first protocol's own answer to the target (no upstream, no cache), if one gives it. */
  answer(target: RequestTarget): { readonly protocol: Protocol; readonly answer: LocalAnswer | Promise<LocalAnswer> } | undefined {
    for (const protocol of this.#protocols) {
      const answer = protocol.answer?.(target);
      if (answer !== undefined) return { protocol, answer };
    }
    return undefined;
  }

  /** Eviction asks the protocol that stored the entry; an entry of a protocol no longer installed is unknown. */
  isReferenced(entry: ObjectEntry): boolean | undefined {
    return this.#byName.get(entry.protocol)?.references.isReferenced(entry);
  }

  async start(): Promise<void> {
    await Promise.all(this.#protocols.map((p) => p.start()));
  }
}
