import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FOLDER_FILES_PER_SECOND, folderBackupEstimate } from '../../src/ui/device/folder-estimate.ts';

test('a folder backup estimate spans the measured range, in minutes or hours', () => {
  assert.ok(FOLDER_FILES_PER_SECOND.slowest < FOLDER_FILES_PER_SECOND.fastest);
  // 100,000 files: 250 s at 400/s, 645 s at 155/s.
  assert.equal(folderBackupEstimate(100_000), '4–11 min');
  // 1.3M files: 3,250 s and 8,387 s.
  assert.equal(folderBackupEstimate(1_300_000), '54 min – 2 h 20 min');
  assert.equal(folderBackupEstimate(3_000_000), '2 h 5 min – 5 h 23 min');
  assert.equal(folderBackupEstimate(10), 'about 1 min');
  assert.equal(folderBackupEstimate(2_880_000), '2 h – 5 h 10 min');
});
