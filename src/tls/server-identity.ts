// The HTTPS listener's certificate and key: the configured files, or a self-signed pair made once in <dataDir>/tls/.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { HoardError } from '../errors.ts';

export interface ServerIdentity {
  /** The leaf first, then any chain the file carried. */
  readonly certPem: string;
  readonly keyPem: string;
  /** SHA-256 of the leaf's DER, `AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint256: string;
  /** Where the certificate is: what an operator copies to clients. */
  readonly certPath: string;
  readonly source: 'configured' | 'generated' | 'reused';
  /** The leaf's subjectAltName entries (`DNS:...`, `IP Address:...`). */
  readonly names: readonly string[];
  readonly validTo: Date;
}

export interface IdentityOptions {
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  /** Names the generated certificate is made for (besides the loopback names). */
  readonly names: readonly string[];
  readonly dataDir: string;
  readonly now: Date;
  /** Told when a reused generated certificate lacks a configured name (it is not remade: clients pinned it). */
  readonly warn: (message: string) => void;
}

/** Where a generated pair lives in the data directory. */
export function generatedPaths(dataDir: string): { dir: string; cert: string; key: string } {
  const dir = join(dataDir, 'tls');
  return { dir, cert: join(dir, 'hoard.crt'), key: join(dir, 'hoard.key') };
}

/**
 * The identity the listener presents. Configured files are read as they are; otherwise the pair in
 * `<dataDir>/tls/` is reused, or made once (key mode 0600) when there is no certificate yet. Every pair is
 * checked before the listener starts: readable PEM, a key that matches the certificate, not expired.
 */
export async function loadServerIdentity(options: IdentityOptions): Promise<ServerIdentity> {
  if (options.certFile !== undefined && options.keyFile !== undefined) {
    return checkedPair(options.certFile, options.keyFile, 'configured', options.now, 'https.certFile', 'https.keyFile');
  }
  const paths = generatedPaths(options.dataDir);
  if (existsSync(paths.cert)) {
    if (!existsSync(paths.key)) {
      throw new HoardError('HOARD_ERR_TLS_CERTIFICATE', `${paths.cert} has no key beside it (${paths.key}); remove the certificate to have a new pair made`);
    }
    const identity = checkedPair(paths.cert, paths.key, 'reused', options.now, 'the generated certificate', 'the generated key');
    const named = new Set(identity.names.map((entry) => entry.toLowerCase()));
    const missing = options.names.filter((name) => !named.has(isIP(name) === 0 ? `dns:${name.toLowerCase()}` : `ip address:${ipSpelling(name)}`));
    if (missing.length > 0) {
      options.warn(
        `the generated certificate ${paths.cert} does not name ${missing.join(', ')} (https.names); it is kept because clients pin it: remove it and its key to have a new one made`,
      );
    }
    return identity;
  }
  // Loaded only here: the generator and its ASN.1 machinery are a few MB a running cache does not otherwise need.
  const { generateSelfSigned } = await import('./self-signed-certificate.ts');
  const pair = await generateSelfSigned(options.names, options.now);
  try {
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    // Key first: a certificate on disk always has its key; a key alone (a crash in between) is simply replaced.
    writeAtomically(paths.key, pair.keyPem, 0o600);
    writeAtomically(paths.cert, pair.certPem, 0o644);
  } catch (cause) {
    throw new HoardError('HOARD_ERR_TLS_CERTIFICATE', `cannot write the generated certificate to ${paths.dir}: ${(cause as Error).message}`, { cause });
  }
  return checkedPair(paths.cert, paths.key, 'generated', options.now, 'the generated certificate', 'the generated key');
}

function writeAtomically(path: string, text: string, mode: number): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, text, { mode, flush: true });
  renameSync(temp, path);
}

/** node prints IPv6 SANs in full (`0:0:0:0:0:0:0:1`); configured names may be compressed. Lower case. */
function ipSpelling(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const halves = ip.split('::');
  const head = halves[0] === '' || halves[0] === undefined ? [] : halves[0].split(':');
  const tail = halves.length < 2 || halves[1] === '' ? [] : (halves[1] ?? '').split(':');
  const groups = halves.length < 2 ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.map((g) => Number.parseInt(g, 16).toString(16)).join(':');
}

function checkedPair(certPath: string, keyPath: string, source: ServerIdentity['source'], now: Date, certKey: string, keyKey: string): ServerIdentity {
  const fail = (message: string, cause?: unknown): never => {
    throw new HoardError('HOARD_ERR_TLS_CERTIFICATE', message, cause === undefined ? {} : { cause });
  };
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (cause) {
      return fail(`${key}: cannot read ${path}: ${(cause as Error).message}`, cause);
    }
  };
  const certPem = read(certPath, certKey);
  const keyPem = read(keyPath, keyKey);
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) fail(`${certKey}: ${certPath} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0] as string);
  } catch (cause) {
    return fail(`${certKey}: ${certPath} is not a valid PEM certificate: ${(cause as Error).message}`, cause);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (cause) {
    return fail(`${keyKey}: ${keyPath} is not a PEM private key (or it is encrypted): ${(cause as Error).message}`, cause);
  }
  if (!leaf.checkPrivateKey(key)) fail(`${keyKey}: ${keyPath} is not the key of the certificate ${certPath}`);
  const validTo = new Date(leaf.validTo);
  if (validTo.getTime() <= now.getTime()) fail(`${certKey}: the certificate ${certPath} expired on ${validTo.toISOString()}`);
  try {
    // What the listener will do with them: catches what the checks above do not (an unsupported key type).
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (cause) {
    fail(`${certKey}: ${certPath} and ${keyPath} are refused by TLS: ${(cause as Error).message}`, cause);
  }
  const names = (leaf.subjectAltName ?? '').split(', ').filter((entry) => entry !== '');
  return { certPem, keyPem, fingerprint256: leaf.fingerprint256, certPath, source, names, validTo };
}
