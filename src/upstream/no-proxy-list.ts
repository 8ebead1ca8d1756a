// Which destinations skip the outbound proxy (or the parent): NO_PROXY / upstream.noProxy with curl's and wget's rules.
import { isIP } from 'node:net';
import { CidrList } from '../cidr-list.ts';

interface NameEntry {
  /** Lower case, no leading `.` or `*.`, no trailing `.`. */
  readonly name: string;
  /** 0: any port. */
  readonly port: number;
}

/**
 * The union of what curl (7.86+) and wget accept, since operators copy NO_PROXY between them:
 * - `*` alone: nothing is proxied;
 * - a name (`mirror.example`), also written `.mirror.example` or `*.mirror.example`: that host and every
 *   name under it (curl's rule; a leading dot is not required);
 * - an IP literal (`192.0.2.7`, `::1` or `[::1]`): that address as written in the URL, no DNS involved;
 * - a CIDR (`10.0.0.0/8`, `fd00::/8`): IP literals inside it (names are not resolved to be matched, as in curl);
 * - any of them with `:port`: only that port.
 * Entries are separated by commas or white space; empty ones are ignored.
 */
export class NoProxyList {
  readonly #names: NameEntry[] = [];
  readonly #addresses: { address: string; port: number }[] = [];
  readonly #networks: CidrList;
  readonly #everything: boolean;
  readonly size: number;

  constructor(entries: readonly string[]) {
    const cidrs: string[] = [];
    let everything = false;
    let size = 0;
    for (const raw of entries.flatMap((e) => e.split(/[\s,]+/))) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      size++;
      if (entry === '*') {
        everything = true;
        continue;
      }
      const { host, port } = splitPort(entry);
      if (/^[0-9a-f:.]+\/\d{1,3}$/.test(host) && isIP(host.split('/')[0] as string) !== 0) {
        cidrs.push(host);
        continue;
      }
      if (isIP(host) !== 0) {
        this.#addresses.push({ address: host, port });
        continue;
      }
      const name = host.replace(/^\*?\./, '').replace(/\.$/, '');
      if (name !== '') this.#names.push({ name, port });
    }
    this.#networks = new CidrList(cidrs);
    this.#everything = everything;
    this.size = size;
  }

  /** Whether `url` (http or https) goes direct. */
  matches(url: URL): boolean {
    if (this.#everything) return true;
    const host = url.hostname
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1')
      .replace(/\.$/, '');
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    if (isIP(host) !== 0) {
      if (this.#addresses.some((a) => a.address === host && (a.port === 0 || a.port === port))) return true;
      return this.#networks.has(host);
    }
    return this.#names.some((e) => (e.port === 0 || e.port === port) && (host === e.name || host.endsWith(`.${e.name}`)));
  }
}

/** `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 literal (its colons are not a port) or a CIDR. */
function splitPort(entry: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1] as string, port: Number(bracketed[2] ?? 0) };
  if (isIP(entry) === 6 || (entry.includes('/') && entry.split(':').length > 2)) return { host: entry, port: 0 };
  const m = /^(.*):(\d{1,5})$/.exec(entry);
  return m ? { host: m[1] as string, port: Number(m[2]) } : { host: entry, port: 0 };
}
