// Which Host values the admin pages answer (DNS rebinding defence): IP literals, localhost, this machine's names, admin.hosts.
import { isIP } from 'node:net';

/**
 * A web page on a name its author controls can point that name at the cache's address (DNS rebinding)
 * and then read the admin pages as same-origin content: the browser still sends the author's name in
 * `Host`. Answering only names that belong to the cache closes that path. An IP literal needs no DNS,
 * so no one can rebind it; `localhost` and this machine's own names are not in an outsider's zone.
 */
export class AdminHostPolicy {
  readonly #names: ReadonlySet<string>;

  constructor(names: Iterable<string>) {
    this.#names = new Set([...names].map((n) => n.toLowerCase().replace(/\.$/, '')).filter((n) => n !== ''));
  }

  /**
   * True when `hostHeader` may reach the admin pages. No Host at all (HTTP/1.0; an HTTP/1.1 request without
   * one is refused before this) is allowed: browsers always send Host, so such a request cannot come from a
   * rebound page, only from a tool that dialled the address itself.
   */
  allows(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined) return true;
    const host = hostOf(hostHeader);
    if (host === undefined) return false;
    if (host.startsWith('[')) return host.endsWith(']') && isIP(host.slice(1, -1)) === 6;
    return isIP(host) === 4 || this.#names.has(host);
  }
}

/** Host without its port, lower case, without a trailing dot; undefined when it is not host[:port]. */
function hostOf(header: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec(header.trim());
  return m?.[1]?.toLowerCase().replace(/\.$/, '');
}

/** The names this machine answers to by itself: `localhost`, its host name, the short form and the mDNS `.local` name. */
export function machineNames(hostname: string): string[] {
  const full = hostname.toLowerCase().replace(/\.$/, '');
  const short = full.split('.')[0] ?? full;
  return ['localhost', full, short, `${short}.local`];
}
