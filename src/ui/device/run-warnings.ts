/**
 * What the panels show of a finished backup's or restore's warnings. A device can refuse thousands of
 * files, each its own warning: the first ones are listed and the rest counted, and a long list starts
 * folded so the outcome above it stays in view.
 */
export const WARNINGS_LISTED = 50;
const WARNINGS_UNFOLDED = 5;

export interface RunWarningsView {
  /** "1 warning", "12 warnings". */
  title: string;
  listed: readonly string[];
  /** How many are not listed. */
  more: number;
  open: boolean;
}

export function runWarningsView(warnings: readonly string[]): RunWarningsView | null {
  if (warnings.length === 0) return null;
  return {
    title: warningCount(warnings.length),
    listed: warnings.slice(0, WARNINGS_LISTED),
    more: Math.max(0, warnings.length - WARNINGS_LISTED),
    open: warnings.length <= WARNINGS_UNFOLDED,
  };
}

export function warningCount(n: number): string {
  return n === 1 ? '1 warning' : `${n} warnings`;
}
