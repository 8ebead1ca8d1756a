// Announces the cache on the local network over mDNS/DNS-SD as `_apt_proxy._tcp` (squid-deb-proxy-client and similar find it there).
import { hostname, networkInterfaces } from 'node:os';
import type { Answer } from 'dns-packet';
import makeMdns from 'multicast-dns';
import type { Logger } from 'pino';

export const aptProxyService = '_apt_proxy._tcp.local';

export interface MdnsAdvertiserOptions {
  /** Instance name (one DNS label), e.g. `hoard on cache`. */
  readonly name: string;
  readonly port: number;
  /** Host name published in the SRV record, without `.local`; default this machine's. */
  readonly host?: string;
  /** IPv4 addresses published for that host; default every non-internal IPv4 address of this machine. */
  readonly addresses?: readonly string[];
  /** Socket settings; the default is the mDNS group 224.0.0.251:5353 on every interface. Tests pass loopback ones. */
  readonly socket?: makeMdns.Options;
  readonly logger: Logger;
}

export interface MdnsAdvertiser {
  close(): Promise<void>;
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
    .map((a) => (a as { address: string }).address);
}

export function advertiseMdns(o: MdnsAdvertiserOptions): MdnsAdvertiser {
  const mdns = makeMdns(o.socket);
  const host = `${(o.host ?? hostname()).split('.')[0] ?? 'hoard'}.local`;
  const instance = `${o.name}.${aptProxyService}`;
  const ttl = 120;
  const answers = (): Answer[] => [
    { name: aptProxyService, type: 'PTR', ttl, data: instance },
    { name: instance, type: 'SRV', ttl, data: { port: o.port, target: host, priority: 0, weight: 0 } },
    { name: instance, type: 'TXT', ttl, data: [] },
    ...(o.addresses ?? localAddresses()).map((address) => ({ name: host, type: 'A' as const, ttl, data: address })),
  ];
  const asked = new Set([aptProxyService, instance, host, '_services._dns-sd._udp.local'].map((n) => n.toLowerCase()));

  mdns.on('query', (query, rinfo) => {
    if (!(query.questions ?? []).some((q) => asked.has(q.name.toLowerCase()))) return;
    // RFC 6762 section 6.7: a query from a port other than 5353 comes from a plain resolver, answered by unicast.
    if (rinfo.port !== 5353) mdns.respond(answers(), rinfo);
    else mdns.respond(answers());
  });
  mdns.on('error', (err: Error) => o.logger.warn({ err: err.message }, 'mDNS advertisement failed'));
  // An unsolicited announcement at start (RFC 6762 section 8.3), so browsers already listening see it.
  mdns.respond(answers());
  o.logger.info({ service: aptProxyService, name: o.name, port: o.port }, 'advertising over mDNS');
  return {
    close: () => new Promise<void>((resolve) => mdns.destroy(() => resolve())),
  };
}
