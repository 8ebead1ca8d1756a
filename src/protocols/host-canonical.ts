// One spelling per upstream host: non-canonical IPv4 spellings are refused, IPv6 literals compressed, IPv4-mapped ones turned to IPv4.
import { isIPv6 } from 'node:net';
import { HoardError } from '../errors.ts';

// RFC 3986 3.2.2 dec-octet: 0-255 without leading zeros.
const decOctet = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)`;
const canonicalIpv4 = new RegExp(`^${decOctet}(?:\\.${decOctet}){3}$`);
// WHATWG URL "ends in a number": such a host is parsed as IPv4 (octal, hex, fewer than four parts), never looked up as a name.
const endsInNumber = /(?:^|\.)(?:\d+|0x[0-9a-f]*)\.?$/;
const mappedIpv4 = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/;

/**
 * The canonical form of a lower-case host from a request target (a name, a dotted IPv4 address or a
 * bracketed IPv6 address). `127.1`, `0177.0.0.1`, `2130706433`, `0x7f000001` and `127.000.0.1` all
 * reach 127.0.0.1 through a URL parser or inet_aton: each would be a second cache key and a way around
 * host rules, so they are refused with HOARD_ERR_BAD_REQUEST rather than rewritten. `[::ffff:a.b.c.d]`
 * becomes `a.b.c.d`, so IPv4 rules (allowedHosts, denied networks) see the address it reaches. Anything
 * else is returned as given for the caller's own validation.
 */
export function canonicalHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1);
    if (!isIPv6(inner)) return host;
    const compressed = new URL(`http://[${inner}]/`).hostname;
    const mapped = mappedIpv4.exec(compressed);
    if (mapped === null) return compressed;
    const high = Number.parseInt(mapped[1] as string, 16);
    const low = Number.parseInt(mapped[2] as string, 16);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  if (endsInNumber.test(host) && !canonicalIpv4.test(host)) {
    throw new HoardError(
      'HOARD_ERR_BAD_REQUEST',
      `"${host}" is not a canonical IPv4 address; write four decimal numbers without leading zeros, e.g. 192.0.2.1`,
    );
  }
  return host;
}
