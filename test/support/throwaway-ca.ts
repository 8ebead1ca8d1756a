// A certificate authority made with openssl for one test run, and server certificates it signs for loopback.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from './command-runner.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export interface ServerCertificate {
  readonly keyPem: string;
  readonly certPem: string;
}

/** Short-lived P-256 keys: fast to make, accepted by Node, OpenSSL and the GnuTLS apt links against. */
const keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export class ThrowawayCa {
  readonly dir: string;
  /** The CA certificate (PEM file): what hoard's caFile / tls.extraCaFiles or apt's CaInfo point at. */
  readonly certPath: string;
  readonly certPem: string;
  readonly #keyPath: string;
  #serial = 0;

  private constructor(dir: string, certPath: string, keyPath: string, certPem: string) {
    this.dir = dir;
    this.certPath = certPath;
    this.#keyPath = keyPath;
    this.certPem = certPem;
  }

  static async create(name: string): Promise<ThrowawayCa> {
    const dir = await makeTempDir(`ca-${name}`);
    try {
      const certPath = join(dir, 'ca.pem');
      const keyPath = join(dir, 'ca.key');
      await runChecked('openssl', [
        'req',
        '-x509',
        ...keyArgs,
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '2',
        '-subj',
        `/CN=hoard test CA ${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      return new ThrowawayCa(dir, certPath, keyPath, await readFile(certPath, 'utf8'));
    } catch (error) {
      await removeDir(dir);
      throw error;
    }
  }

  /** A server certificate for 127.0.0.1 and localhost (and any extra names), signed by this CA. */
  async issueServerCertificate(extraNames: readonly string[] = []): Promise<ServerCertificate> {
    const n = ++this.#serial;
    const keyPath = join(this.dir, `server-${n}.key`);
    const csrPath = join(this.dir, `server-${n}.csr`);
    const certPath = join(this.dir, `server-${n}.pem`);
    const extPath = join(this.dir, `server-${n}.ext`);
    const names = ['IP:127.0.0.1', 'DNS:localhost', ...extraNames.map((name) => `DNS:${name}`)];
    await writeFile(
      extPath,
      [`subjectAltName=${names.join(',')}`, 'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', ''].join('\n'),
    );
    await runChecked('openssl', ['req', ...keyArgs, '-keyout', keyPath, '-out', csrPath, '-subj', '/CN=127.0.0.1']);
    await runChecked('openssl', [
      'x509',
      '-req',
      '-in',
      csrPath,
      '-CA',
      this.certPath,
      '-CAkey',
      this.#keyPath,
      '-set_serial',
      String(1000 + n),
      '-days',
      '2',
      '-out',
      certPath,
      '-extfile',
      extPath,
    ]);
    return { keyPem: await readFile(keyPath, 'utf8'), certPem: await readFile(certPath, 'utf8') };
  }

  async cleanup(): Promise<void> {
    await removeDir(this.dir);
  }
}
