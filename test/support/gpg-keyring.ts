// A throwaway ed25519 signing key in its own GNUPGHOME, exported as a keyring apt's signed-by= accepts.
import { join } from 'node:path';
import { runChecked, runCommand } from './command-runner.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export interface GpgKeyringOptions {
  /** User id of the key. */
  readonly uid?: string;
}

export class GpgKeyring {
  /** The GNUPGHOME holding the secret key; never the machine's or the user's. */
  readonly home: string;
  readonly fingerprint: string;
  /** Binary (non-armored) public keyring, as `gpg --export` writes it; give it to `signed-by=`. */
  readonly publicKeyringPath: string;
  #disposed = false;

  private constructor(home: string, fingerprint: string, publicKeyringPath: string) {
    this.home = home;
    this.fingerprint = fingerprint;
    this.publicKeyringPath = publicKeyringPath;
  }

  static async generate(options: GpgKeyringOptions = {}): Promise<GpgKeyring> {
    const home = await makeTempDir('gpg');
    try {
      const uid = options.uid ?? 'hoard test repository <repo@hoard.invalid>';
      await gpg(home, ['--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never']);
      const listing = await gpg(home, ['--with-colons', '--list-secret-keys']);
      const fingerprint = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(listing.stdout)?.[1];
      if (fingerprint === undefined) throw new Error(`no fingerprint in gpg output:\n${listing.stdout}`);
      const publicKeyringPath = join(home, 'public-keyring.gpg');
      await gpg(home, ['--yes', '--output', publicKeyringPath, '--export', fingerprint]);
      return new GpgKeyring(home, fingerprint, publicKeyringPath);
    } catch (error) {
      await killAgent(home);
      await removeDir(home);
      throw error;
    }
  }

  /** An InRelease-style clear-signed copy of `text`. */
  async clearsign(text: string | Uint8Array): Promise<Buffer> {
    return this.#sign(['--clearsign'], text);
  }

  /** An armored detached signature, as in Release.gpg. */
  async detachSign(data: string | Uint8Array): Promise<Buffer> {
    return this.#sign(['--armor', '--detach-sign'], data);
  }

  /** Stops this home's gpg-agent (gpg starts one per home) and deletes the home. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await killAgent(this.home);
    await removeDir(this.home);
  }

  async #sign(mode: readonly string[], input: string | Uint8Array): Promise<Buffer> {
    if (this.#disposed) throw new Error('GpgKeyring used after dispose()');
    // SHA512 like the Debian archive; apt refuses SHA1-based signatures.
    const result = await gpg(
      this.home,
      ['--pinentry-mode', 'loopback', '--passphrase', '', '--digest-algo', 'SHA512', '--local-user', this.fingerprint, ...mode, '--output', '-'],
      input,
    );
    return result.stdoutBytes;
  }
}

async function gpg(home: string, args: readonly string[], input?: string | Uint8Array) {
  return runChecked('gpg', ['--batch', '--no-tty', '--quiet', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: home, LC_ALL: 'C' },
    timeoutMs: 30_000,
    ...(input === undefined ? {} : { input }),
  });
}

async function killAgent(home: string): Promise<void> {
  await runCommand('gpgconf', ['--kill', 'gpg-agent'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: home }, timeoutMs: 10_000 });
}
