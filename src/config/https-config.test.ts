// Validation of the HTTPS keys (tls, httpsUpgrade, connect): defaults, and messages that name the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHoardError } from '../errors.ts';
import { parseConfig } from './config-loader.ts';

test('defaults: no extra CA, no upgrade, every CONNECT refused', () => {
  const config = parseConfig({});
  assert.deepEqual(config.tls.extraCaFiles, []);
  assert.deepEqual(config.apt.httpsUpgrade, {});
  assert.deepEqual(config.connect.allow, []);
  assert.equal(config.connect.idleTimeoutMs, 120_000);
});

test('valid HTTPS settings are accepted as written', () => {
  const config = parseConfig({
    tls: { extraCaFiles: ['/etc/hoard/private-ca.pem'] },
    httpsUpgrade: { 'mirror.example': 'https://mirror.example', '10.0.0.5:8080': 'https://10.0.0.5:8443/', '[::1]:8080': 'https://[::1]:8443' },
    connect: { allow: ['mirror.example:443', '*.private.example:8443', '10.0.0.5:443'] },
  });
  assert.equal(config.apt.httpsUpgrade['10.0.0.5:8080'], 'https://10.0.0.5:8443/');
  assert.equal(config.connect.allow.length, 3);
});

test('bad values are refused with the key in the message', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ httpsUpgrade: { 'mirror.example': 'http://mirror.example' } }, /httpsUpgrade\.mirror\.example: must be an https:\/\/ origin without a path/],
    [{ httpsUpgrade: { 'mirror.example': 'https://mirror.example/debian' } }, /httpsUpgrade\.mirror\.example: must be an https:\/\/ origin without a path/],
    [
      { httpsUpgrade: { 'http://mirror.example': 'https://mirror.example' } },
      /httpsUpgrade\.http:\/\/mirror\.example: the key "http:\/\/mirror\.example" must be a host or host:port/,
    ],
    [{ connect: { allow: ['mirror.example'] } }, /connect\.allow\.0: must be host:port or \*\.suffix:port, e.g\. mirror\.example:443, got "mirror\.example"/],
    [{ connect: { allow: ['*:443'] } }, /connect\.allow\.0: must be host:port/],
    [{ connect: { idleTimeoutMs: 0 } }, /connect\.idleTimeoutMs: /],
    [{ tls: { extraCaFiles: [''] } }, /tls\.extraCaFiles\.0: must be a file path/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => parseConfig(input),
      (err: unknown) => isHoardError(err, 'HOARD_ERR_CONFIG') && message.test(err.message),
      JSON.stringify(input),
    );
  }
});

test('the https listener is off by default; its keys are accepted as written', () => {
  const off = parseConfig({});
  assert.equal(off.https.listen, undefined);
  assert.deepEqual(off.https.names, []);
  const on = parseConfig({
    https: { listen: '[::]:8443', certFile: '/etc/hoard/tls.crt', keyFile: '/etc/hoard/tls.key', names: ['cache.lab.example', '10.0.0.5', 'fd00::5'] },
  });
  assert.equal(on.https.listen, '[::]:8443');
  assert.equal(on.https.keyFile, '/etc/hoard/tls.key');
  assert.deepEqual(on.https.names, ['cache.lab.example', '10.0.0.5', 'fd00::5']);
});

test('bad https keys are refused with the key in the message', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ https: { listen: '8443' } }, /https\.listen: must be host:port, e\.g\. 0\.0\.0\.0:8443/],
    [{ https: { listen: '0.0.0.0:8443', certFile: '/etc/hoard/tls.crt' } }, /https\.certFile: certFile and keyFile go together/],
    [{ https: { listen: '0.0.0.0:8443', keyFile: '/etc/hoard/tls.key' } }, /https\.certFile: certFile and keyFile go together/],
    [{ https: { names: ['https://cache.example'] } }, /https\.names\.0: must be a DNS name or an IP address/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => parseConfig(input),
      (err: unknown) => isHoardError(err, 'HOARD_ERR_CONFIG') && message.test(err.message),
      JSON.stringify(input),
    );
  }
});
