// The configuration's shape, defaults and validation; every message names the key and what was wrong.
import { z } from 'zod';

const duration = z.number().int().positive();

const mirrorUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

export const backendSchema = z.object({
  /** Mirrors tried in order; the next one is used when one is down or answers 5xx. */
  mirrors: z.array(mirrorUrl).min(1, 'needs at least one mirror URL'),
  /** Extra CA certificate (PEM file) trusted for this backend's https mirrors. */
  caFile: z.string().min(1).optional(),
});

/** A host name, an IPv4 address or a bracketed IPv6 address, with an optional port. */
const upgradeHost = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/;
const httpsOrigin = /^https:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?\/?$/i;
const connectPattern = /^(\*\.)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):\d{1,5}$/;

const sizeString = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\s*\d+(\.\d+)?\s*([KMGT]i?B?|B)?\s*$/i, 'must be a size like 20GiB, 500MB or a number of bytes')])
  .transform((v) => (typeof v === 'number' ? v : parseSize(v)));

export const configSchema = z
  .object({
    /** host:port to listen on; IPv6 hosts in brackets. */
    listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]*):\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:3142 or [::]:3142').default('0.0.0.0:3142'),
    dataDir: z.string().min(1).default('./data'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Networks whose clients may use the cache (CIDR). Default: loopback and private ranges. */
    allowedClients: z
      .array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'must be a CIDR like 10.0.0.0/8'))
      .default(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10']),
    /** Upstream hosts that proxy and prefix mode may reach (exact names or `*.suffix`). Empty: any. */
    allowedHosts: z.array(z.string().min(1)).default([]),
    backends: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'backend names are letters, digits, - and _'), backendSchema).default({}),
    /** Trust for https upstreams: always the system CA store, plus these. */
    tls: z
      .object({
        /** CA certificates (PEM files) trusted for every https upstream, e.g. HTTPS/// origins of a private repository. */
        extraCaFiles: z.array(z.string().min(1, 'must be a file path')).default([]),
      })
      .prefault({}),
    /** `host[:port]` -> `https://host[:port]`: clients keep http:// sources, hoard fetches that host over TLS only. */
    httpsUpgrade: z
      .record(z.string(), z.string().regex(httpsOrigin, 'must be an https:// origin without a path, e.g. https://mirror.example'))
      .superRefine((rules, ctx) => {
        for (const key of Object.keys(rules)) {
          if (!upgradeHost.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `the key "${key}" must be a host or host:port, e.g. mirror.example or 10.0.0.5:8080` });
        }
      })
      .default({}),
    /** CONNECT pass-through: tunnels that bypass the cache, only to the listed destinations. */
    connect: z
      .object({
        /** `host:port` or `*.suffix:port` destinations a client may open a tunnel to. Empty: every CONNECT is refused. */
        allow: z.array(z.string().regex(connectPattern, 'must be host:port or *.suffix:port, e.g. mirror.example:443')).default([]),
        /** A tunnel with no bytes either way for this long is closed. */
        idleTimeoutMs: duration.default(120_000),
      })
      .prefault({}),
    cache: z
      .object({
        /** Seconds a mutable index (InRelease, Packages...) is served before it is revalidated upstream. */
        indexMaxAgeSeconds: z.number().nonnegative().default(30),
        /** Seconds an upstream 404 is remembered, so a burst of clients does not hammer the upstream. */
        notFoundTtlSeconds: z.number().nonnegative().default(10),
        /** Disk cap of the store (e.g. 20GiB); absent means no cap. */
        maxSize: sizeString.optional(),
        /** Eviction starts when the store passes this share of maxSize... */
        highWaterPercent: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').default(95),
        /** ...and removes objects until the store is down to this share. */
        lowWaterPercent: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').default(85),
        /** Hours between scheduled garbage collections (unreferenced objects); 0 turns the schedule off. */
        gcIntervalHours: z.number().nonnegative().default(24),
      })
      .prefault({})
      .refine((c) => c.lowWaterPercent < c.highWaterPercent, { message: 'lowWaterPercent must be below highWaterPercent', path: ['lowWaterPercent'] }),
    upstream: z
      .object({
        connectTimeoutMs: duration.default(10_000),
        /** Longest silence allowed while waiting for headers or between body bytes. */
        idleTimeoutMs: duration.default(30_000),
        /** Seconds a mirror that failed is skipped before it is tried again. */
        mirrorCooldownSeconds: z.number().nonnegative().default(30),
      })
      .prefault({}),
    server: z
      .object({
        /** Longest time a client may take to send its request headers. */
        headersTimeoutMs: duration.default(20_000),
        /** Keep-alive idle time for client connections. */
        keepAliveTimeoutMs: duration.default(60_000),
        /** A client that accepts no bytes for this long is disconnected. */
        clientIdleTimeoutMs: duration.default(120_000),
        /**
         * A response body the client takes more slowly than this over a whole window is cut; 0 turns it off.
         * 1024 B/s is a hundredth of a 1 Mbit/s link: no apt client on a working link comes near it.
         */
        minSendBytesPerSecond: z.number().int().nonnegative().default(1024),
        /** The window of minSendBytesPerSecond: long enough that TCP's bursty progress on a slow link averages out. */
        slowClientWindowSeconds: z.number().positive().max(86_400).default(60),
        maxTargetLength: z.number().int().min(256).max(65_536).default(4096),
      })
      .prefault({}),
    admin: z
      .object({
        /** URL path prefix of the dashboard, metrics and health endpoints. */
        prefix: z.string().regex(/^\/[A-Za-z0-9_-]+$/, 'must be one path segment like /_hoard').default('/_hoard'),
        token: z.string().min(16, 'must be at least 16 characters').optional(),
      })
      .prefault({}),
    /** Advertising the cache on the local network over mDNS/DNS-SD as `_apt_proxy._tcp` (what squid-deb-proxy-client looks for). */
    mdns: z
      .object({
        enabled: z.boolean().default(false),
        /** Instance name shown to browsers; default `hoard on <hostname>`. */
        name: z.string().min(1).max(63, 'must be at most 63 bytes (a DNS label)').optional(),
      })
      .prefault({}),
    /** Refuse anything not verified against a signed index (see docs). */
    strict: z.boolean().default(false),
    /** Extra OpenPGP keyrings trusted for Release signatures. */
    keyrings: z.array(z.string().min(1)).default([]),
  })
  .strict();

