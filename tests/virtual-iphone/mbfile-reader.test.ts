// The virtual iPhone reads every MBFile blob of the host's previous Manifest.db in an incremental
// backup, and reads them the quick way (readMbFile). Whatever it returns must be exactly what the
// general decoder and unarchiver return; for anything else it must return undefined, so that the
// general path decides (and gives any error).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { manifestRow, mbFileBlob } from '../../src/virtual-iphone/services/mobilebackup2/manifest.ts';
import { readMbFile } from '../../src/virtual-iphone/services/mobilebackup2/mbfile-reader.ts';
import { archive, decodePlist, encodeBinaryPlist, PlistUid, unarchive, type PlistValue } from '../../src/plist/index.ts';
import { Rng } from '../../src/virtual-iphone/dataset/prng.ts';

function general(blob: Uint8Array): { value: PlistValue } | { error: unknown } {
  try {
    return { value: unarchive(decodePlist(blob)) };
  } catch (error) {
    return { error };
  }
}

async function datasetBlobs(): Promise<Uint8Array[]> {
  const dataset = await Dataset.create({ size: 'small', seed: 5 });
  return dataset.entries(false).map((e, i) => mbFileBlob(manifestRow(e, e.kind === 'file' && i % 3 === 0 ? new Uint8Array(40).fill(i % 256) : undefined)));
}

test('every blob the device writes is read quickly, and read as the general decoder reads it', async () => {
  const blobs = await datasetBlobs();
  assert.ok(blobs.length > 200);
  for (const blob of blobs) {
    const quick = readMbFile(blob);
    assert.ok(quick, 'a blob the device wrote is of the plain shape');
    assert.deepStrictEqual(quick, unarchive(decodePlist(blob)));
  }
});

test('fields of other shapes: UTF-16 text, inline data, big and negative integers, a $null field, plain NSData', () => {
  const objects: Record<string, PlistValue>[] = [
    { $class: 'MBFile', RelativePath: 'Media/Fotos/Größe 📷.jpg', Size: 2 ** 40, InodeNumber: -5, Mode: 0o100644, Digest: new Uint8Array([1, 2, 3]) },
    { $class: 'MBFile', RelativePath: '', Size: 0, Target: 'x', EncryptionKey: new Uint8Array(0) },
    { $class: 'MBFile', __proto__field: 1, Size: 2n ** 62n as unknown as PlistValue },
  ];
  for (const object of objects) {
    const blob = encodeBinaryPlist(archive(object as never, { inlineDataFields: ['Digest'] }));
    const quick = readMbFile(blob);
    assert.ok(quick);
    assert.deepStrictEqual(quick, unarchive(decodePlist(blob)));
  }
  // A hand-laid archive: a $null reference (dropped) and a plain NSData holding its bytes by reference.
  const archiveDict = {
    $version: 100000,
    $archiver: 'NSKeyedArchiver',
    $top: { root: uidOf(1) },
    $objects: ['$null', { $class: uidOf(2), Size: 7, Target: uidOf(0), EncryptionKey: uidOf(3) }, { $classname: 'MBFile', $classes: ['MBFile', 'NSObject'] }, { 'NS.data': uidOf(4), $class: uidOf(5) }, new Uint8Array([9, 9]), { $classname: 'NSData' }],
  };
  const blob = encodeBinaryPlist(archiveDict as never);
  assert.deepStrictEqual(readMbFile(blob), { Size: 7, EncryptionKey: new Uint8Array([9, 9]), $class: 'MBFile' });
  assert.deepStrictEqual(readMbFile(blob), unarchive(decodePlist(blob)));
});

test('anything but a plainly archived MBFile is left to the general decoder', () => {
  const other = encodeBinaryPlist(archive({ $class: 'MBFolder', Size: 1 } as never));
  assert.equal(readMbFile(other), undefined);
  assert.equal(readMbFile(encodeBinaryPlist({ Size: 1 })), undefined);
  assert.equal(readMbFile(new Uint8Array(0)), undefined);
  assert.equal(readMbFile(new TextEncoder().encode('<?xml version="1.0"?><plist><dict/></plist>')), undefined);
  // A real number, a date: valid plists, but not what the device writes.
  assert.equal(readMbFile(encodeBinaryPlist(archive({ $class: 'MBFile', Size: 1.5 } as never))), undefined);
});

test('damaged blobs: the quick read gives up or agrees with the general decoder, never anything else', async () => {
  const blobs = (await datasetBlobs()).slice(0, 300);
  const rng = new Rng(99);
  let agreed = 0;
  let gaveUp = 0;
  for (let round = 0; round < 20_000; round++) {
    const blob = blobs[rng.int(blobs.length)]!.slice();
    const kind = rng.int(4);
    let damaged: Uint8Array;
    if (kind === 0) damaged = blob.subarray(0, rng.int(blob.length));
    else {
      const flips = 1 + rng.int(3);
      for (let i = 0; i < flips; i++) blob[rng.int(blob.length)] = kind === 1 ? rng.int(256) : blob[rng.int(blob.length)]! ^ (1 << rng.int(8));
      damaged = blob;
    }
    const quick = readMbFile(damaged);
    if (quick === undefined) {
      gaveUp++;
      continue;
    }
    const slow = general(damaged);
    assert.ok('value' in slow, `round ${round}: the quick read accepted a blob the general decoder refuses (${'error' in slow ? String(slow.error) : ''})`);
    assert.deepStrictEqual(quick, slow.value, `round ${round}`);
    agreed++;
  }
  // Both outcomes must really happen, or the campaign tests nothing.
  assert.ok(agreed > 1000 && gaveUp > 1000, `${agreed} agreed, ${gaveUp} gave up`);
});

function uidOf(n: number): PlistValue {
  return new PlistUid(n);
}
