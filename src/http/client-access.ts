// Which client addresses may use the cache, from CIDR lists (node's BlockList does the matching).
import { BlockList, isIPv4 } from 'node:net';

export class ClientAccess {
  readonly #list = new BlockList();

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address, prefix] = cidr.split('/') as [string, string];
      this.#list.addSubnet(address, Number(prefix), isIPv4(address) ? 'ipv4' : 'ipv6');
    }
  }

  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    // IPv4 clients on a dual-stack socket show up as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.#list.check(mapped[1] as string, 'ipv4');
    return this.#list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
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
