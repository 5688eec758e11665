// What a browser bench page publishes for the Node side (bench/browser/harness.ts) to collect.
export type BrowserOutcome = { runs: number[] } | { error: string };

declare global {
  interface Window {
    __benchOutcome?: BrowserOutcome;
    /** Whatever the Node side passed to runBrowserBench as `input`. */
    __benchInput?: unknown;
  }
}
