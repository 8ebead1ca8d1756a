// Sizes in the configuration: a number of bytes, or a number with a unit ("20GiB", "500MB").
import { z } from 'zod';

export const sizeString = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\s*\d+(\.\d+)?\s*([KMGT]i?B?|B)?\s*$/i, 'must be a size like 20GiB, 500MB or a number of bytes')])
  .transform((v) => (typeof v === 'number' ? v : parseSize(v)));

const units: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1e3,
  KB: 1e3,
  KIB: 1024,
  KI: 1024,
  M: 1e6,
  MB: 1e6,
  MIB: 1024 ** 2,
  MI: 1024 ** 2,
  G: 1e9,
  GB: 1e9,
  GIB: 1024 ** 3,
  GI: 1024 ** 3,
  T: 1e12,
  TB: 1e12,
  TIB: 1024 ** 4,
  TI: 1024 ** 4,
};

/** "20GiB" -> bytes. Accepts what `sizeString` accepts. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = units[(m?.[2] ?? '').toUpperCase()];
  if (!m || unit === undefined) throw new Error(`not a size: ${text}`);
  return Math.round(Number(m[1]) * unit);
}
