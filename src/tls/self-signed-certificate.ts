// A self-signed ECDSA P-256 certificate and its key for the HTTPS listener, made with @peculiar/x509.
import './reflect-metadata-shim.ts';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

export interface GeneratedPair {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
}

/** Always in the certificate, so that clients on the cache host itself reach it under any loopback spelling. */
export const loopbackNames: readonly string[] = ['localhost', '127.0.0.1', '::1'];

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/**
 * A leaf certificate for `names` (DNS names and IP addresses) plus the loopback names, valid from an hour ago (clocks
 * of clients drift) for `validDays`. Clients trust it by pinning it (LXD's servercerts/) or by adding it to their CA
 * store, so it is its own issuer; the first DNS name is the one LXD checks against, so configured names come first.
 */
export async function generateSelfSigned(names: readonly string[], now: Date, validDays = 3650): Promise<GeneratedPair> {
  const all = [...new Set([...names, ...loopbackNames])];
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const firstDns = all.find((name) => isIP(name) === 0) ?? 'localhost';
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=${firstDns}, O=hoard cache`,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + validDays * 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      // RFC 5280 4.2.1.9: not a CA; clients that pin it (Go's x509 in lxc) treat the pinned copy as its own anchor.
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(all.map((name) => (isIP(name) === 0 ? { type: 'dns', value: name } : { type: 'ip', value: name }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: `${cert.toString('pem')}\n`, keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n` };
}
