// A set of CIDR networks and the one membership test shared by client access (http/) and denied upstream networks (upstream/).
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Node's BlockList does the matching; it also matches an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`)
 * against IPv4 networks and an IPv4 address against `::ffff:0:0/96` networks, so either spelling of a
 * list entry covers both spellings of an address.
 */
export class CidrList {
  readonly #list = new BlockList();
  readonly size: number;

  /** `cidrs` are validated by the config schema (`address/prefix`). */
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address, prefix] = cidr.split('/') as [string, string];
      this.#list.addSubnet(address, Number(prefix), isIPv4(address) ? 'ipv4' : 'ipv6');
    }
    this.size = cidrs.length;
  }

  /** Whether `address` (an IP literal, no brackets) is in one of the networks; anything else is not. */
  has(address: string): boolean {
    if (isIPv4(address)) return this.#list.check(address, 'ipv4');
    if (isIPv6(address)) return this.#list.check(address, 'ipv6');
    return false;
  }
}
