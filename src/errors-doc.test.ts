// Keeps docs/errors.md in step with the error registry and the status mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorCodes, type ErrorCode } from './errors.ts';
import { statusForCode } from './http/error-status.ts';

test('docs/errors.md lists every code with its status and meaning, and nothing else', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, { status: number; meaning: string }>();
  for (const m of doc.matchAll(/^\| `(HOARD_ERR_[A-Z_]+)` \| (\d+) \| (.+) \|$/gm)) {
    rows.set(m[1] as string, { status: Number(m[2]), meaning: m[3] as string });
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(errorCodes).sort());
  for (const [code, meaning] of Object.entries(errorCodes)) {
    assert.equal(rows.get(code)?.status, statusForCode[code as ErrorCode], `${code} status`);
    assert.equal(rows.get(code)?.meaning, meaning, `${code} meaning`);
  }
});
