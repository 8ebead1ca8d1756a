// Which client addresses may use the cache, from CIDR lists (the shared CidrList does the matching).
import { CidrList } from '../cidr-list.ts';

/** Addresses whose answer is remembered; past this many the memory starts over (a crowd of clients, a scan). */
const rememberedAddresses = 1024;

export class ClientAccess {
  readonly #list: CidrList;
  /**
   * Answers by address: a pattern match and a BlockList check on every request were about 1 % of a small
   * cache hit, and a cache's clients are a few machines asking many times. The list never changes.
   */
  readonly #answers = new Map<string, boolean>();

  constructor(cidrs: readonly string[]) {
    this.#list = new CidrList(cidrs);
  }

  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    let allowed = this.#answers.get(address);
    if (allowed === undefined) {
      allowed = this.#check(address);
      if (this.#answers.size >= rememberedAddresses) this.#answers.clear();
      this.#answers.set(address, allowed);
    }
    return allowed;
  }

  #check(address: string): boolean {
    // IPv4 clients on a dual-stack socket show up as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.#list.has(mapped[1] as string);
    return this.#list.has(address);
  }
}

/** Host allow-list for proxy and prefix mode: exact names or `*.suffix` patterns; empty allows any. */
export class HostAccess {
  readonly #exact = new Set<string>();
  readonly #suffixes: string[] = [];

  constructor(patterns: readonly string[]) {
    for (const p of patterns) {
      const lower = p.toLowerCase();
      if (lower.startsWith('*.')) this.#suffixes.push(lower.slice(1));
      else this.#exact.add(lower);
    }
  }

  allows(host: string): boolean {
    if (this.#exact.size === 0 && this.#suffixes.length === 0) return true;
    return this.#exact.has(host) || this.#suffixes.some((s) => host.endsWith(s));
  }
}
