// The image streams' section of the configuration (`images:`): simplestreams servers and checksum-file trees, by name.
import { z } from 'zod';

const imageUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

export const imageUpstreamSchema = z
  .object({
    /** The stream's root: `streams/v1/index.json` and the items' paths are relative to it (a path prefix is kept). */
    url: imageUrl,
    /** OpenPGP keyring (binary or armored file) whose keys must sign this upstream's `.sjson` files and `SHA256SUMS.gpg`. */
    keyring: z.string().min(1).optional(),
    /** Refuse items that no signature (a signed products file or a signed SHA256SUMS) covers. Needs `keyring`. */
    strict: z.boolean().default(false),
    /** Seconds metadata (index, products, SHA256SUMS, signatures) is served before it is revalidated upstream. */
    maxAgeSeconds: z.number().int().positive().default(300),
    /** Extra CA certificate (PEM file) trusted for this upstream. */
    caFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((u) => !u.strict || u.keyring !== undefined, { message: 'strict needs a keyring: without one no signature can cover anything' });

/** An image upstream's name: the segment after `/images/` in the URLs clients are given. */
const imageName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'image upstream names are lower-case letters, digits, ".", "_" and "-"');

export const imagesConfigSchema = z.record(imageName, imageUpstreamSchema).default({});

export type ImagesConfig = z.output<typeof imagesConfigSchema>;
export type ImageUpstreamConfig = z.output<typeof imageUpstreamSchema>;
