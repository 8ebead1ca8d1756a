// What hoard trusts for https upstreams: the system CA store (and Node's bundled roots) plus CA files the operator names.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, getCACertificates, type SecureContext } from 'node:tls';
import { HoardError } from '../errors.ts';

let roots: readonly string[] | undefined;

/**
 * Node's bundled Mozilla roots plus the machine's store (/etc/ssl/certs on Debian), as apt itself trusts
 * the machine's store: a CA installed with update-ca-certificates works for hoard without more config.
 */
export function systemRoots(): readonly string[] {
  if (roots === undefined) {
    let system: string[] = [];
    try {
      system = getCACertificates('system');
    } catch {
      // No readable system store: the bundled roots remain.
    }
    roots = [...new Set([...getCACertificates('default'), ...system])];
  }
  return roots;
}

/**
 * One TLS context for every connection of a fetcher. Passing `ca` per connection instead would parse
 * several hundred certificates on each TLS handshake. `ca` replaces Node's defaults, so the roots are
 * always included: an extra CA widens trust, it never narrows it.
 */
export function trustedSecureContext(extraCas: readonly string[]): SecureContext {
  return createSecureContext({ ca: [...systemRoots(), ...extraCas] });
}

/** Reads a PEM CA file named by the config key `key`; a missing, unreadable or non-PEM file stops start-up naming the key. */
export function readCaFile(path: string, key: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new HoardError('HOARD_ERR_CONFIG', `${key}: cannot read CA file ${path}: ${(cause as Error).message}`, { cause });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new HoardError('HOARD_ERR_CONFIG', `${key}: ${path} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  }
  // TLS silently skips a CA it cannot parse, which would surface much later as an untrusted upstream: check each one now.
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (cause) {
      throw new HoardError('HOARD_ERR_CONFIG', `${key}: ${path} is not a valid PEM certificate (certificate ${i + 1}: ${(cause as Error).message})`, { cause });
    }
  });
  return text;
}
