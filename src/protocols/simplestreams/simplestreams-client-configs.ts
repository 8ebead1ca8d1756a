// The image protocol's client settings: an LXD remote, MAAS's boot source, Juju's image metadata URLs, a Glance upload.
import type { CacheCertificate, ClientConfigRenderer } from '../protocol.ts';

/** An images upstream as clients reach it through the cache: `https://cache:8443/images/<name>`. */
interface ImagesUrl {
  /** The stream's root under the cache, no trailing slash. */
  readonly root: string;
  readonly name: string;
}

const upstreamName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The upstream named by `--url https://cache:8443/images/<name>`. LXD accepts simplestreams remotes over https
 * only, and an http URL keeps meaning the apt proxy for `lxd`, `maas` and `juju`: undefined then.
 */
function imagesUrl(url: string, target: string): ImagesUrl | undefined {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:') return undefined;
  const segments = parsed.pathname.split('/').filter((s) => s !== '');
  const name = segments[1];
  if (segments[0] !== 'images' || segments.length !== 2 || name === undefined || !upstreamName.test(name)) {
    throw new Error(
      `${target} image settings need the images upstream in the URL: --url https://<cache>:<https port>/images/<name>, <name> from the cache's images: section (got ${url}); for apt proxy settings give the plain http URL`,
    );
  }
  return { root: `${parsed.origin}/images/${name}`, name };
}

/** Lines of a `cat > file <<'EOF'` that writes the certificate (the quoted delimiter keeps the shell off the text). */
function heredoc(file: string, certificate: CacheCertificate): string {
  return `cat > ${file} <<'HOARD_CERTIFICATE'\n${certificate.pem.trimEnd()}\nHOARD_CERTIFICATE\n`;
}

function certificateLine(certificate: CacheCertificate | undefined): string {
  if (certificate === undefined) {
    return "# The cache's certificate could not be read from the URL: copy it from the cache host (<dataDir>/tls/hoard.crt, or its https.certFile).\n";
  }
  return `# The cache presents the certificate with SHA-256 fingerprint\n#   ${certificate.fingerprint256}\n# (the cache host shows it in /_hoard/health and its "https listener up" log line: compare before trusting it).\n`;
}

/** How the machines of a tool that reads the system CA store come to trust the cache (Debian and Ubuntu spelling). */
function systemTrust(certificate: CacheCertificate | undefined, who: string): string {
  if (certificate !== undefined && !certificate.selfSigned) {
    return `# ${who} must trust the CA that signed the cache's certificate (${certificate.issuer}); one in their CA store already does.\n`;
  }
  return `# ${who} must trust the cache's certificate: as root there,
#   install -m 644 hoard-cache.crt /usr/local/share/ca-certificates/hoard-cache.crt && update-ca-certificates
`;
}

const lxd: ClientConfigRenderer = (url, certificate) => {
  const images = imagesUrl(url, 'lxd');
  if (images === undefined) return undefined;
  // LXD has static remotes (images, ubuntu, ubuntu-daily) that `remote add` cannot replace: a prefix keeps clear of them.
  const remote = `hoard-${images.name}`;
  const pin =
    certificate === undefined
      ? `# Copy the cache's certificate (<dataDir>/tls/hoard.crt on the cache host, or its https.certFile) to
#   "$conf/servercerts/${remote}.crt"
# or add it (or the CA that signed it) to the system CA store.
`
      : `${heredoc(`"$conf/servercerts/${remote}.crt"`, certificate)}`;
  return `#!/bin/sh
# hoard image cache as an LXD image remote (simplestreams over https). Run as the user of the lxc client:
#   sh hoard-lxd.sh, then  lxc image list ${remote}:  and  lxc launch ${remote}:<alias> <instance>
# lxc pins the certificate saved as servercerts/${remote}.crt in its configuration directory (LXD_CONF; the
# LXD snap's is ~/snap/lxd/common/config) and passes it on to the LXD daemon that downloads the image.
${certificateLine(certificate)}set -e
conf="\${LXD_CONF:-$HOME/.config/lxc}"
mkdir -p "$conf/servercerts"
${pin}lxc remote add ${remote} ${images.root.includes('[') ? `'${images.root}'` : images.root} --protocol simplestreams --public
`;
};

/** The keyring MAAS checks Ubuntu's image streams with: hoard passes the signed files through unchanged, so it still applies. */
const ubuntuCloudImageKeyring = '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg';

