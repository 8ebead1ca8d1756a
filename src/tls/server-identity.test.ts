// The HTTPS listener's identity: a generated pair made once and reused, configured files checked before use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHoardError } from '../errors.ts';
import { generateSelfSigned } from './self-signed-certificate.ts';
import { generatedPaths, loadServerIdentity } from './server-identity.ts';

const now = new Date('2026-12-03T08:00:00Z');

function withDir(run: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoard-identity-'));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const quiet = () => {};

test(
  'a pair is made at the first start (key 0600, names plus loopback) and the same one is reused later',
  withDir(async (dir) => {
    const first = await loadServerIdentity({ names: ['cache.lab.example', '10.0.0.5', 'fd00::5'], dataDir: dir, now, warn: quiet });
    assert.equal(first.source, 'generated');
    const paths = generatedPaths(dir);
    assert.equal(first.certPath, paths.cert);
    assert.equal(statSync(paths.key).mode & 0o777, 0o600);
    const cert = new X509Certificate(readFileSync(paths.cert));
    assert.equal(cert.fingerprint256, first.fingerprint256);
    assert.deepEqual(first.names, [
      'DNS:cache.lab.example',
      'IP Address:10.0.0.5',
      'IP Address:FD00:0:0:0:0:0:0:5',
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    assert.equal(cert.ca, false);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const warnings: string[] = [];
    const again = await loadServerIdentity({ names: ['cache.lab.example', 'fd00::5', 'other.lab.example'], dataDir: dir, now, warn: (m) => warnings.push(m) });
    assert.equal(again.source, 'reused');
    assert.equal(again.fingerprint256, first.fingerprint256);
    // A name added later is not in the pinned certificate: said, not silently remade.
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /does not name other\.lab\.example \(https\.names\)/);
  }),
);

test(
  'configured files are used as they are; the generated pair is not touched',
  withDir(async (dir) => {
    const pair = await generateSelfSigned(['configured.example'], now);
    writeFileSync(join(dir, 'c.pem'), pair.certPem);
    writeFileSync(join(dir, 'k.pem'), pair.keyPem);
    const identity = await loadServerIdentity({ certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem'), names: [], dataDir: dir, now, warn: quiet });
    assert.equal(identity.source, 'configured');
    assert.equal(identity.fingerprint256, new X509Certificate(pair.certPem).fingerprint256);
    assert.ok(identity.names.includes('DNS:configured.example'));
    assert.throws(() => statSync(generatedPaths(dir).cert), /ENOENT/);
  }),
);

test(
  'a bad certificate or key is refused with HOARD_ERR_TLS_CERTIFICATE naming the file and the problem',
  withDir(async (dir) => {
    const a = await generateSelfSigned([], now);
    const b = await generateSelfSigned([], now);
    const expired = await generateSelfSigned([], new Date('2020-01-01T00:00:00Z'), 30);
    const files: Record<string, string> = {
      'a.crt': a.certPem,
      'a.key': a.keyPem,
      'b.key': b.keyPem,
      'old.crt': expired.certPem,
      'old.key': expired.keyPem,
      'junk.crt': 'not a certificate\n',
      'broken.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      'junk.key': 'not a key\n',
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const cases: Array<[string, string, RegExp]> = [
      ['a.crt', 'b.key', /https\.keyFile: .*b\.key is not the key of the certificate .*a\.crt/],
      ['junk.crt', 'a.key', /https\.certFile: .*junk\.crt holds no PEM certificate/],
      ['broken.crt', 'a.key', /https\.certFile: .*broken\.crt is not a valid PEM certificate/],
      ['a.crt', 'junk.key', /https\.keyFile: .*junk\.key is not a PEM private key/],
      ['old.crt', 'old.key', /https\.certFile: the certificate .*old\.crt expired on 2020-01-31/],
      ['missing.crt', 'a.key', /https\.certFile: cannot read .*missing\.crt/],
    ];
    for (const [cert, key, message] of cases) {
      await assert.rejects(
        loadServerIdentity({ certFile: join(dir, cert), keyFile: join(dir, key), names: [], dataDir: dir, now, warn: quiet }),
        (err: unknown) => isHoardError(err, 'HOARD_ERR_TLS_CERTIFICATE') && message.test(err.message),
        `${cert} + ${key}`,
      );
    }
  }),
);

test(
  'a generated certificate whose key was removed is refused; a key alone (a crash between the writes) is replaced',
  withDir(async (dir) => {
    const paths = generatedPaths(dir);
    const first = await loadServerIdentity({ names: [], dataDir: dir, now, warn: quiet });
    unlinkSync(paths.key);
    await assert.rejects(loadServerIdentity({ names: [], dataDir: dir, now, warn: quiet }), /has no key beside it/);
    unlinkSync(paths.cert);
    writeFileSync(paths.key, 'left over\n');
    const second = await loadServerIdentity({ names: [], dataDir: dir, now, warn: quiet });
    assert.equal(second.source, 'generated');
    assert.notEqual(second.fingerprint256, first.fingerprint256);
  }),
);
