// Small statistics over repetitions: the median, and ratios that stay readable when a figure is missing or zero.

export function median(values: readonly number[]): number | undefined {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return undefined;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[mid] : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/** hoard's figure over the peer's; undefined when either is missing or the peer's is zero. */
export function ratio(hoard: number | undefined, peer: number | undefined): number | undefined {
  if (hoard === undefined || peer === undefined || peer === 0) return undefined;
  return hoard / peer;
}
