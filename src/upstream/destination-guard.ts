// Keeps client-chosen upstreams out of denied networks (loopback, link-local...): checked at connect time, on the address connected to.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { CidrList } from '../cidr-list.ts';
import { HoardError } from '../errors.ts';

export interface DestinationGuardOptions {
  /** CIDR networks no connection may go to (`deniedUpstreamNetworks`). */
  denied: readonly string[];
  /** Hosts the operator listed exactly (`allowedHosts` entries without `*.`): exempt from the check. */
  exemptHosts: readonly string[];
  /** The resolver; node's `dns.lookup` (getaddrinfo, /etc/hosts included) unless a test gives another. */
  resolve?: LookupFunction;
  /** Milliseconds, for how long `check` remembers a name's verdict; Date.now unless a test gives another. */
  now?: () => number;
}

/** How long `check` remembers a verdict, and for how many names: one resolution per host and half-minute, not per request. */
const verdictTtlMs = 30_000;
const maxVerdicts = 1024;

/**
 * The check runs where the socket is opened, on the addresses the socket will use: `lookup` resolves,
 * checks every address and hands net.connect only those, so a second resolution (DNS rebinding between a
 * check and the connect) cannot happen. IP literals skip lookup in net.connect; the connector checks them
 * with `refusal` first.
 */
export class DestinationGuard {
  readonly #denied: CidrList;
  readonly #exempt: ReadonlySet<string>;
  readonly #resolve: LookupFunction;
  readonly #now: () => number;
  /** Verdicts of `check` by name, pending ones included (concurrent requests for a host share one resolution). */
  readonly #verdicts = new Map<string, { until: number; verdict: Promise<HoardError | undefined> }>();

  constructor(options: DestinationGuardOptions) {
    this.#now = options.now ?? Date.now;
    this.#denied = new CidrList(options.denied);
    // allowedHosts spells IPv6 hosts in brackets (as request targets do); the connector sees them bare.
    this.#exempt = new Set(options.exemptHosts.filter((h) => !h.startsWith('*.')).map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1')));
    this.#resolve = options.resolve ?? dnsLookup;
  }

  /** Whether the guard can refuse anything at all (an empty list makes it a no-op). */
  get active(): boolean {
    return this.#denied.size > 0;
  }

  /** The error for connecting to `hostname` at `addresses`, or undefined when every address is allowed. */
  refusal(hostname: string, addresses: readonly string[]): HoardError | undefined {
    if (this.#exempt.has(hostname.toLowerCase())) return undefined;
    // A name with any denied address is refused whole: a hostile resolver mixing answers gets no second chance.
    const denied = addresses.find((a) => this.#denied.has(a));
    if (denied === undefined) return undefined;
    const shown = hostname === denied ? denied : `${hostname} (${denied})`;
    return new HoardError('HOARD_ERR_UPSTREAM_DENIED', `upstream ${shown} is in deniedUpstreamNetworks`, {
      detail: `upstream ${shown} is in a network this cache does not reach for clients; the operator can list the host in allowedHosts or change deniedUpstreamNetworks`,
    });
  }

  /**
   * For requests sent through the outbound proxy or to the parent, where hoard opens no socket to the
   * destination: an IP literal is checked as it is, a name on the addresses this machine resolves it to.
   * A name this machine cannot resolve passes: behind a proxy, often only the proxy can resolve outside
   * names, and it is the operator's policy point for what it alone can reach.
   */
  async check(hostname: string): Promise<void> {
    const bare = hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(bare) !== 0) {
      const refused = this.refusal(bare, [bare]);
      if (refused) throw refused;
      return;
    }
    const name = bare.toLowerCase();
    if (this.#exempt.has(name)) return;
    // A lab behind a proxy may have slow DNS for outside names: a verdict is remembered for a while. The proxy
    // resolves the name itself anyway, so a remembered verdict opens no window a fresh one would close.
    const now = this.#now();
    let known = this.#verdicts.get(name);
    if (known === undefined || known.until <= now) {
      if (this.#verdicts.size >= maxVerdicts) this.#verdicts.delete(this.#verdicts.keys().next().value as string);
      known = { until: now + verdictTtlMs, verdict: this.#judge(name) };
      this.#verdicts.delete(name);
      this.#verdicts.set(name, known);
    }
    const refused = await known.verdict;
    if (refused) throw refused;
  }

  async #judge(name: string): Promise<HoardError | undefined> {
    const addresses = await new Promise<string[] | undefined>((done) => {
      this.#resolve(name, { all: true }, (err, resolved) => {
        if (err) done(undefined);
        else done(Array.isArray(resolved) ? resolved.map((a) => a.address) : [resolved]);
      });
    });
    return addresses === undefined ? undefined : this.refusal(name, addresses);
  }

  /** A net.connect `lookup` that resolves, refuses denied destinations and returns only what it checked. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.#resolve(hostname, { ...options, all: true }, (err, resolved) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      const addresses = Array.isArray(resolved) ? resolved : [{ address: resolved, family: isIP(resolved) } satisfies LookupAddress];
      const refused = this.refusal(
        hostname,
        addresses.map((a) => a.address),
      );
      if (refused) {
        callback(refused, '', 0);
        return;
      }
      const first = addresses[0];
      if (options.all === true) callback(null, addresses);
      else if (first === undefined) callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      else callback(null, first.address, first.family);
    });
  };
}
