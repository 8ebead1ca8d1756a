// Tests of the mapping from disk failures to hoard's error codes.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { HoardError } from '../errors.ts';
import { isNotFound, toStoreError } from './store-errors.ts';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something`), { code });
}

void it('maps a full disk or quota to HOARD_ERR_STORE_FULL and anything else to HOARD_ERR_STORE_IO, keeping the cause', () => {
  const cases: [unknown, string][] = [
    [errno('ENOSPC'), 'HOARD_ERR_STORE_FULL'],
    [errno('EDQUOT'), 'HOARD_ERR_STORE_FULL'],
    [Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 }), 'HOARD_ERR_STORE_FULL'],
    [errno('EIO'), 'HOARD_ERR_STORE_IO'],
    [errno('EACCES'), 'HOARD_ERR_STORE_IO'],
    [Object.assign(new Error('disk I/O error'), { code: 'ERR_SQLITE_ERROR', errcode: 10 }), 'HOARD_ERR_STORE_IO'],
    ['a string', 'HOARD_ERR_STORE_IO'],
  ];
  for (const [cause, code] of cases) {
    const mapped = toStoreError(cause, 'writing');
    assert.equal(mapped.code, code, String(cause));
    assert.equal(mapped.cause, cause);
    assert.match(mapped.message, /^writing: /);
  }
});

void it('passes a HoardError through unchanged', () => {
  const original = new HoardError('HOARD_ERR_DIGEST_MISMATCH', 'bad');
  assert.equal(toStoreError(original, 'committing'), original);
});

void it('recognises ENOENT', () => {
  assert.equal(isNotFound(errno('ENOENT')), true);
  assert.equal(isNotFound(errno('EIO')), false);
  assert.equal(isNotFound(undefined), false);
});
