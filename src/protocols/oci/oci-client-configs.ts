// The OCI protocol's client settings: Docker's registry-mirrors, containerd's hosts.toml, podman's registries.conf, k3s's registries.yaml.
import type { CacheCertificate, ClientConfigContext, ClientConfigRenderer } from '../protocol.ts';
import { effectiveRegistries, ociConfigSchema } from './oci-config.ts';

/** `host:port` of the cache URL, as registries.conf writes a mirror location. */
function hostOf(url: string): string {
  return new URL(url).host;
}

/**
 * The configured registries that clients can name as registries: containerd, podman and k3s take the first
 * component of an image reference as a registry only when it holds a `.` or a `:` or is `localhost` (else
 * `lab/app` is `docker.io/lab/app`). Names like `lab` are still served, through the path segment
 * (`cache:3142/lab/app`) or as the default registry, but no per-registry client setting can name them.
 */
function clientRegistries(context: ClientConfigContext | undefined): { named: string[]; unnamed: string[]; private: string[] } {
  const named: string[] = [];
  const unnamed: string[] = [];
  const privateOnes: string[] = [];
  // Without a configuration (a caller that has none), the defaults: Docker Hub only.
  for (const [name, registry] of effectiveRegistries(context?.config().oci ?? ociConfigSchema.parse({}))) {
    if (name.includes('.') || name.includes(':') || name === 'localhost') named.push(name);
    else unnamed.push(name);
    if (registry.username !== undefined && !registry.public) privateOnes.push(name);
  }
  return { named: named.sort(), unnamed: unnamed.sort(), private: privateOnes.sort() };
}

const unnamedNote = (unnamed: readonly string[], comment: string) =>
  unnamed.length === 0 ? '' : `${comment} Not listed: ${unnamed.join(', ')} (not registry host names to clients; pull them as <cache>/<name>/<image>).\n`;

const docker = (url: string) => `{
  "registry-mirrors": ["${url}"]
}
`;

const containerd = (url: string, _certificate?: CacheCertificate, context?: ClientConfigContext) => {
  const { named, unnamed } = clientRegistries(context);
  const dirs = named.map((name) => `/etc/containerd/certs.d/${name}/hosts.toml`);
  return `# hoard registry mirror for containerd (and nerdctl; k3s has its own registries.yaml: client-config k3s).
# The same file serves every registry hoard mirrors, one copy per registry directory (containerd sends ?ns=<registry>,
# which tells hoard which one). For this hoard's configured registries, save it as:
${dirs.map((d) => `#   ${d}`).join('\n')}
# e.g.: for r in ${named.join(' ')}; do install -D -m 644 hosts.toml /etc/containerd/certs.d/$r/hosts.toml; done
${unnamedNote(unnamed, '#')}# Needs config_path = "/etc/containerd/certs.d" in containerd's CRI registry section (config.toml), or
# \`ctr images pull --hosts-dir /etc/containerd/certs.d ...\`. When hoard answers 404 (a registry it does not mirror),
# containerd asks the registry itself.
[host."${url}"]
  capabilities = ["pull", "resolve"]
${url.startsWith('http://') ? '  # hoard is reached over plain http here: no TLS settings needed.\n' : ''}`;
};

const podman = (url: string, _certificate?: CacheCertificate, context?: ClientConfigContext) => {
  const host = hostOf(url);
  const insecure = url.startsWith('http://') ? '\ninsecure = true' : '';
  const { named, unnamed } = clientRegistries(context);
  const entries = named.map(
    (name) => `[[registry]]
prefix = "${name}"
location = "${name}"

[[registry.mirror]]
location = "${host}/${name}"${insecure}
`,
  );
  return `# hoard registry mirror for podman, buildah, skopeo and CRI-O: save as /etc/containers/registries.conf.d/50-hoard.conf
# One [[registry]] per registry hoard mirrors (its oci.registries names); the path after the cache's address names
# the registry, so one port serves them all. Pulls fall back to the registry itself when hoard fails.
${unnamedNote(unnamed, '#')}
${entries.join('\n')}`;
};

/**
 * k3s (and RKE2) write containerd's hosts.toml from `/etc/rancher/k3s/registries.yaml`: one mirror per
 * registry, each with hoard as its endpoint. containerd sends `?ns=<registry>`, so no `rewrite` is needed.
 */
const k3s = (url: string, _certificate?: CacheCertificate, context?: ClientConfigContext) => {
  const { named, unnamed, private: privateOnes } = clientRegistries(context);
  const mirrors = named.map((name) => `  "${name}":\n    endpoint:\n      - "${url}"\n`).join('');
  const auth =
    privateOnes.length === 0
      ? ''
      : `# ${privateOnes.join(', ')} ${privateOnes.length === 1 ? 'is' : 'are'} served only to oci.users: give the node one of them here.
# configs:
#   "${hostOf(url)}":
#     auth:
#       username: "<an oci.users name>"
#       password: "<its password>"
`;
  return `# hoard registry mirror for k3s: save as /etc/rancher/k3s/registries.yaml on every node, then restart k3s (or k3s-agent).
# One mirror per registry hoard mirrors; when hoard fails, containerd falls back to the registry itself.
${unnamedNote(unnamed, '#')}mirrors:
${mirrors}${auth}`;
};

/** By target name. The apt protocol owns `docker` (apt inside Docker builds), so Docker's mirror is `docker-mirror`. */
export const ociClientConfigs: Readonly<Record<string, ClientConfigRenderer>> = {
  'docker-mirror': docker,
  containerd,
  podman,
  k3s,
};
