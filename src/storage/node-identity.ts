// This node's stable id in a fleet: configured, or generated once and kept in `<dataDir>/node.json`.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HoardError } from '../errors.ts';

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * The id names this node's references in the shared bucket, so it must survive restarts (a new id
 * would orphan the old references until their blobs are condemned) and differ between nodes (two nodes
 * with one id would drop each other's references). A configured `node.id` wins; otherwise the id
 * written to node.json the first time (host name plus random bytes, so cloned machines differ).
 */
export function loadNodeId(dataDir: string, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  const path = join(dataDir, 'node.json');
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw new HoardError('HOARD_ERR_STORE_IO', `cannot read ${path}`, { cause: err });
  }
  if (text !== undefined) {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    if (typeof id !== 'string' || !idPattern.test(id)) throw new HoardError('HOARD_ERR_STORE_IO', `${path} holds no valid node id`);
    return id;
  }
  const host = (hostname().split('.')[0] ?? 'node').replace(/[^A-Za-z0-9-]/g, '').slice(0, 40) || 'node';
  const id = `${host}-${randomBytes(4).toString('hex')}`;
  // Written whole or not at all: a crash mid-write must not leave a half id.
  writeFileSync(`${path}.tmp`, `${JSON.stringify({ id })}\n`);
  renameSync(`${path}.tmp`, path);
  return id;
}