export type HoardConfig = z.output<typeof configSchema>;
export type HoardConfigInput = z.input<typeof configSchema>;
export type BackendConfig = z.output<typeof backendSchema>;

const units: Record<string, number> = { '': 1, B: 1, K: 1e3, KB: 1e3, KIB: 1024, KI: 1024, M: 1e6, MB: 1e6, MIB: 1024 ** 2, MI: 1024 ** 2, G: 1e9, GB: 1e9, GIB: 1024 ** 3, GI: 1024 ** 3, T: 1e12, TB: 1e12, TIB: 1024 ** 4, TI: 1024 ** 4 };

/** "20GiB" -> bytes. Accepts what `sizeString` accepts. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = units[(m?.[2] ?? '').toUpperCase()];
  if (!m || unit === undefined) throw new Error(`not a size: ${text}`);
  return Math.round(Number(m[1]) * unit);
}

export { sizeString };

/** Turns zod issues into one line per problem: "upstream.idleTimeoutMs: must be a positive integer, got -1". */
export function formatConfigIssues(error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.map(String).join('.') || '(root)';
      const got = valueAt(input, issue.path);
      const shown = got === undefined ? '' : `, got ${JSON.stringify(got)}`;
      return `${key}: ${issue.message}${shown}`;
    })
    .join('\n');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}
