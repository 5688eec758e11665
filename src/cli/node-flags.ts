/**
 * Flags the CLI's Node is started with (`npm run cli`, and the bundled CLI in `npm run bench`).
 * These are read only when V8 starts, so main.ts cannot set them at run time as it does its others.
 *
 * --no-concurrent-recompilation: optimized code is compiled on the main thread instead of V8's
 * background threads. Each background thread allocates through a glibc malloc arena of its own, and
 * those arenas kept ≈15 MB that the process never gave back. On `large`, the CLI's peak RSS went from
 * 102–107 to 87–90 MB, with the same user CPU (5.0–5.4 s against 5.2–5.9 s).
 */
export const CLI_NODE_FLAGS: readonly string[] = ['--no-concurrent-recompilation'];
