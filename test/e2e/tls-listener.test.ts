// End-to-end: hoard's own HTTPS listener, with curl, the real apt-get and an OCI client's version check on it.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:https';
import { basename, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { presentedCertificate } from '../../src/cli/cache-certificate.ts';
import { AptClient } from '../support/apt-client.ts';
import { runCommand } from '../support/command-runner.ts';
import { FakeUpstreamServer } from '../support/fake-upstream-server.ts';
import { findFreePort, HoardProcess } from '../support/hoard-process.ts';
import { SignedRepo } from '../support/signed-repo-builder.ts';
import { ThrowawayCa } from '../support/throwaway-ca.ts';
import { makeTempDir, removeDir } from '../support/temp-dir.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

interface Health {
  https: { port: number; fingerprint256: string } | null;
}

/** One request with curl (OpenSSL's verification, not Node's): status line, headers and body. */
async function curl(url: string, caFile: string | undefined, extra: readonly string[] = []) {
  const trust = caFile === undefined ? [] : ['--cacert', caFile];
  const result = await runCommand('curl', ['-sS', '-D', '-', '--max-time', '20', ...trust, ...extra, url], { env, timeoutMs: 30_000 });
  const [head = '', ...body] = result.stdout.split('\r\n\r\n');
  return { ...result, head, body: body.join('\r\n\r\n'), status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1] ?? 0) };
}

/** The SHA-256 fingerprint OpenSSL prints for a certificate file, `AB:CD:...`. */
async function opensslFingerprint(certFile: string): Promise<string> {
  const out = await runCommand('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', certFile], { env });
  return /Fingerprint=([0-9A-F:]+)/.exec(out.stdout)?.[1] ?? `no fingerprint in ${out.stdout}${out.stderr}`;
}

async function httpsHoard(https: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const port = await findFreePort();
  const hoard = await HoardProcess.start({
    config: { logLevel: 'info', cache: { indexMaxAgeSeconds: 1 }, https: { listen: `127.0.0.1:${port}`, ...https }, ...extra },
  });
  // The plain port answers first; the TLS port is bound right after it.
  await hoard.waitForLog(/https listener up/);
  return { hoard, port, base: `https://127.0.0.1:${port}` };
}

