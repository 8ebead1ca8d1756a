// deniedUpstreamNetworks in the config: its default, and precise messages for entries that are not CIDRs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema, defaultDeniedUpstreamNetworks, formatConfigIssues } from './config-schema.ts';

test('the default denies loopback, link-local, 0.0.0.0/8, :: and the IPv4-mapped forms; [] is accepted', () => {
  assert.deepEqual(configSchema.parse({}).deniedUpstreamNetworks, defaultDeniedUpstreamNetworks);
  for (const cidr of [
    '127.0.0.0/8',
    '::1/128',
    '169.254.0.0/16',
    'fe80::/10',
    '0.0.0.0/8',
    '::/128',
    '::ffff:127.0.0.0/104',
    '::ffff:169.254.0.0/112',
    '::ffff:0.0.0.0/104',
  ]) {
    assert.ok(defaultDeniedUpstreamNetworks.includes(cidr), cidr);
  }
  assert.deepEqual(configSchema.parse({ deniedUpstreamNetworks: [] }).deniedUpstreamNetworks, []);
});

test('an entry that is not address/prefix, or whose prefix is too long for its family, names the key and the value', () => {
  for (const bad of ['127.0.0.1', '127.0.0.0/33', '::1/129', 'localhost/8', '999.0.0.0/8']) {
    const input = { deniedUpstreamNetworks: ['10.0.0.0/8', bad] };
    const result = configSchema.safeParse(input);
    assert.equal(result.success, false, bad);
    if (!result.success)
      assert.equal(
        formatConfigIssues(result.error, input),
        `deniedUpstreamNetworks.1: must be a CIDR like 127.0.0.0/8 or fe80::/10, got ${JSON.stringify(bad)}`,
      );
  }
});
