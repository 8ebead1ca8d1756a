// The image protocol's client settings: which URLs they answer, and the exact lines they print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import type { CacheCertificate } from '../protocol.ts';
import { simplestreamsClientConfigs } from './simplestreams-client-configs.ts';

const url = 'https://cache.lab.example:8443/images/ubuntu';
const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\nAAAA\n-----END CERTIFICATE-----\n';
const selfSigned: CacheCertificate = { pem, fingerprint256: 'AB:CD:EF', selfSigned: true, issuer: 'CN=cache.lab.example' };
const caSigned: CacheCertificate = { pem, fingerprint256: 'AB:CD:EF', selfSigned: false, issuer: 'CN=lab CA' };

function render(target: string, at: string, certificate?: CacheCertificate): string | undefined {
  const renderer = simplestreamsClientConfigs[target];
  assert.ok(renderer, target);
  return renderer(at, certificate);
}

/** The text a shell heredoc `<<'HOARD_CERTIFICATE'` in `script` writes. */
function heredocBody(script: string): string | undefined {
  return /<<'HOARD_CERTIFICATE'\n([\s\S]*?)\nHOARD_CERTIFICATE\n/.exec(script)?.[1];
}

test('lxd, maas and juju pass http URLs on (apt owns those for its proxy settings); glance takes both', () => {
  for (const target of ['lxd', 'maas', 'juju']) assert.equal(render(target, 'http://cache.lab.example:3142'), undefined, target);
  assert.ok(render('glance', 'http://cache.lab.example:3142/images/ubuntu/noble/x.img')?.includes("curl -fL -o 'x.img'"));
});

test('an https URL without /images/<name> is refused with what to write', () => {
  for (const target of ['lxd', 'maas', 'juju']) {
    for (const bad of ['https://cache:8443', 'https://cache:8443/images', 'https://cache:8443/images/ubuntu/extra', 'https://cache:8443/debian/x']) {
      assert.throws(() => render(target, bad), /need the images upstream in the URL: --url https:\/\/<cache>:<https port>\/images\/<name>/, `${target} ${bad}`);
    }
  }
  assert.throws(() => render('glance', 'https://cache:8443/images/ubuntu'), /glance needs the URL of one image file/);
});

test('lxd: the exact remote add line, and the presented certificate pinned under servercerts/ for that remote', () => {
  const script = render('lxd', url, selfSigned) ?? '';
  assert.ok(script.startsWith('#!/bin/sh\n'));
  const lines = script.split('\n');
  assert.ok(lines.includes('lxc remote add hoard-ubuntu https://cache.lab.example:8443/images/ubuntu --protocol simplestreams --public'), script);
  assert.ok(lines.includes(`cat > "$conf/servercerts/hoard-ubuntu.crt" <<'HOARD_CERTIFICATE'`));
  assert.equal(`${heredocBody(script)}\n`, pem);
  assert.ok(lines.includes('conf="${LXD_CONF:-$HOME/.config/lxc}"'));
  assert.match(script, /fingerprint\n# {3}AB:CD:EF\n/);
  // Without the certificate: where to get it, and nothing written.
  const bare = render('lxd', url) ?? '';
  assert.equal(heredocBody(bare), undefined);
  assert.match(bare, /<dataDir>\/tls\/hoard\.crt/);
  assert.ok(bare.includes('lxc remote add hoard-ubuntu https://cache.lab.example:8443/images/ubuntu --protocol simplestreams --public\n'));
  // An IPv6 literal is quoted: [..] is a glob to the shell.
  assert.ok(render('lxd', 'https://[fd00::5]:8443/images/ubuntu')?.includes("lxc remote add hoard-ubuntu 'https://[fd00::5]:8443/images/ubuntu' --protocol"));
});

test('maas: boot-source update with the stream URL and the keyring; a self-signed certificate is written for the CA store', () => {
  const script = render('maas', url, selfSigned) ?? '';
  const lines = script.split('\n');
  assert.ok(
    lines.includes(
      `maas "$profile" boot-source update 1 url='https://cache.lab.example:8443/images/ubuntu/' keyring_filename=/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg`,
    ),
    script,
  );
  assert.ok(lines.includes('maas "$profile" boot-resources import'));
  assert.equal(`${heredocBody(script)}\n`, pem);
  assert.match(script, /update-ca-certificates/);
  const signed = render('maas', url, caSigned) ?? '';
  assert.equal(heredocBody(signed), undefined);
  assert.match(signed, /trust the CA that signed the cache's certificate \(CN=lab CA\)/);
});

test('juju: model-config YAML with both metadata URLs; a self-signed certificate is trusted through cloudinit-userdata', () => {
  const doc = parseYaml(render('juju', url, selfSigned) ?? '') as Record<string, string>;
  assert.equal(doc['image-metadata-url'], 'https://cache.lab.example:8443/images/ubuntu/');
  assert.equal(doc['container-image-metadata-url'], 'https://cache.lab.example:8443/images/ubuntu/');
  assert.deepEqual(parseYaml(doc['cloudinit-userdata'] ?? ''), { ca_certs: { trusted: [pem] } });
  assert.deepEqual(Object.keys(parseYaml(render('juju', url, caSigned) ?? '') as object).sort(), ['container-image-metadata-url', 'image-metadata-url']);
  assert.deepEqual(Object.keys(parseYaml(render('juju', url) ?? '') as object).sort(), ['container-image-metadata-url', 'image-metadata-url']);
});

test('glance: curl through the cache, then openstack image create with the format its name says', () => {
  const item = 'https://cache.lab.example:8443/images/ubuntu/server/releases/noble/release-20240423/ubuntu-24.04-server-cloudimg-amd64.img';
  const script = render('glance', item, selfSigned) ?? '';
  const lines = script.split('\n');
  assert.ok(lines.includes(`curl -fL --cacert hoard-cache.crt -o 'ubuntu-24.04-server-cloudimg-amd64.img' '${item}'`), script);
  assert.ok(
    lines.includes(
      "openstack image create --disk-format qcow2 --container-format bare --file 'ubuntu-24.04-server-cloudimg-amd64.img' 'ubuntu-24.04-server-cloudimg-amd64'",
    ),
  );
  assert.equal(`${heredocBody(script)}\n`, pem);
  assert.match(render('glance', 'https://cache:8443/images/debian/bookworm/latest/debian-12-generic-amd64.raw', caSigned) ?? '', /--disk-format raw /);
  assert.match(render('glance', 'https://cache:8443/images/x/disk.tar.gz') ?? '', /format not known from its name/);
});
