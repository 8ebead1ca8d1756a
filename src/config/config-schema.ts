// The configuration's shape, defaults and validation; every message names the key and what was wrong.
import { isIP } from 'node:net';
import { z } from 'zod';
import { protocolConfigSections } from '../protocols/installed-protocols.ts';
import { proxyUrl } from '../upstream/outbound-routes.ts';
import { parseSize, sizeString } from './size-string.ts';

const duration = z.number().int().positive();

const connectPattern = /^(\*\.)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):\d{1,5}$/;

/** `address/prefix` with a real IP address and a prefix within its family's width. */
const cidr = z.string().refine(
  (v) => {
    const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(v);
    const family = m === null ? 0 : isIP(m[1] as string);
    return family !== 0 && Number(m?.[2]) <= (family === 4 ? 32 : 128);
  },
  { error: 'must be a CIDR like 127.0.0.0/8 or fe80::/10' },
);

/**
 * Where a client-chosen upstream must never lead: the cache host itself and link-local services (cloud
 * metadata), in IPv4, IPv6 and IPv4-mapped spellings. squid denies `to_localhost` and `to_linklocal` by
 * default for the same reason.
 */
export const defaultDeniedUpstreamNetworks = [
  '127.0.0.0/8',
  '::1/128',
  '0.0.0.0/8',
  '::/128',
  '169.254.0.0/16',
  'fe80::/10',
  '::ffff:127.0.0.0/104',
  '::ffff:0.0.0.0/104',
  '::ffff:169.254.0.0/112',
];

/** host:port, IPv6 hosts in brackets. */
const listenPattern = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]*):\d{1,5}$/;

function validProxy(value: string): boolean {
  try {
    proxyUrl(value, 'upstream.proxy');
    return true;
  } catch {
    return false;
  }
}

