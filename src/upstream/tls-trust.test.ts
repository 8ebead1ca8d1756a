// CA files named in the config: unreadable, empty or broken files stop start-up with a message naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHoardError } from '../errors.ts';
import { readCaFile, systemRoots, trustedSecureContext } from './tls-trust.ts';

test('readCaFile accepts a PEM certificate and names the key for every kind of bad file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoard-ca-test-'));
  try {
    const good = join(dir, 'good.pem');
    const pem = systemRoots()[0];
    assert.ok(pem !== undefined, 'Node ships root certificates');
    writeFileSync(good, pem);
    assert.equal(readCaFile(good, 'tls.extraCaFiles[0]'), pem);

    const notPem = join(dir, 'key.txt');
    writeFileSync(notPem, 'just text\n');
    const broken = join(dir, 'broken.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n');
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'missing.pem'), /^backends\.private\.caFile: cannot read CA file .*missing\.pem/],
      [notPem, /^backends\.private\.caFile: .*key\.txt holds no PEM certificate/],
      [broken, /^backends\.private\.caFile: .*broken\.pem is not a valid PEM certificate/],
    ];
    for (const [path, message] of cases) {
      assert.throws(
        () => readCaFile(path, 'backends.private.caFile'),
        (err: unknown) => isHoardError(err, 'HOARD_ERR_CONFIG') && message.test(err.message),
        path,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the trusted set always includes the roots: an extra CA widens trust', () => {
  assert.ok(systemRoots().length > 50);
  assert.doesNotThrow(() => trustedSecureContext([]));
});
