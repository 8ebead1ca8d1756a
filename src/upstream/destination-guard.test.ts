// Tests of DestinationGuard: denied networks in every spelling, exemptions, and a lookup that returns only what it checked.
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { test } from 'node:test';
import { defaultDeniedUpstreamNetworks } from '../config/config-schema.ts';
import { isHoardError } from '../errors.ts';
import { DestinationGuard } from './destination-guard.ts';

test('the default list denies loopback, link-local, 0.0.0.0/8 and ::, in IPv4, IPv6 and IPv4-mapped spellings', () => {
  const guard = new DestinationGuard({ denied: defaultDeniedUpstreamNetworks, exemptHosts: [] });
  for (const address of [
    '127.0.0.1',
    '127.255.0.2',
    '0.0.0.0',
    '0.1.2.3',
    '169.254.169.254',
    '::1',
    '::',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:0.0.0.0',
  ]) {
    const error = guard.refusal('h.example', [address]);
    assert.ok(isHoardError(error, 'HOARD_ERR_UPSTREAM_DENIED'), address);
    assert.match(error.detail ?? '', /allowedHosts or change deniedUpstreamNetworks/);
  }
  for (const address of ['10.0.0.1', '192.168.1.1', '192.0.2.1', '2001:db8::1', '::ffff:192.0.2.1', '172.16.0.1']) {
    assert.equal(guard.refusal('h.example', [address]), undefined, address);
  }
  // One denied address among several refuses the name.
  assert.ok(guard.refusal('mixed.example', ['192.0.2.1', '127.0.0.1']) !== undefined);
});

test('hosts listed exactly in allowedHosts are exempt, suffix patterns are not; an empty list denies nothing', () => {
  const guard = new DestinationGuard({ denied: defaultDeniedUpstreamNetworks, exemptHosts: ['Mirror.Internal', '[::1]', '127.0.0.1', '*.example'] });
  assert.equal(guard.refusal('mirror.internal', ['127.0.0.1']), undefined);
  assert.equal(guard.refusal('::1', ['::1']), undefined);
  assert.equal(guard.refusal('127.0.0.1', ['127.0.0.1']), undefined);
  assert.ok(guard.refusal('a.example', ['127.0.0.1']) !== undefined);
  assert.equal(new DestinationGuard({ denied: [], exemptHosts: [] }).active, false);
});

test('lookup hands net.connect exactly the addresses it checked, in both of its calling forms', async () => {
  const answers: LookupAddress[] = [
    { address: '192.0.2.7', family: 4 },
    { address: '2001:db8::7', family: 6 },
  ];
  const resolve: LookupFunction = (_host, _options, callback) => callback(null, answers);
  const guard = new DestinationGuard({ denied: ['127.0.0.0/8'], exemptHosts: [], resolve });
  const all = await new Promise<unknown>((done) => guard.lookup('h.example', { all: true }, (err, addresses) => done(err ?? addresses)));
  assert.deepEqual(all, answers);
  const one = await new Promise<unknown>((done) => guard.lookup('h.example', {}, (err, address, family) => done(err ?? [address, family])));
  assert.deepEqual(one, ['192.0.2.7', 4]);
  const denying = new DestinationGuard({ denied: ['2001:db8::/32'], exemptHosts: [], resolve });
  const err = await new Promise<unknown>((done) => denying.lookup('h.example', { all: true }, (e) => done(e)));
  assert.ok(isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED'));
});

test('check (the destination behind a proxy): literals as written, names on their addresses, unresolvable names pass; one resolution per name and half-minute', async () => {
  let lookups = 0;
  let now = 0;
  const answers: Record<string, string> = { 'inside.example': '10.0.0.5', 'metadata.example': '169.254.169.254' };
  const resolve = ((host: string, _options: unknown, callback: (err: Error | null, addresses: LookupAddress[]) => void) => {
    lookups++;
    const address = answers[host];
    if (address === undefined) callback(Object.assign(new Error(`not found ${host}`), { code: 'ENOTFOUND' }), []);
    else callback(null, [{ address, family: 4 }]);
  }) as unknown as LookupFunction;
  const guard = new DestinationGuard({ denied: defaultDeniedUpstreamNetworks, exemptHosts: ['exempt.example'], resolve, now: () => now });
  await assert.rejects(guard.check('127.0.0.1'), (err: unknown) => isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED'));
  await assert.rejects(guard.check('[::1]'), (err: unknown) => isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED'));
  await assert.rejects(guard.check('metadata.example'), (err: unknown) => isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED'));
  await guard.check('inside.example');
  await guard.check('only-the-proxy-knows.example');
  await guard.check('exempt.example');
  assert.equal(lookups, 3, 'literals and exempt hosts are not resolved');
  await Promise.all([guard.check('inside.example'), guard.check('INSIDE.example'), guard.check('only-the-proxy-knows.example')]);
  assert.equal(lookups, 3, 'remembered');
  answers['inside.example'] = '127.0.0.1';
  now += 31_000;
  await assert.rejects(guard.check('inside.example'), (err: unknown) => isHoardError(err, 'HOARD_ERR_UPSTREAM_DENIED'));
  assert.equal(lookups, 4);
});
