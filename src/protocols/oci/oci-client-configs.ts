// The OCI protocol's client settings: Docker's registry-mirrors, containerd's hosts.toml, podman's registries.conf.

/** `host:port` of the cache URL, as registries.conf writes a mirror location. */
function hostOf(url: string): string {
  return new URL(url).host;
}

const docker = (url: string) => `{
  "registry-mirrors": ["${url}"]
}
`;

const containerd = (url: string) => `# hoard registry mirror for containerd (and nerdctl, k3s's embedded containerd with its own registries.yaml aside).
# Save as /etc/containerd/certs.d/docker.io/hosts.toml, and the same file under certs.d/<registry>/ for every
# other registry hoard mirrors (its oci.registries names, e.g. images.example); containerd sends ?ns=<registry>,
# which tells hoard which one. Needs config_path = "/etc/containerd/certs.d" in containerd's CRI registry
# section (config.toml), or \`ctr images pull --hosts-dir /etc/containerd/certs.d ...\`.
# When hoard answers 404 (a registry it does not mirror), containerd asks the registry itself.
[host."${url}"]
  capabilities = ["pull", "resolve"]
${url.startsWith('http://') ? '  # hoard is reached over plain http here: no TLS settings needed.\n' : ''}`;

const podman = (url: string) => {
  const host = hostOf(url);
  const insecure = url.startsWith('http://') ? '\ninsecure = true' : '';
  return `# hoard registry mirror for podman, buildah, skopeo and CRI-O: save as /etc/containers/registries.conf.d/50-hoard.conf
# One [[registry]] per registry hoard mirrors (its oci.registries names); the path after the cache's address names
# the registry, so one port serves them all. Pulls fall back to the registry itself when hoard fails.
[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "${host}/docker.io"${insecure}
`;
};

/** By target name. The apt protocol owns `docker` (apt inside Docker builds), so Docker's mirror is `docker-mirror`. */
export const ociClientConfigs: Readonly<Record<string, (url: string) => string>> = {
  'docker-mirror': docker,
  containerd,
  podman,
};
