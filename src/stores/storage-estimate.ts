/**
 * The browser's storage figures, checked against what the store itself holds. Chromium's usage
 * count can be wrong (packed/packed-backend.ts closeHandles says how): too low after a shutdown with
 * sync access handles open, and past zero into 2^32 − n when it later subtracts bytes it never
 * counted. Free space reported to the device must come from neither error.
 */
export interface BrowserEstimate {
  quota?: number;
  usage?: number;
  usageDetails?: { fileSystem?: number };
}

export interface TrustedUsage {
  quota: number;
  /** Usage the store can stand behind: the browser's, raised to what the store holds on disk. */
  usage: number;
  /** The browser's own usage figure, as it said. */
  reported: number;
  /** Why `usage` differs from `reported`, for the Library; undefined when it does not. */
  correction?: 'below-store' | 'wrapped';
}

const TWO_32 = 2 ** 32;

/**
 * `storeBytes` is what the store's files take (packs, blobs, journal, snapshot). A file-system
 * usage below it is an undercount; one just under 2^32 while the store holds far less is a count
 * that went below zero, so the store's own figure replaces it.
 */
export function trustedUsage(estimate: BrowserEstimate, storeBytes: number): TrustedUsage {
  const quota = estimate.quota ?? 0;
  const reported = estimate.usage ?? 0;
  const fileSystem = estimate.usageDetails?.fileSystem ?? reported;
  const others = Math.max(0, reported - fileSystem);
  let counted = fileSystem;
  let correction: TrustedUsage['correction'];
  if (fileSystem >= TWO_32 - 2 ** 30 && fileSystem < TWO_32 && fileSystem - storeBytes > 2 ** 31) {
    counted = storeBytes;
    correction = 'wrapped';
  } else if (fileSystem < storeBytes) {
    counted = storeBytes;
    correction = 'below-store';
  }
  return { quota, usage: others + counted, reported, ...(correction ? { correction } : {}) };
}

/** Free space to report: the quota less trusted usage, never negative. */
export function trustedFreeSpace(estimate: BrowserEstimate, storeBytes: number): number {
  const { quota, usage } = trustedUsage(estimate, storeBytes);
  return Math.max(0, quota - usage);
}
