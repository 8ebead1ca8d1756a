// The OCI protocol's section of the configuration (`oci:`): the registries mirrored, the default one, tag freshness.
import { z } from 'zod';

/** Docker Hub's registry endpoint, behind the name `docker.io` that images are written with. */
export const dockerHubName = 'docker.io';
export const dockerHubUrl = 'https://registry-1.docker.io';

const registryUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

export const registrySchema = z
  .object({
    /** Where the registry's `/v2/` API lives (a path prefix is kept). */
    url: registryUrl,
    /** Credentials hoard presents upstream (basic auth, or to the registry's token service); never a client's. */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** Extra CA certificate (PEM file) trusted for this registry. */
    caFile: z.string().min(1).optional(),
    /** With credentials: served to every client (true) or only to clients that authenticate as one of `oci.users` (false). */
    public: z.boolean().default(false),
  })
  .strict()
  .refine((r) => (r.username === undefined) === (r.password === undefined), { message: 'username and password go together' });

/** A registry's name: how clients and containerd's `ns` parameter name it (`docker.io`, `images.example`, `lab`). */
const registryName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/, 'registry names are lower-case host-like names, e.g. images.example or lab');

export const ociConfigSchema = z
  .object({
    /** false: nothing under /v2/ is the OCI protocol's (apt's rules apply to it, as before the mirror existed). */
    enabled: z.boolean().default(true),
    /** By name. `docker.io` is known without configuring it (Docker Hub); naming it here replaces that. */
    registries: z.record(registryName, registrySchema).default({}),
    /** Serves names no `ns` parameter or leading registry segment claims; '' for none (such names get NAME_UNKNOWN). */
    defaultRegistry: z.string().default(dockerHubName),
    /** Seconds a manifest fetched by tag (and a tag list) is served before it is revalidated upstream. */
    tagMaxAgeSeconds: z.number().int().positive().default(300),
    /** Clients that may pull from registries with credentials that are not `public`, by user name (basic auth to hoard). */
    users: z
      .record(
        z.string().regex(/^[^:\s]+$/, 'user names have no colon or space'),
        z.object({ password: z.string().min(8, 'must be at least 8 characters') }).strict(),
      )
      .default({}),
  })
  .strict()
  .superRefine((oci, ctx) => {
    for (const [name, registry] of Object.entries(oci.registries)) {
      if (registry.username !== undefined && !registry.public && Object.keys(oci.users).length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['registries', name],
          message: `has credentials, so only oci.users may pull from it: configure oci.users, or set public: true to serve it to every client`,
        });
      }
    }
    if (oci.defaultRegistry !== '' && oci.defaultRegistry !== dockerHubName && oci.registries[oci.defaultRegistry] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['defaultRegistry'], message: `"${oci.defaultRegistry}" is not one of oci.registries (nor ${dockerHubName})` });
    }
  });

export type OciConfig = z.output<typeof ociConfigSchema>;
export type RegistryConfig = z.output<typeof registrySchema>;

/** The configured registries, with Docker Hub under `docker.io` unless the configuration names it. */
export function effectiveRegistries(oci: OciConfig): ReadonlyMap<string, RegistryConfig> {
  const registries = new Map<string, RegistryConfig>(Object.entries(oci.registries));
  if (!registries.has(dockerHubName)) registries.set(dockerHubName, { url: dockerHubUrl, public: true });
  return registries;
}
