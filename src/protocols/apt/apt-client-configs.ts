// The apt protocol's client settings: apt, Juju, conjure-up, cloud-init, LXD, MAAS and Docker builds using the cache as apt proxy.

const aptTargets = ['apt', 'juju', 'conjure-up', 'cloud-init', 'lxd', 'maas', 'docker'] as const;
type AptTarget = (typeof aptTargets)[number];

const cloudConfig = (url: string) => `#cloud-config
# apt in this machine fetches through the hoard cache.
apt:
  proxy: ${url}
`;

/** By target name: the text for a cache at `url` (already checked), a complete document in that tool's own format. */
export const aptClientConfigs: Readonly<Record<string, (url: string) => string>> = Object.fromEntries(
  aptTargets.map((target) => [target, (url: string) => textFor(target, url)]),
);

function textFor(target: AptTarget, url: string): string {
  switch (target) {
    case 'apt':
      return `// hoard apt cache: save as /etc/apt/apt.conf.d/01hoard-proxy
Acquire::http::Proxy "${url}";
//
// apt sends https:// sources through this proxy too, as CONNECT tunnels: the cache refuses them (403)
// unless the host is in its connect.allow, and a tunnel is never cached. To have an https repository
// cached, either
//   - write its source as  deb http://HTTPS///repo.example/debian bookworm main
//     (without the proxy line:  deb ${url}/HTTPS///repo.example/debian bookworm main), or
//   - keep an http:// source and have the cache's operator add an httpsUpgrade rule or an https backend
//     (the cache then fetches over TLS; nothing changes here).
// To let one https host bypass the cache instead:
//   Acquire::https::Proxy::repo.example "DIRECT";
// See "HTTPS repositories" in hoard's docs/operations.md.
`;
    case 'juju':
      return `# hoard apt cache for Juju machines: \`juju model-config hoard-proxy.yaml\`
# or at bootstrap: \`juju bootstrap --config hoard-proxy.yaml --model-default hoard-proxy.yaml <cloud>\`
apt-http-proxy: ${url}
`;
    case 'conjure-up':
      return `#!/bin/sh
# hoard apt cache for the machines conjure-up deploys; add the spell and cloud after the flags.
exec conjure-up --apt-proxy ${url} "$@"
`;
    case 'cloud-init':
      return cloudConfig(url);
    case 'lxd':
      return `# hoard apt cache for LXD instances: \`lxc profile create hoard-apt && lxc profile edit hoard-apt < hoard-apt.yaml\`,
# then \`lxc launch images:debian/12/cloud c1 -p default -p hoard-apt\` (the image needs cloud-init).
# LXD before 5.x reads user.user-data instead of cloud-init.user-data.
name: hoard-apt
description: apt through the hoard cache at ${url}
config:
  cloud-init.user-data: |
${cloudConfig(url)
  .trimEnd()
  .split('\n')
  .map((line) => `    ${line}`)
  .join('\n')}
devices: {}
`;
    case 'maas':
      return `#!/bin/sh
# hoard apt cache for the machines MAAS deploys (Settings > Network > Proxy, "external proxy").
# Usage: sh hoard-maas.sh <maas-cli-profile>
set -e
profile="\${1:?usage: $0 <maas-cli-profile>}"
maas "$profile" maas set-config name=enable_http_proxy value=true
maas "$profile" maas set-config name=http_proxy value=${url}
`;
    case 'docker':
      return `# hoard apt cache in Docker builds. Either pass it per build (no Dockerfile change; apt reads http_proxy):
#   docker build --build-arg http_proxy=${url} .
# or add these lines after FROM, before the first apt-get:
ARG APT_PROXY=${url}
RUN echo "Acquire::http::Proxy \\"\${APT_PROXY}\\";" > /etc/apt/apt.conf.d/01hoard-proxy
`;
  }
}
