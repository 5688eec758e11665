import type { FuzzTarget } from '../target.ts';

/**
 * Parsers with known defects, to prove the runner reports each kind of finding (an untyped error,
 * a slow case, a memory burst, a hang). Listed only with LIFEBOAT_FUZZ_SELF_TEST=1.
 */
/** Each seed triggers its defect (seeds run first); almost no mutation of it does. */
const trigger = (input: Uint8Array) => input.length === 1 && input[0] === 0x42;

export const SELF_TEST_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'self-test-error',
    seeds: async () => [new Uint8Array([0x42])],
    run(input) {
      if (trigger(input)) throw new TypeError('the parser forgot a bounds check');
    },
  },
  {
    name: 'self-test-slow',
    seeds: async () => [new Uint8Array([0x42])],
    run(input) {
      if (!trigger(input)) return;
      // Over 1 s of wall time with over half of it working, however busy the machine.
      const start = performance.now();
      const cpu = process.cpuUsage();
      for (;;) {
        const used = process.cpuUsage(cpu);
        if (performance.now() - start > 1050 && (used.user + used.system) / 1000 > 550) break;
      }
    },
  },
  {
    name: 'self-test-memory',
    seeds: async () => [new Uint8Array([0x42])],
    run(input) {
      if (trigger(input)) (globalThis as { kept?: unknown }).kept = new Uint8Array(300 * 1024 * 1024);
    },
  },
  {
    name: 'self-test-hang',
    seeds: async () => [new Uint8Array([0x42])],
    run(input) {
      while (trigger(input));
    },
  },
];