/** A DNS name: labels of letters, digits and inner hyphens, 253 characters at most. */
const hostName = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const configSchema = z
  .object({
    /** host:port to listen on; IPv6 hosts in brackets. */
    listen: z.string().regex(listenPattern, 'must be host:port, e.g. 0.0.0.0:3142 or [::]:3142').default('0.0.0.0:3142'),
    dataDir: z.string().min(1).default('./data'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Networks whose clients may use the cache (CIDR). Default: loopback and private ranges. */
    allowedClients: z
      .array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'must be a CIDR like 10.0.0.0/8'))
      .default(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10']),
    /** Upstream hosts that proxy and prefix mode may reach (exact names or `*.suffix`). Empty: any. */
    allowedHosts: z.array(z.string().min(1)).default([]),
    /** Networks a client-chosen upstream (proxy and prefix mode) may not resolve to, unless its host is listed exactly in allowedHosts. */
    deniedUpstreamNetworks: z.array(cidr).default(defaultDeniedUpstreamNetworks),
    /** Trust for https upstreams: always the system CA store, plus these. */
    tls: z
      .object({
        /** CA certificates (PEM files) trusted for every https upstream, e.g. HTTPS/// origins of a private repository. */
        extraCaFiles: z.array(z.string().min(1, 'must be a file path')).default([]),
      })
      .prefault({}),
    /**
     * The cache's own HTTPS listener (off until `listen` is set): the same routes as the plain port, for clients
     * that accept only https (LXD's simplestreams remotes). Certificate and key from files, or a self-signed pair
     * made at the first start in `<dataDir>/tls/`.
     */
    https: z
      .object({
        listen: z.string().regex(listenPattern, 'must be host:port, e.g. 0.0.0.0:8443 or [::]:8443').optional(),
        /** PEM certificate (its chain after it); with keyFile. Absent: the self-signed pair in `<dataDir>/tls/`. */
        certFile: z.string().min(1, 'must be a file path').optional(),
        /** PEM private key of certFile. */
        keyFile: z.string().min(1, 'must be a file path').optional(),
        /** Names and addresses the generated certificate is valid for, besides localhost, 127.0.0.1 and ::1. */
        names: z.array(z.string().refine((v) => hostName.test(v) || isIP(v) !== 0, 'must be a DNS name or an IP address')).default([]),
      })
      .prefault({})
      .refine((h) => (h.certFile === undefined) === (h.keyFile === undefined), {
        message: 'certFile and keyFile go together: set both, or neither for a generated self-signed pair',
        path: ['certFile'],
      }),
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
        /** Largest object one download may bring; absent: derived from maxSize (see defaultMaxObjectSize). */
        maxObjectSize: sizeString.refine((v) => v > 0, 'must be above 0').optional(),
      })
      .prefault({})
      .refine((c) => c.lowWaterPercent < c.highWaterPercent, { message: 'lowWaterPercent must be below highWaterPercent', path: ['lowWaterPercent'] })
      .refine((c) => c.maxObjectSize === undefined || c.maxSize === undefined || c.maxObjectSize <= c.maxSize, {
        message: 'maxObjectSize must not be above maxSize: such an object could never be kept',
        path: ['maxObjectSize'],
      })
      .transform((c) => ({ ...c, maxObjectSize: c.maxObjectSize ?? defaultMaxObjectSize(c) })),
    upstream: z
      .object({
        connectTimeoutMs: duration.default(10_000),
        /** Longest silence allowed while waiting for headers or between body bytes. */
        idleTimeoutMs: duration.default(30_000),
        /** Seconds a mirror that failed is skipped before it is tried again. */
        mirrorCooldownSeconds: z.number().nonnegative().default(30),
        /** A download receiving fewer bytes per second than this, over slowWindowSeconds, is abandoned; 0 turns it off. */
        minBytesPerSecond: z.number().int().nonnegative().default(1024),
        /** The window the minimum rate is averaged over. */
        slowWindowSeconds: duration.default(60),
        /** HTTP forward proxy for every upstream request (`none`: direct, ignoring HTTP_PROXY/HTTPS_PROXY); absent: the environment's. */
        proxy: z
          .string()
          .refine((v) => v === 'none' || validProxy(v), { error: 'must be an http:// proxy URL like http://proxy.example:3128, or none' })
          .optional(),
        /** Hosts reached directly, not through the proxy or the parent (curl's NO_PROXY rules); absent: NO_PROXY. */
        noProxy: z.array(z.string().min(1)).optional(),
        /** Another hoard that every upstream request goes to, in absolute-form, so that it caches what this one fetches. */
        parent: z
          .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL of another hoard, like http://central.example:3142' })
          // URL.parse: zod runs refinements even after the URL check failed.
          .refine((v) => URL.parse(v)?.username === '' && URL.parse(v)?.password === '', { error: 'must not hold credentials' })
          .refine((v) => ['', '/'].includes(URL.parse(v)?.pathname ?? '') && URL.parse(v)?.search === '', {
            error: 'must be scheme://host:port, without a path',
          })
          .optional(),
      })
      .prefault({})
      .refine((u) => u.proxy === undefined || u.parent === undefined, {
        message: 'proxy and parent cannot both be set: the parent reaches out through its own proxy',
        path: ['proxy'],
      }),
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
        /**
         * Threads that serve hits besides the main thread (src/serving/): `auto` is one per core in all. A number
         * written as text (the environment's HOARD_THREADS) is taken as that number.
         */
        threads: z
          .preprocess(
            (value) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
            z.union([z.literal('auto'), z.number().int().min(0).max(64)], { error: 'must be auto or a whole number of extra threads from 0 to 64' }),
          )
          .default(0),
      })
      .prefault({}),
    admin: z
      .object({
        /** URL path prefix of the dashboard, metrics and health endpoints. */
        prefix: z
          .string()
          .regex(/^\/[A-Za-z0-9_-]+$/, 'must be one path segment like /_hoard')
          .default('/_hoard'),
        token: z.string().min(16, 'must be at least 16 characters').optional(),
        /** Names (besides IP literals, localhost and this machine's names) under which the admin pages answer. */
        hosts: z.array(z.string().regex(hostName, 'must be a host name like cache.lab.example, without scheme or port')).default([]),
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
    /** This node's identity in a fleet sharing one bucket (docs/fleet.md). */
    node: z
      .object({
        /** Names this node's references in the bucket; default: generated once into `<dataDir>/node.json`. */
        id: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, dots, hyphens or underscores, starting with a letter or digit')
          .optional(),
      })
      .prefault({}),
    /** Where blobs live: the local disk (default), or an S3 bucket with the disk as a bounded first level. */
    storage: z
      .object({
        s3: z
          .object({
            /** `http(s)://host:port` of an S3-compatible store (Swift s3api, Ceph RGW, MinIO); absent: AWS S3 of `region`. */
            endpoint: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).optional(),
            bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)'),
            region: z.string().min(1).default('us-east-1'),
            /** With secretAccessKey; absent: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the SDK's other sources. */
            accessKeyId: z.string().min(1).optional(),
            secretAccessKey: z.string().min(1).optional(),
            /** `endpoint/bucket/key` rather than `bucket.endpoint/key`: what Swift, MinIO and most private stores want. */
            forcePathStyle: z.boolean().default(false),
            /** Object name prefix inside the bucket, so several fleets (or other data) can share one bucket. */
            prefix: z
              .string()
              .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or path segments each ending in /, like hoard/ or lab1/hoard/')
              .default('hoard/'),
            /** Bytes the local first level keeps (e.g. 50GiB); absent: no bound. */
            localMaxSize: sizeString.optional(),
            /** Objects larger than this are uploaded in parts of this size (S3: 5 MiB at least). */
            partSize: sizeString.refine((v) => v >= 5 * 1024 * 1024, 'must be at least 5MiB (the S3 minimum part size)').default(8 * 1024 * 1024),
            /** A blob no node refers to is deleted from the bucket only after this long. */
            deleteGraceSeconds: z.number().nonnegative().default(3600),
            /** How often each node looks for condemned blobs past their grace period (one node at a time does the work). */
            sweepIntervalSeconds: z.number().positive().default(600),
            /** How long the deletion lease lasts. */
            leaseSeconds: z.number().positive().default(300),
            /** References of a node not seen (its announcement) for this long stop keeping blobs; 0: never. */
            forgetNodesAfterHours: z.number().nonnegative().default(0),
          })
          .strict()
          .refine((s) => (s.accessKeyId === undefined) === (s.secretAccessKey === undefined), {
            message: 'accessKeyId and secretAccessKey go together',
            path: ['secretAccessKey'],
          })
          .optional(),
      })
      .prefault({}),
    /** Per-protocol sections (`apt:`, ...): what only that protocol reads. */
    ...protocolConfigSections,
  })
  .strict();

export { parseSize, sizeString };

export type HoardConfig = z.output<typeof configSchema>;

/** The largest object when no disk cap is set: above the biggest cloud images, ISO images and container layers. */
export const uncappedMaxObjectSize = 16 * 1024 ** 3;

/**
 * With a disk cap, the room eviction makes: it brings the store down to the low-water mark, so an
 * object of (100 - lowWaterPercent)% of maxSize still fits under the cap (15% by default: 3 GiB of 20 GiB).
 */
export function defaultMaxObjectSize(cache: { maxSize?: number | undefined; lowWaterPercent: number }): number {
  if (cache.maxSize === undefined) return uncappedMaxObjectSize;
  return Math.max(1, Math.floor((cache.maxSize * (100 - cache.lowWaterPercent)) / 100));
}

/** Turns zod issues into one line per problem: "upstream.idleTimeoutMs: must be a positive integer, got -1". */
export function formatConfigIssues(error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.map(String).join('.') || '(root)';
      const got = valueAt(input, issue.path);
      // Credentials in a URL (a proxy's) never reach a message.
      const shown = got === undefined ? '' : `, got ${JSON.stringify(got).replace(/\/\/[^/@\s"]*@/g, '//***@')}`;
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
