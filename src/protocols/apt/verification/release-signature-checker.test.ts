// Tests of Release signature checking and keyring loading with keys made by the real gpg.
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runChecked } from '../../../../test/support/command-runner.ts';
import { GpgKeyring } from '../../../../test/support/gpg-keyring.ts';
import { makeTempDir, removeDir } from '../../../../test/support/temp-dir.ts';
import { KeyringError, loadKeyrings, readKeyringFile } from './keyring-loader.ts';
import { ReleaseSignatureChecker } from './release-signature-checker.ts';
import { DeferredSignatureChecker } from './signature-checker.ts';

// Not valid deb822 (the dash line), but it shows the dash-escaping round trip.
const release = [
  'Origin: Hoard Test',
  'Suite: stable',
  'Date: Sat, 10 Jun 2023 09:15:02 UTC',
  'SHA256:',
  ` ${'ab'.repeat(32)} 120 main/binary-amd64/Packages`,
  '- a line that starts with a dash',
  '',
].join('\n');

describe('ReleaseSignatureChecker', () => {
  let known: GpgKeyring;
  let stranger: GpgKeyring;
  let checker: ReleaseSignatureChecker;

  before(async () => {
    [known, stranger] = await Promise.all([GpgKeyring.generate(), GpgKeyring.generate({ uid: 'someone else <else@hoard.invalid>' })]);
    checker = new ReleaseSignatureChecker(await readKeyringFile(known.publicKeyringPath));
  });
  after(async () => {
    await Promise.all([known?.dispose(), stranger?.dispose()]);
  });

  test('a clear-signed InRelease by a trusted key is valid, and the signed text is the Release', async () => {
    const outcome = await checker.checkClearsigned((await known.clearsign(release)).toString('utf8'));
    assert.equal(outcome.status, 'valid');
    if (outcome.status !== 'valid') return;
    assert.equal(outcome.signer, known.fingerprint);
    // RFC 4880 section 7.1: dash-escaping undone, the final line ending not part of the signed text.
    assert.equal(outcome.signedText, release.replace(/\n$/, ''));
  });

  test('a signature by a key the checker does not hold is unknown-key, not invalid', async () => {
    const outcome = await checker.checkClearsigned((await stranger.clearsign(release)).toString('utf8'));
    assert.equal(outcome.status, 'unknown-key');
    assert.deepEqual(outcome.status === 'unknown-key' && outcome.keyIds, [stranger.fingerprint.slice(-16).toLowerCase()]);
  });

  test('signed text altered after signing is invalid for a trusted key', async () => {
    const signed = (await known.clearsign(release)).toString('utf8');
    const tampered = signed.replace('Suite: stable', 'Suite: stab1e');
    assert.notEqual(tampered, signed);
    const outcome = await checker.checkClearsigned(tampered);
    assert.equal(outcome.status, 'invalid');
    assert.equal(outcome.status === 'invalid' && outcome.signer, known.fingerprint);
  });

  test('plain text is unsigned; a broken armor is malformed', async () => {
    assert.equal((await checker.checkClearsigned(release)).status, 'unsigned');
    const signed = (await known.clearsign(release)).toString('utf8');
    const broken = signed.replace(/-----BEGIN PGP SIGNATURE-----[\s\S]*/, '-----BEGIN PGP SIGNATURE-----\n\n!!!!\n-----END PGP SIGNATURE-----\n');
    assert.equal((await checker.checkClearsigned(broken)).status, 'malformed');
  });

  test('Release + Release.gpg: valid, tampered, unknown key, and a binary signature', async () => {
    const bytes = Buffer.from(release);
    assert.equal((await checker.checkDetached(bytes, await known.detachSign(bytes))).status, 'valid');
    assert.equal((await checker.checkDetached(Buffer.from(release.replace('120', '121')), await known.detachSign(bytes))).status, 'invalid');
    assert.equal((await checker.checkDetached(bytes, await stranger.detachSign(bytes))).status, 'unknown-key');
    const binary = await runChecked('gpg', ['--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', '--detach-sign', '--output', '-'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: known.home },
      input: bytes,
    });
    assert.equal((await checker.checkDetached(bytes, binary.stdoutBytes)).status, 'valid');
  });
});

describe('DeferredSignatureChecker', () => {
  let known: GpgKeyring;
  before(async () => {
    known = await GpgKeyring.generate();
  });
  after(async () => {
    await known?.dispose();
  });

  test('reads the keys at the first check, once, and answers as the checker does', async () => {
    let reads = 0;
    const deferred = new DeferredSignatureChecker(async () => {
      reads += 1;
      return readKeyringFile(known.publicKeyringPath);
    });
    assert.equal(reads, 0);
    const signed = (await known.clearsign(release)).toString('utf8');
    const [first, second] = await Promise.all([deferred.checkClearsigned(signed), deferred.checkClearsigned(signed.replace('Suite: stable', 'Suite: stab1e'))]);
    assert.equal(first.status, 'valid');
    assert.equal(second.status, 'invalid');
    const bytes = Buffer.from(release);
    assert.equal((await deferred.checkDetached(bytes, await known.detachSign(bytes))).status, 'valid');
    assert.equal(reads, 1);
  });
});

describe('loadKeyrings', () => {
  let dir: string;
  let one: GpgKeyring;
  let two: GpgKeyring;

  before(async () => {
    dir = await makeTempDir('keyrings');
    [one, two] = await Promise.all([GpgKeyring.generate(), GpgKeyring.generate()]);
  });
  after(async () => {
    await Promise.all([one?.dispose(), two?.dispose()]);
    await removeDir(dir);
  });

  test('reads binary .gpg and armored .asc files of a directory, skips removed-keys rings and other files', async () => {
    const trusted = join(dir, 'trusted.gpg.d');
    await mkdir(trusted);
    await copyFile(one.publicKeyringPath, join(trusted, 'one.gpg'));
    const armored = await runChecked('gpg', ['--batch', '--armor', '--export', two.fingerprint], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: two.home },
    });
    await writeFile(join(trusted, 'two.asc'), armored.stdoutBytes);
    await copyFile(two.publicKeyringPath, join(trusted, 'archive-removed-keys.gpg'));
    await writeFile(join(trusted, 'README'), 'not a keyring');
    await writeFile(join(trusted, 'broken.gpg'), 'not a keyring either');

    const loaded = await loadKeyrings([
      { path: trusted, required: false },
      { path: join(dir, 'absent'), required: false },
    ]);
    assert.deepEqual(loaded.keys.map((k) => k.getFingerprint().toUpperCase()).sort(), [one.fingerprint, two.fingerprint].sort());
    assert.deepEqual(
      loaded.files.map((f) => f.slice(trusted.length + 1)),
      ['one.gpg', 'two.asc'],
    );
    assert.deepEqual(loaded.skipped.map((s) => s.file.slice(trusted.length + 1)).sort(), ['archive-removed-keys.gpg', 'broken.gpg']);
  });

  test('a configured keyring that is missing or not a keyring is an error', async () => {
    await assert.rejects(loadKeyrings([{ path: join(dir, 'missing.gpg'), required: true }]), KeyringError);
    const junk = join(dir, 'junk.gpg');
    await writeFile(junk, 'junk');
    await assert.rejects(loadKeyrings([{ path: junk, required: true }]), /keyring .*junk\.gpg/);
  });
});
