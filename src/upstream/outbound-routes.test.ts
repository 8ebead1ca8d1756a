// Tests of the outbound settings' precedence (configuration over environment) and of the route each URL takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHoardError } from '../errors.ts';
import { OutboundRoutes, outboundSettings, proxyUrl } from './outbound-routes.ts';

const routeOf = (config: Parameters<typeof outboundSettings>[0], env: Record<string, string>, url: string) =>
  new OutboundRoutes(outboundSettings(config, env)).route(new URL(url));

test('without configuration the environment decides: lower case first, http and https apart, NO_PROXY honoured', () => {
  const env = {
    http_proxy: 'http://lower.example:3128',
    HTTP_PROXY: 'http://upper.example:3128',
    HTTPS_PROXY: 'tls-proxy.example:8080',
    NO_PROXY: '.lab.example',
  };
  const http = routeOf({}, env, 'http://deb.example/debian');
  assert.equal(http.kind === 'proxy' && http.label, 'http://lower.example:3128');
  const https = routeOf({}, env, 'https://images.example/v2/');
  // A value without a scheme is read as http:// (curl does the same).
  assert.equal(https.kind === 'proxy' && https.label, 'http://tls-proxy.example:8080');
  assert.equal(routeOf({}, env, 'http://mirror.lab.example/').kind, 'direct');
  assert.equal(routeOf({}, {}, 'http://deb.example/').kind, 'direct');
  // Only an https proxy: plain http goes direct, and the other way round (curl and wget read one variable per scheme).
  assert.equal(routeOf({}, { HTTPS_PROXY: 'http://p.example:1' }, 'http://deb.example/').kind, 'direct');
});

test('upstream.proxy wins over the variables, for both schemes; none means direct whatever they say', () => {
  const env = { http_proxy: 'http://env.example:3128', https_proxy: 'http://env.example:3128' };
  const r = routeOf({ proxy: 'http://cfg.example:3128' }, env, 'https://images.example/');
  assert.equal(r.kind === 'proxy' && r.label, 'http://cfg.example:3128');
  assert.equal(routeOf({ proxy: 'none' }, env, 'http://deb.example/').kind, 'direct');
});

test('upstream.noProxy wins over NO_PROXY; NO_PROXY still applies to a configured proxy', () => {
  const env = { NO_PROXY: 'deb.example' };
  assert.equal(routeOf({ proxy: 'http://p.example:1' }, env, 'http://deb.example/').kind, 'direct');
  assert.equal(routeOf({ proxy: 'http://p.example:1', noProxy: ['other.example'] }, env, 'http://deb.example/').kind, 'proxy');
  assert.equal(routeOf({ proxy: 'http://p.example:1', noProxy: ['other.example'] }, env, 'http://other.example/').kind, 'direct');
});

test('a parent takes http and https alike, ignores the proxy variables, and skips noProxy hosts', () => {
  const env = { http_proxy: 'http://env.example:3128' };
  const config = { parent: 'http://central.example:3142', noProxy: ['10.0.0.0/8'] };
  for (const url of ['http://deb.example/debian', 'https://images.example/v2/x/manifests/1']) {
    const r = routeOf(config, env, url);
    assert.equal(r.kind === 'parent' && r.via.origin, 'http://central.example:3142', url);
  }
  assert.equal(routeOf(config, env, 'http://10.1.1.1/').kind, 'direct');
  // NO_PROXY is about proxies: it does not exempt hosts from the parent.
  assert.equal(routeOf({ parent: 'http://central.example:3142' }, { NO_PROXY: 'deb.example' }, 'http://deb.example/').kind, 'parent');
});

test('credentials stay in the URL the agent uses, never in the label or the description', () => {
  const settings = outboundSettings({}, { https_proxy: 'http://user:s3cret@p.example:3128' });
  const r = new OutboundRoutes(settings).route(new URL('https://x.example/'));
  assert.ok(r.kind === 'proxy');
  assert.equal(r.via.password, 's3cret');
  assert.doesNotMatch(r.label + settings.description, /s3cret|user/);
  assert.match(settings.description, /https_proxy/);
});

test('a proxy URL must be http://, without a path; errors name the source and never repeat the value', () => {
  assert.equal(proxyUrl('p.example:3128', 'HTTP_PROXY').href, 'http://p.example:3128/');
  for (const bad of ['https://u:pw@p.example:3128', 'socks5://u:pw@p.example:1080', 'http://u:pw@p.example:3128/path', 'http://']) {
    assert.throws(
      () => proxyUrl(bad, 'HTTPS_PROXY'),
      (err: unknown) => isHoardError(err, 'HOARD_ERR_CONFIG') && err.message.startsWith('HTTPS_PROXY: ') && !err.message.includes('pw'),
      bad,
    );
  }
});
