// The protocol set: fixed order, first claim wins, a refusal ends the search, routes remembered, eviction per entry's protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoardError, isHoardError } from '../errors.ts';
import { noVerifier } from '../cache/content-verifier.ts';
import type { ObjectEntry } from '../storage/metadata-index.ts';
import type { Upstream } from '../upstream/fetcher.ts';
import type { Protocol, RequestTarget, Route } from './protocol.ts';
import { ProtocolSet } from './protocol-set.ts';

const upstream: Upstream = { key: 'test:up', fetch: () => Promise.reject(new Error('no upstream in this test')) };

function protocol(name: string, claims: (raw: string) => boolean | 'refuse', referenced?: boolean): Protocol & { routed: number } {
  const p = {
    name,
    routed: 0,
    route(target: RequestTarget): Route | undefined {
      p.routed += 1;
      const claim = claims(target.raw);
      if (claim === 'refuse') throw new HoardError('HOARD_ERR_BAD_REQUEST', `${name} refuses ${target.raw}`);
      if (!claim) return undefined;
      return { upstream, path: target.raw, policy: { protocol: name, mutable: false, kind: 'x', contentType: 'application/octet-stream' }, mode: name };
    },
    classify: () => undefined,
    upstreamFor: () => undefined,
    verifier: noVerifier,
    references: { isReferenced: () => referenced },
    itemName: () => undefined,
    start: () => Promise.resolve(),
  };
  return p;
}

const get = (raw: string): RequestTarget => ({ method: 'GET', raw, headers: {} });

test('the first protocol in order that claims a target gets it; later ones are not asked', () => {
  const oci = protocol('oci', (raw) => raw.startsWith('/v2/'));
  const apt = protocol('apt', () => true);
  const set = new ProtocolSet([oci, apt]);
  assert.equal(set.route(get('/v2/library/debian/manifests/12'))?.protocol.name, 'oci');
  assert.equal(apt.routed, 0);
  assert.equal(set.route(get('/mirror.example/debian/pool/a.deb'))?.protocol.name, 'apt');
  assert.equal(set.route(get('/nobody'))?.protocol.name, 'apt');
});

test('a refusal ends the search with its error; nothing claims: undefined', () => {
  const picky = protocol('picky', (raw) => (raw.startsWith('/bad') ? 'refuse' : false));
  const rest = protocol('rest', (raw) => raw.startsWith('/ok'));
  const set = new ProtocolSet([picky, rest]);
  assert.throws(
    () => set.route(get('/bad/x')),
    (err) => isHoardError(err, 'HOARD_ERR_BAD_REQUEST'),
  );
  assert.equal(rest.routed, 0);
  assert.equal(set.route(get('/elsewhere')), undefined);
});

test('the scope names the protocol that refused, so that its format renders the refusal; none when nothing claims', () => {
  const picky = protocol('picky', (raw) => (raw.startsWith('/bad') ? 'refuse' : false));
  const rest = protocol('rest', (raw) => raw.startsWith('/ok'));
  const set = new ProtocolSet([picky, rest]);
  const scope: { protocol?: Protocol | undefined } = {};
  assert.throws(() => set.route(get('/bad/x'), scope));
  assert.equal(scope.protocol?.name, 'picky');
  assert.equal(set.route(get('/elsewhere'), scope), undefined);
  assert.equal(scope.protocol, undefined);
  assert.equal(set.route(get('/ok'), scope)?.protocol.name, 'rest');
});

test('answer: the first protocol that answers a target itself', () => {
  const local = {
    ...protocol('local', () => false),
    answer: (t: RequestTarget) => (t.raw === '/v2/' ? { status: 200, contentType: 'application/json', body: '{}' } : undefined),
  };
  const set = new ProtocolSet([protocol('plain', () => false), local]);
  assert.equal(set.answer(get('/v2/'))?.protocol.name, 'local');
  assert.equal(set.answer(get('/v2/x')), undefined);
});

test('a route is remembered by its target: the protocols are not asked again', () => {
  const apt = protocol('apt', () => true);
  const set = new ProtocolSet([apt]);
  const first = set.route(get('/mirror.example/debian/pool/a.deb'));
  const second = set.route(get('/mirror.example/debian/pool/a.deb'));
  assert.equal(apt.routed, 1);
  assert.equal(first, second);
});

test('eviction asks the protocol that stored an entry; an entry of a protocol not installed is unknown', () => {
  const set = new ProtocolSet([protocol('apt', () => true, true), protocol('oci', () => false, false)]);
  const entry = (name: string) => ({ protocol: name }) as ObjectEntry;
  assert.equal(set.isReferenced(entry('apt')), true);
  assert.equal(set.isReferenced(entry('oci')), false);
  assert.equal(set.isReferenced(entry('gone')), undefined);
});
