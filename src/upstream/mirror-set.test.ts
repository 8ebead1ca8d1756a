// Tests of MirrorSet: the Upstream contract over a real HttpFetcher, plus ordering, failover, cooldown and reported failures.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ManualClock } from '../clock.ts';
import { HoardError, isHoardError } from '../errors.ts';
import type { FetchInit, Fetcher, UpstreamResponse } from './fetcher.ts';
import { HttpFetcher } from './http-fetcher.ts';
import { MirrorHealth } from './mirror-health.ts';
import { MirrorSet } from './mirror-set.ts';
import { ThrowawayCa } from '../../test/support/throwaway-ca.ts';
import { type ContractCertificates, upstreamContract } from './upstream.contract.ts';

/** A throwaway CA and a certificate it signed for the contract's https server. */
async function certificates(): Promise<ContractCertificates> {
  const ca = await ThrowawayCa.create('upstream-contract');
  const cert = await ca.issueServerCertificate();
  return { ...cert, caPem: ca.certPem, cleanup: () => ca.cleanup() };
}

upstreamContract(
  'MirrorSet over HttpFetcher',
  ({ ca }) => {
    const fetcher = new HttpFetcher({ connectTimeoutMs: 2000, idleTimeoutMs: 2000, via: '1.1 hoard-test', userAgent: 'hoard-test', ca: [ca] });
    const clock = new ManualClock();
    const health = new MirrorHealth(clock, 30_000);
    return {
      fetch: (origin, path, init) => new MirrorSet({ key: origin.origin, mirrors: [origin], fetcher, health, clock }).fetch(path, init),
      close: () => fetcher.close(),
    };
  },
  certificates,
);

/** A Fetcher answering from a table keyed by host: a status, or an error thrown before headers. */
class ScriptedFetcher implements Fetcher {
  readonly asked: string[] = [];
  readonly inits: FetchInit[] = [];
  readonly #answers: Map<string, number | HoardError>;

  constructor(answers: Record<string, number | HoardError>) {
    this.#answers = new Map(Object.entries(answers));
  }

  fetch(url: URL, init: FetchInit): Promise<UpstreamResponse> {
    this.asked.push(url.href);
    this.inits.push(init);
    const answer = this.#answers.get(url.host) ?? 200;
    if (answer instanceof HoardError) return Promise.reject(answer);
    return Promise.resolve({ status: answer, headers: {}, body: Readable.from([Buffer.from('body')]), url });
  }
}

const down = () => new HoardError('HOARD_ERR_UPSTREAM_UNREACHABLE', 'connection refused');
const mirrors = [new URL('http://a.example/debian'), new URL('http://b.example/debian/'), new URL('http://c.example')];

function setWith(answers: Record<string, number | HoardError>, clock = new ManualClock(), health = new MirrorHealth(clock, 30_000)) {
  const fetcher = new ScriptedFetcher(answers);
  return { set: new MirrorSet({ key: 'backend:test', mirrors, fetcher, health, clock }), fetcher, health, clock };
}

void describe('MirrorSet', () => {
  void it('asks the first mirror only when it answers, joining the path to each base', async () => {
    const { set, fetcher } = setWith({});
    const response = await set.fetch('/dists/stable/InRelease', { method: 'GET' });
    assert.equal(response.status, 200);
    assert.deepEqual(fetcher.asked, ['http://a.example/debian/dists/stable/InRelease']);
  });

  void it('fails over on network errors and 5xx, in order; a 404 is an answer, not a failure', async () => {
    const { set, fetcher } = setWith({ 'a.example': down(), 'b.example': 503 });
    const response = await set.fetch('/pool/x.deb', { method: 'GET' });
    assert.equal(response.status, 200);
    assert.deepEqual(
      fetcher.asked.map((u) => new URL(u).host),
      ['a.example', 'b.example', 'c.example'],
    );

    const notFound = setWith({ 'a.example': 404 });
    assert.equal((await notFound.set.fetch('/pool/x.deb', { method: 'GET' })).status, 404);
    assert.equal(notFound.fetcher.asked.length, 1);
  });

  void it('when every mirror fails, returns the last 5xx answer, or throws the last error when none answered', async () => {
    const statuses = setWith({ 'a.example': 500, 'b.example': 502, 'c.example': down() });
    assert.equal((await statuses.set.fetch('/x.deb', { method: 'GET' })).status, 502);
    const errors = setWith({ 'a.example': down(), 'b.example': down(), 'c.example': down() });
    await assert.rejects(errors.set.fetch('/x.deb', { method: 'GET' }), (err: unknown) => isHoardError(err, 'HOARD_ERR_UPSTREAM_UNREACHABLE'));
  });

  void it('puts mirrors in cooldown last until the cooldown has passed', async () => {
    const { set, fetcher, clock } = setWith({ 'a.example': down() });
    await set.fetch('/x.deb', { method: 'GET' });
    fetcher.asked.length = 0;
    await set.fetch('/y.deb', { method: 'GET' });
    assert.deepEqual(
      fetcher.asked.map((u) => new URL(u).host),
      ['b.example'],
      'the failed mirror is skipped while cooling down',
    );
    clock.advance(30_001);
    fetcher.asked.length = 0;
    await set.fetch('/z.deb', { method: 'GET' }).catch(() => undefined);
    assert.equal(new URL(fetcher.asked[0] ?? '').host, 'a.example', 'tried first again after the cooldown');
  });

  void it('reportFailure cools down the mirror a URL came from; a URL outside the set changes nothing', () => {
    const { set, health } = setWith({});
    set.reportFailure(new URL('http://b.example/debian/pool/x.deb'), 'cut');
    assert.equal(health.coolingDown('http://b.example/debian/'), true);
    set.reportFailure(new URL('http://elsewhere.example/debian/pool/x.deb'), 'cut');
    assert.equal(health.snapshot().filter((s) => !s.healthy).length, 1);
  });

  void it('a denied destination is thrown at once: no failover, no health entry', async () => {
    const denied = new HoardError('HOARD_ERR_UPSTREAM_DENIED', 'loopback');
    const { set, fetcher, health } = setWith({ 'a.example': denied });
    await assert.rejects(set.fetch('/x.deb', { method: 'GET' }), (err: unknown) => err === denied);
    assert.equal(fetcher.asked.length, 1);
    assert.equal(health.snapshot().length, 0);
  });

  void it("passes its redirect guard to the fetcher, composed before the caller's own", async () => {
    const clock = new ManualClock();
    const fetcher = new ScriptedFetcher({});
    const order: string[] = [];
    const set = new MirrorSet({ key: 'k', mirrors, fetcher, health: new MirrorHealth(clock, 1), clock, redirectGuard: (next) => (order.push('set'), next) });
    await set.fetch('/x.deb', { method: 'GET', redirectGuard: (next) => (order.push('caller'), next) });
    const guard = fetcher.inits[0]?.redirectGuard;
    assert.ok(guard !== undefined);
    guard(new URL('http://x.example/a.deb'), new URL('http://a.example/a.deb'));
    assert.deepEqual(order, ['set', 'caller']);
  });
});
