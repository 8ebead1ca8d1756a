// Keeps docs/configuration.md in step with the schema: every key and every environment variable is documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { envKeys, loadConfig } from './config-loader.ts';
import { configSchema } from './config-schema.ts';

interface SchemaNode {
  _zod: { def: { type: string; shape?: Record<string, SchemaNode>; innerType?: SchemaNode; in?: SchemaNode; valueType?: SchemaNode } };
}

/** Dotted key names of every object property in the schema; a record's values appear under `<name>`. */
function schemaKeys(node: SchemaNode, prefix = ''): string[] {
  const def = node._zod.def;
  if (def.type === 'object' && def.shape) {
    return Object.entries(def.shape).flatMap(([name, child]) => [`${prefix}${name}`, ...schemaKeys(child, `${prefix}${name}.`)]);
  }
  if (def.type === 'record' && def.valueType) return schemaKeys(def.valueType, `${prefix}<name>.`);
  const inner = def.innerType ?? def.in;
  return inner ? schemaKeys(inner, prefix) : [];
}

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

test('docs/configuration.md names every configuration key', () => {
  const keys = schemaKeys(configSchema);
  assert.ok(keys.includes('cache.maxSize') && keys.includes('apt.backends.<name>.mirrors'), keys.join(', '));
  const missing = keys.filter((key) => !doc.includes(`| \`${key}\` |`));
  assert.deepEqual(missing, [], `undocumented keys: ${missing.join(', ')}`);
});

test('docs/configuration.md names every environment variable', () => {
  for (const [name, key] of Object.entries(envKeys)) assert.ok(doc.includes(`| \`${name}\` | \`${key}\``), `${name} -> ${key} is not documented`);
});

test('the shipped example configuration packaging/hoard.yaml is valid', () => {
  const { config } = loadConfig({ configPath: new URL('../../packaging/hoard.yaml', import.meta.url).pathname }, {});
  assert.equal(config.dataDir, '/var/cache/hoard');
  assert.equal(config.cache.maxSize, 20 * 1024 ** 3);
});
