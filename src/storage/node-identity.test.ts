// Tests of the node id: configured wins; otherwise generated once, kept across restarts, different per data directory.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, removeDir } from '../../test/support/temp-dir.ts';
import { isHoardError } from '../errors.ts';
import { loadNodeId } from './node-identity.ts';

test('a node id is generated once into node.json and read back after a restart; a configured one wins', async () => {
  const [a, b] = [await makeTempDir('node-id'), await makeTempDir('node-id')];
  try {
    const first = loadNodeId(a, undefined);
    assert.match(first, /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
    assert.equal(loadNodeId(a, undefined), first, 'stable across restarts');
    assert.deepEqual(JSON.parse(await readFile(join(a, 'node.json'), 'utf8')), { id: first });
    assert.notEqual(loadNodeId(b, undefined), first, 'another data directory, another id');
    assert.equal(loadNodeId(a, 'rack2-node7'), 'rack2-node7');
    await writeFile(join(b, 'node.json'), '{"id":"../../etc"}');
    assert.throws(
      () => loadNodeId(b, undefined),
      (err) => isHoardError(err, 'HOARD_ERR_STORE_IO'),
    );
  } finally {
    await removeDir(a);
    await removeDir(b);
  }
});
