// Loads the OpenPGP public keys hoard trusts for Release signatures: apt's keyring directories plus configured files.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readKeys, type Key } from 'openpgp';

/**
 * Where apt keeps keys. apt-secure(8) and sources.list(5) (Signed-By): /etc/apt/trusted.gpg.d holds
 * keyrings trusted for every source (binary `.gpg` or armored `.asc`), /etc/apt/keyrings and
 * /usr/share/keyrings hold keyrings that sources name with Signed-By; /etc/apt/trusted.gpg is the
 * legacy single keyring.
 */
export const aptKeyringLocations: readonly string[] = ['/etc/apt/trusted.gpg', '/etc/apt/trusted.gpg.d', '/etc/apt/keyrings', '/usr/share/keyrings'];

export interface KeyringLocation {
  readonly path: string;
  /** A configured keyring must exist and parse; apt's standard locations may be absent. */
  readonly required: boolean;
}

export interface LoadedKeyrings {
  /** Every distinct key (by fingerprint), primary keys with their subkeys. */
  readonly keys: readonly Key[];
  /** Files that contributed keys. */
  readonly files: readonly string[];
  /** Files skipped, with why (unreadable, not OpenPGP, a removed-keys ring). */
  readonly skipped: readonly { readonly file: string; readonly reason: string }[];
}

export class KeyringError extends Error {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`keyring ${path}: ${message}`, options);
    this.name = 'KeyringError';
    this.path = path;
  }
}

/**
 * Reads every keyring file at the given locations (a file, or a directory whose `*.gpg` and `*.asc`
 * files are read, as apt reads trusted.gpg.d). Throws KeyringError when a required location is
 * missing or holds no key; problems elsewhere are reported in `skipped`.
 */
export async function loadKeyrings(locations: readonly KeyringLocation[]): Promise<LoadedKeyrings> {
  const byFingerprint = new Map<string, Key>();
  const files: string[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const location of locations) {
    let candidates: string[];
    try {
      candidates = await keyringFilesAt(location.path);
    } catch (cause) {
      if (location.required) throw new KeyringError(location.path, (cause as Error).message, { cause });
      continue;
    }
    for (const file of candidates) {
      // debian-archive-removed-keys.gpg holds keys withdrawn from the archive: trusting it would undo the removal.
      if (/removed/i.test(file.slice(file.lastIndexOf('/') + 1))) {
        skipped.push({ file, reason: 'a keyring of removed keys' });
        continue;
      }
      try {
        const keys = await readKeyringFile(file);
        for (const key of keys) byFingerprint.set(key.getFingerprint(), key);
        files.push(file);
      } catch (cause) {
        if (location.required) throw new KeyringError(file, (cause as Error).message, { cause });
        skipped.push({ file, reason: (cause as Error).message });
      }
    }
  }
  return { keys: [...byFingerprint.values()], files, skipped };
}

async function keyringFilesAt(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const names = await readdir(path);
  // apt reads only these suffixes in trusted.gpg.d; anything else there (backups, READMEs) is not a keyring.
  return names
    .filter((name) => name.endsWith('.gpg') || name.endsWith('.asc'))
    .sort()
    .map((name) => join(path, name));
}

/** A keyring file: binary (`gpg --export`), or ASCII-armored whatever its suffix. */
export async function readKeyringFile(file: string): Promise<Key[]> {
  const bytes = await readFile(file);
  if (bytes.length === 0) throw new Error('empty file');
  const head = bytes.subarray(0, 1024).toString('latin1');
  const keys = head.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')
    ? await readKeys({ armoredKeys: bytes.toString('utf8') })
    : await readKeys({ binaryKeys: bytes });
  if (keys.length === 0) throw new Error('no OpenPGP key in it');
  return keys;
}
