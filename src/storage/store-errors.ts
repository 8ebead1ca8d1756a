// Maps failures of the disk under the store (errno, SQLite result codes) onto hoard's error codes.
import { HoardError, isHoardError } from '../errors.ts';

// ENOSPC is a full disk; EDQUOT a full quota, which looks the same to whoever runs hoard.
const fullErrnos = new Set(['ENOSPC', 'EDQUOT']);
// SQLITE_FULL (13): the database could not grow because the disk is full.
const sqliteFull = 13;

function isFull(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, errcode } = err as { code?: unknown; errcode?: unknown };
  return (typeof code === 'string' && fullErrnos.has(code)) || (typeof errcode === 'number' && (errcode & 0xff) === sqliteFull);
}

/** HOARD_ERR_STORE_FULL when the disk is full, HOARD_ERR_STORE_IO otherwise; a HoardError passes through. */
export function toStoreError(err: unknown, message: string): HoardError {
  if (isHoardError(err)) return err;
  if (isFull(err)) return new HoardError('HOARD_ERR_STORE_FULL', `${message}: disk full`, { cause: err });
  const reason = err instanceof Error ? err.message : String(err);
  return new HoardError('HOARD_ERR_STORE_IO', `${message}: ${reason}`, { cause: err });
}

/** True for "no such file", which several store operations treat as "already gone". */
export function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}
