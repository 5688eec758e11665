import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressTracker } from '../../src/backup/progress.ts';

test('ETA inside one long upload batch (a 4 GB video) counts down instead of growing without bound', () => {
  let now = 0;
  const tracker = new ProgressTracker(undefined, 0, () => now);
  tracker.setStage('receiving');
  // Small files first: 10 s for the first 2 %.
  tracker.batchStarted(20_000_000);
  for (let s = 1; s <= 10; s++) {
    now = s * 1000;
    tracker.bytes(2_000_000);
  }
  tracker.percent(2);
  tracker.flush();
  const atStart = tracker.snapshot.etaSeconds!;
  assert.equal(atStart, 490, '98 % left at 0.2 %/s');
  // Then one 4 GB batch at 10 MB/s: the device says nothing new for minutes.
  tracker.batchStarted(4_000_000_000);
  const etas: number[] = [];
  for (let s = 11; s <= 300; s++) {
    now = s * 1000;
    tracker.bytes(10_000_000);
    if (s % 10 === 0) {
      tracker.flush();
      etas.push(tracker.snapshot.etaSeconds!);
    }
  }
  for (let i = 1; i < etas.length; i++) assert.ok(etas[i]! <= etas[i - 1]!, `ETA never grows while the batch streams: ${etas.join(', ')}`);
  // 290 s in, 1.1 GB of the batch is left: at least the ~110 s that takes.
  assert.ok(etas.at(-1)! >= 105 && etas.at(-1)! <= 400, `ETA ${etas.at(-1)} s near what is left of the batch`);
});

test('a percent that has barely moved does not outweigh what is left of one big batch', () => {
  let now = 0;
  const tracker = new ProgressTracker(undefined, 0, () => now);
  tracker.setStage('receiving');
  // A few small files move the device's percent to 0.4 in 8 s…
  tracker.batchStarted(8_000_000);
  for (let s = 1; s <= 8; s++) {
    now = s * 1000;
    tracker.bytes(1_000_000);
  }
  tracker.percent(0.4);
  // …then the backup is one 4.1 GB file at 100 MB/s: about 41 s in all.
  tracker.batchStarted(4_100_000_000);
  for (let s = 9; s <= 18; s++) {
    now = s * 1000;
    tracker.bytes(100_000_000);
    tracker.flush();
  }
  const eta = tracker.snapshot.etaSeconds!;
  assert.ok(eta >= 25 && eta <= 40, `ETA ${eta} s for the 3.1 GB left at 100 MB/s (the percent alone would say ~2,000 s)`);
});