const maas: ClientConfigRenderer = (url, certificate) => {
  const images = imagesUrl(url, 'maas');
  if (images === undefined) return undefined;
  return `#!/bin/sh
# hoard image cache as MAAS's boot source: boot images (kernel, initrd, squashfs) come through the cache.
# Usage: sh hoard-maas.sh <maas-cli-profile>
# keyring_filename is the keyring the stream is signed for (${ubuntuCloudImageKeyring} for Ubuntu's);
# hoard serves the signed .sjson files byte for byte, so MAAS keeps checking them.
${certificateLine(certificate)}${systemTrust(certificate, 'The region controllers')}set -e
profile="\${1:?usage: $0 <maas-cli-profile>}"
${certificate?.selfSigned === true ? heredoc('hoard-cache.crt', certificate) : ''}maas "$profile" boot-source update 1 url='${images.root}/' keyring_filename=${ubuntuCloudImageKeyring}
maas "$profile" boot-resources import
`;
};

/** A PEM in a YAML block scalar `indent` deep. */
function indented(text: string, indent: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `${indent}${line}`)
    .join('\n');
}

const juju: ClientConfigRenderer = (url, certificate) => {
  const images = imagesUrl(url, 'juju');
  if (images === undefined) return undefined;
  // cloud-init's ca_certs module adds the certificate to each new machine's CA store, where LXD and the agents read it.
  const trust =
    certificate?.selfSigned === true
      ? `# New machines trust the cache's certificate through cloud-init (the controller's too when this file is given at
# bootstrap); it replaces any cloudinit-userdata the model had.
cloudinit-userdata: |
  ca_certs:
    trusted:
      - |
${indented(certificate.pem, '        ')}
`
      : '';
  return `# hoard image cache for Juju: \`juju model-config hoard-images.yaml\`,
# or at bootstrap: \`juju bootstrap --config hoard-images.yaml --model-default hoard-images.yaml <cloud>\`
# image-metadata-url: machine images (clouds without their own image service);
# container-image-metadata-url: LXD images for containers and the LXD provider.
${certificateLine(certificate)}${certificate?.selfSigned === true ? '' : systemTrust(certificate, 'The controller and the machines')}image-metadata-url: ${images.root}/
container-image-metadata-url: ${images.root}/
${trust}`;
};

/** Glance's disk format by the file's extension; Ubuntu's `.img` cloud images are qcow2. */
const diskFormats: ReadonlyArray<readonly [RegExp, string]> = [
  [/\.(img|qcow2)$/, 'qcow2'],
  [/\.raw$/, 'raw'],
  [/\.vmdk$/, 'vmdk'],
  [/\.vhdx$/, 'vhdx'],
  [/\.vhd$/, 'vhd'],
  [/\.iso$/, 'iso'],
];

const glance: ClientConfigRenderer = (url, certificate) => {
  const file = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (!/^[A-Za-z0-9][A-Za-z0-9._+:~-]*$/.test(file) || !file.includes('.')) {
    throw new Error(
      `glance needs the URL of one image file through the cache, e.g. --url https://<cache>:<https port>/images/<name>/<path>/<image>.img (got ${url})`,
    );
  }
  const format = diskFormats.find(([pattern]) => pattern.test(file))?.[1];
  const name = file.replace(/\.[^.]+$/, '');
  const https = url.startsWith('https:');
  const pinned = https && certificate?.selfSigned === true;
  return `#!/bin/sh
# A cloud image through the hoard cache into OpenStack Glance: the cache fetches it upstream once, every later
# upload of it is served from the cache. Needs the openstack client with credentials loaded (an openrc file).
${https ? certificateLine(certificate) : ''}${format === undefined ? `# ${file}: format not known from its name; check it with \`qemu-img info ${file}\` and set --disk-format.\n` : ''}set -e
${pinned ? heredoc('hoard-cache.crt', certificate) : ''}curl -fL ${pinned ? '--cacert hoard-cache.crt ' : ''}-o '${file}' '${url}'
openstack image create --disk-format ${format ?? 'qcow2'} --container-format bare --file '${file}' '${name}'
`;
};

/**
 * By target name. `lxd`, `maas` and `juju` are apt's too (its proxy settings): these answer an https URL naming an
 * images upstream, apt's an http one. `glance` is this protocol's alone.
 */
export const simplestreamsClientConfigs: Readonly<Record<string, ClientConfigRenderer>> = { lxd, maas, juju, glance };