describe('the https listener', () => {
  let repo: SignedRepo;
  let upstream: FakeUpstreamServer;
  let ca: ThrowawayCa;
  let work: string;

  before(async () => {
    repo = await SignedRepo.create({
      suite: 'stable',
      packages: [
        { name: 'alpha', version: '1.0', size: 3 * 1024 },
        { name: 'bravo', version: '1:2.0~rc1+dfsg', size: 300 * 1024, depends: 'alpha' },
      ],
    });
    upstream = await FakeUpstreamServer.start({ root: repo.root, prefix: '/debian' });
    ca = await ThrowawayCa.create('tls-listener');
    work = await makeTempDir('tls-listener');
  });

  after(async () => {
    await upstream?.close();
    await repo?.cleanup();
    await ca?.cleanup();
    if (work !== undefined) await removeDir(work);
  });

  describe('with the generated certificate', () => {
    let hoard: HoardProcess;
    let base: string;
    let port: number;
    let certFile: string;

    before(async () => {
      ({ hoard, base, port } = await httpsHoard({ names: ['cache.lab.example'] }, { server: { headersTimeoutMs: 2000 } }));
      certFile = join(hoard.dataDir, 'tls', 'hoard.crt');
    });
    after(async () => {
      await hoard?.cleanup();
    });

    test('a self-signed pair is made in <dataDir>/tls (key 0600); health shows the port and its fingerprint', async () => {
      assert.equal((await stat(join(hoard.dataDir, 'tls', 'hoard.key'))).mode & 0o777, 0o600);
      const cert = new X509Certificate(await readFile(certFile));
      assert.equal(cert.subjectAltName, 'DNS:cache.lab.example, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
      const answer = await curl(`${base}/_hoard/health`, certFile);
      assert.equal(answer.status, 200, answer.stderr);
      const health = JSON.parse(answer.body) as Health;
      assert.deepEqual(health.https, { port, fingerprint256: await opensslFingerprint(certFile) });
      // The same on the plain port, and in the start-up log line.
      const plain = (await (await fetch(`${hoard.url}/_hoard/health`)).json()) as Health;
      assert.deepEqual(plain.https, health.https);
      assert.ok(hoard.output().includes(`"fingerprint":"${health.https?.fingerprint256}"`));
      // Under a name of https.names: the certificate is valid for it, and the admin pages answer it as the cache's own.
      const named = await curl(`https://cache.lab.example:${port}/_hoard/health`, certFile, ['--resolve', `cache.lab.example:${port}:127.0.0.1`]);
      assert.equal(named.status, 200, `${named.stderr}${named.head}`);
    });

    test('a client that does not trust the certificate is refused at the handshake', async () => {
      const answer = await curl(`${base}/_hoard/health`, undefined, ['--capath', '/nonexistent']);
      assert.equal(answer.exitCode, 60, `${answer.stderr}${answer.head}`);
      // hoard is still serving after the failed handshake.
      assert.equal((await curl(`${base}/_hoard/health`, certFile)).status, 200);
    });

    test('the decrypted connection is the plain port’s: a request whose headers never end gets its 408', async () => {
      const started = performance.now();
      const answer = await new Promise<string>((resolveAnswer, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(certFile) }, () => socket.write('GET /_hoard/health HTTP/1.1\r\nHost: x\r\n'));
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.once('close', () => resolveAnswer(text));
        socket.once('error', reject);
        setTimeout(() => socket.destroy(new Error('still open after 15 s')), 15_000).unref();
      });
      assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.ok(performance.now() - started < 10_000);
    });

    test('apt-get over https in /host/path mode: verified packages, each fetched upstream once', async () => {
      upstream.resetStats();
      for (let run = 0; run < 2; run += 1) {
        const apt = await AptClient.create({
          sources: [{ url: upstream.baseUrl, suite: repo.suite, keyringPath: repo.keyringPath }],
          route: { kind: 'prefix', cacheUrl: base },
          options: { 'Acquire::https::CaInfo': certFile, 'Acquire::Retries': '0' },
        });
        try {
          const update = await apt.update();
          assert.equal(update.exitCode, 0, update.stderr);
          assert.deepEqual(update.warnings, [], update.stderr);
          const download = await apt.download(['alpha', 'bravo']);
          assert.equal(download.exitCode, 0, download.stderr);
          assert.equal(download.debs.length, 2);
          for (const deb of download.debs) {
            const original = repo.packages.find((p) => basename(deb).startsWith(`${p.name}_`));
            assert.equal(sha256(await readFile(deb)), original?.sha256, deb);
          }
        } finally {
          await apt.cleanup();
        }
      }
      for (const p of repo.packages) assert.equal(upstream.hits(p.poolPath), 1, `${p.name} upstream requests`);
      // The same objects on the plain port: one cache behind both.
      const plain = await fetch(`${hoard.url}/${new URL(upstream.baseUrl).host}/debian/${repo.package('alpha').poolPath}`);
      assert.equal(plain.headers.get('x-hoard-cache'), 'HIT');
      assert.equal(sha256(new Uint8Array(await plain.arrayBuffer())), repo.package('alpha').sha256);
    });

    test('OCI: GET /v2/ answers over https as on the plain port', async () => {
      const answer = await curl(`${base}/v2/`, certFile);
      assert.equal(answer.status, 200, answer.stderr);
      assert.match(answer.head, /^docker-distribution-api-version: registry\/2\.0$/im);
      assert.match(answer.head, /^content-type: application\/json/im);
    });

    test('a restart reuses the generated pair: the same certificate, the same fingerprint', async () => {
      const before = await readFile(certFile, 'utf8');
      const pinned = join(work, 'pinned.crt');
      await writeFile(pinned, before);
      // Graceful shutdown closes the TLS port and its idle keep-alive connections, well before the 5 s fallback.
      const agent = new Agent({ keepAlive: true, ca: before });
      const idle = await new Promise<number>((resolveGet, reject) => {
        get(`${base}/_hoard/health`, { agent }, (res) => {
          res.resume();
          res.once('end', () => resolveGet(res.statusCode ?? 0));
        }).once('error', reject);
      });
      assert.equal(idle, 200);
      const stopping = performance.now();
      const exit = await hoard.stop();
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(performance.now() - stopping < 4000, `stop took ${Math.round(performance.now() - stopping)} ms`);
      agent.destroy();
      await hoard.restart();
      await hoard.waitForLog(/"source":"reused"/);
      assert.equal(await readFile(certFile, 'utf8'), before);
      // A client that pinned the first certificate still connects.
      const answer = await curl(`${base}/_hoard/health`, pinned);
      assert.equal(answer.status, 200, answer.stderr);
      assert.equal((JSON.parse(answer.body) as Health).https?.fingerprint256, await opensslFingerprint(pinned));
    });
  });

  test('a configured certificate and key are presented as they are; no pair is generated', async () => {
    const issued = await ca.issueServerCertificate(['cache.lab.example']);
    const certFile = join(work, 'configured.crt');
    const keyFile = join(work, 'configured.key');
    await writeFile(certFile, issued.certPem);
    await writeFile(keyFile, issued.keyPem, { mode: 0o600 });
    const { hoard, base } = await httpsHoard({ certFile, keyFile });
    try {
      // Trusted through the CA that signed it, as clients with a lab CA in their store would.
      const answer = await curl(`${base}/_hoard/health`, ca.certPath);
      assert.equal(answer.status, 200, answer.stderr);
      assert.equal((JSON.parse(answer.body) as Health).https?.fingerprint256, await opensslFingerprint(certFile));
      const v2 = await curl(`${base}/v2/`, ca.certPath, ['--resolve', `cache.lab.example:${new URL(base).port}:127.0.0.1`]);
      assert.equal(v2.status, 200, v2.stderr);
      await assert.rejects(stat(join(hoard.dataDir, 'tls')), /ENOENT/);
      // What `hoard client-config` reads from the URL: this one is the lab CA's to vouch for, not a pin of its own.
      const presented = await presentedCertificate(base, (why) => assert.fail(why));
      assert.equal(presented?.selfSigned, false);
      assert.match(presented?.issuer ?? '', /CN=hoard test CA tls-listener/);
      assert.equal(presented?.fingerprint256, await opensslFingerprint(certFile));
    } finally {
      await hoard.cleanup();
    }
  });

  test('a key that is not the certificate’s stops the start-up with HOARD_ERR_TLS_CERTIFICATE (exit 78)', async () => {
    const one = await ca.issueServerCertificate();
    const other = await ca.issueServerCertificate();
    const certFile = join(work, 'one.crt');
    const keyFile = join(work, 'other.key');
    await writeFile(certFile, one.certPem);
    await writeFile(keyFile, other.keyPem);
    await assert.rejects(httpsHoard({ certFile, keyFile }), (err: Error) => {
      assert.match(err.message, /code 78/);
      assert.match(err.message, /HOARD_ERR_TLS_CERTIFICATE: https\.keyFile: .*other\.key is not the key of the certificate .*one\.crt/);
      return true;
    });
    await writeFile(certFile, 'not a certificate\n');
    await assert.rejects(httpsHoard({ certFile, keyFile }), /HOARD_ERR_TLS_CERTIFICATE: https\.certFile: .*one\.crt holds no PEM certificate/);
  });
});
