// The certificate a cache's https URL presents (or a PEM file's), for the client settings that must trust it.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { CacheCertificate } from '../protocols/protocol.ts';

/** The first certificate of a PEM file: `--cert <data dir>/tls/hoard.crt` on the cache host, or a copy of it. */
export function certificateFromFile(path: string): CacheCertificate {
  const text = readFileSync(path, 'utf8');
  const block = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text)?.[0];
  if (block === undefined) throw new Error(`--cert: ${path} holds no PEM certificate`);
  return describe(new X509Certificate(block));
}

/**
 * Asks the cache at an https `url` for its certificate, without trusting it (that is the point: the answer is
 * what the client is told to trust, once the operator compared the fingerprint). Undefined when it cannot
 * be reached within `timeoutMs`; the reason goes to `warn`.
 */
export async function presentedCertificate(url: string, warn: (message: string) => void, timeoutMs = 10_000): Promise<CacheCertificate | undefined> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.port || 443);
  return new Promise((resolveCertificate) => {
    const socket = connect({
      host,
      port,
      // SNI carries names only (RFC 6066 3).
      ...(isIP(host) === 0 ? { servername: host } : {}),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const done = (certificate: CacheCertificate | undefined, why?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (why !== undefined) warn(why);
      resolveCertificate(certificate);
    };
    const timer = setTimeout(() => done(undefined, `no TLS answer from ${target.host} within ${timeoutMs} ms`), timeoutMs);
    socket.once('secureConnect', () => {
      const raw = socket.getPeerX509Certificate();
      if (raw === undefined) done(undefined, `${target.host} presented no certificate`);
      else done(describe(raw));
    });
    socket.once('error', (err: Error) => done(undefined, `cannot read the certificate of ${target.host}: ${err.message}`));
  });
}

/** Whether the certificate is valid for the URL's host: clients other than lxc (which pins it) check that. */
export function certificateNamesHost(certificate: CacheCertificate, url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  const cert = new X509Certificate(certificate.pem);
  return (isIP(host) === 0 ? cert.checkHost(host) : cert.checkIP(host)) !== undefined;
}

function describe(cert: X509Certificate): CacheCertificate {
  return {
    pem: cert.toString(),
    fingerprint256: cert.fingerprint256,
    // Not checkIssued: OpenSSL wants keyCertSign on an issuer, which a self-signed leaf does not have.
    selfSigned: cert.issuer === cert.subject && cert.verify(cert.publicKey),
    issuer: cert.issuer.replace(/\n/g, ', '),
  };
}
