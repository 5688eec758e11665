/** One figure of `npm run bench`; the whole run is written to bench-results.json as an array of these. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** The figure we aim for (same unit). */
  target: number;
  better: 'higher' | 'lower';
}

/** Median of several timed runs: the machines are shared and noisy, so one run proves little. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
