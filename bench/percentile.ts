/** Percentiles for the benchmarks' figures: one definition, so every README's p50/p99 mean the same. */

/** The p-th percentile (0..100) of sorted values, nearest rank (of 20 samples, p50 is the 10th, p99 the 20th). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** The values sorted ascending, as numbers (a Float64Array sorts numerically, and fast). */
export function sortedCopy(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}
