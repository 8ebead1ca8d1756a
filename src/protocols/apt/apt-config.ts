// The apt protocol's section of the configuration (`apt:`): named backends, https upgrades, signatures.
import { z } from 'zod';
import { sizeString } from '../../config/size-string.ts';

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

export const aptConfigSchema = z
  .object({
    backends: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'backend names are letters, digits, - and _'), backendSchema).default({}),
    /** `host[:port]` -> `https://host[:port]`: clients keep http:// sources, hoard fetches that host over TLS only. */
    httpsUpgrade: z
      .record(z.string(), z.string().regex(httpsOrigin, 'must be an https:// origin without a path, e.g. https://mirror.example'))
      .superRefine((rules, ctx) => {
        for (const key of Object.keys(rules)) {
          if (!upgradeHost.test(key))
            ctx.addIssue({ code: 'custom', path: [key], message: `the key "${key}" must be a host or host:port, e.g. mirror.example or 10.0.0.5:8080` });
        }
      })
      .default({}),
    /** Refuse anything not verified against a signed index (see docs). */
    strict: z.boolean().default(false),
    /** Extra OpenPGP keyrings trusted for Release signatures. */
    keyrings: z.array(z.string().min(1)).default([]),
    /**
     * Ceiling on the plain size a Packages or Sources index is read to when its Release lists no
     * uncompressed size (else the listed size is the bound). 256 MiB: the largest real indices are ~100 MB.
     */
    maxIndexExpandedSize: sizeString.refine((n) => n > 0, 'must be above 0').default(256 * 1024 * 1024),
  })
  .strict();

/**
 * Keys that sat at the root before the protocol sections: a config file that still has them there
 * keeps working (they are read into `apt:`), with a warning that says where they go now.
 */
export const aptLegacyRootKeys = ['backends', 'httpsUpgrade', 'strict', 'keyrings'] as const;

export type AptConfig = z.output<typeof aptConfigSchema>;
