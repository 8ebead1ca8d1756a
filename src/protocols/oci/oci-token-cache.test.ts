// WWW-Authenticate challenges, token answers, and tokens kept per scope until they expire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenCache, parseChallenge, parseTokenAnswer } from './oci-token-cache.ts';

test('a Bearer challenge with realm, service and scope, quoted or not', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    realm: 'https://auth.example/token',
    service: 'registry.example',
    scope: 'repository:a/b:pull',
  });
  assert.deepEqual(parseChallenge('bearer realm=http://127.0.0.1:9/t, service=x'), {
    scheme: 'bearer',
    realm: 'http://127.0.0.1:9/t',
    service: 'x',
    scope: undefined,
  });
  assert.deepEqual(parseChallenge('Bearer realm="a\\"b"'), { scheme: 'bearer', realm: 'a"b', service: undefined, scope: undefined });
});

test('Basic, several challenges in one header (Bearer preferred), and what cannot be answered', () => {
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic' });
  assert.deepEqual(parseChallenge('Basic realm="r", Bearer realm="https://auth.example/t",service="s"')?.scheme, 'bearer');
  assert.deepEqual(parseChallenge('Basic'), { scheme: 'basic' });
  assert.equal(parseChallenge(undefined), undefined);
  assert.equal(parseChallenge('Bearer service="no realm"'), undefined);
  assert.equal(parseChallenge('Negotiate abc=='), undefined);
  assert.equal(parseChallenge('"'.repeat(500)), undefined);
});

test('token answers: token or access_token, expires_in; anything else is refused', () => {
  assert.deepEqual(parseTokenAnswer('{"token":"t1","expires_in":300}'), { token: 't1', expiresIn: 300 });
  assert.deepEqual(parseTokenAnswer('{"access_token":"t2"}'), { token: 't2', expiresIn: undefined });
  for (const bad of ['', 'not json', '[]', '{"token":""}', '{"token":5}', '{"token":"a\\r\\nX-Injected: 1"}'])
    assert.equal(parseTokenAnswer(bad), undefined, bad);
});

test('tokens are kept per key until their expiry less a margin, 60 s when none is given', () => {
  let now = 1_000_000;
  const cache = new TokenCache({ now: () => now });
  cache.set('lab repository:a:pull', 'ta', 300);
  cache.set('lab repository:b:pull', 'tb', undefined);
  assert.equal(cache.get('lab repository:a:pull'), 'ta');
  assert.equal(cache.get('lab repository:b:pull'), 'tb');
  assert.equal(cache.get('lab repository:c:pull'), undefined);
  now += 56_000;
  assert.equal(cache.get('lab repository:b:pull'), undefined, 'expired (60 s less the margin)');
  assert.equal(cache.get('lab repository:a:pull'), 'ta');
  now += 240_000;
  assert.equal(cache.get('lab repository:a:pull'), undefined);
});

test('a refused token is dropped, but not one that replaced it meanwhile', () => {
  const cache = new TokenCache({ now: () => 0 });
  cache.set('k', 'old', 300);
  cache.set('k', 'new', 300);
  cache.drop('k', 'old');
  assert.equal(cache.get('k'), 'new');
  cache.drop('k', 'new');
  assert.equal(cache.get('k'), undefined);
});

test('the cache is bounded', () => {
  const cache = new TokenCache({ now: () => 0 });
  for (let i = 0; i < 2000; i++) cache.set(`k${i}`, 't', 300);
  assert.equal(cache.size, 1024);
  assert.equal(cache.get('k0'), undefined);
  assert.equal(cache.get('k1999'), 't');
});
