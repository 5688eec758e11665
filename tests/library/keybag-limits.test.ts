import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorruptBackupError, WrongPasswordError } from '../../src/core/errors.ts';
import { MAX_DPIC, MAX_ITER, parseKeybag, unlockKeybag } from '../../src/library/crypto/keybag.ts';
import { createBackupKeybag, decodeTlv, encodeTlv, type KeybagItem } from '../../src/virtual-iphone/encryption/keybag.ts';

const PASSWORD = 'correct horse';

/** A device-shaped keybag at one KDF round per stage, with `edit` applied to its TLV items. */
async function keybagWith(edit: (items: KeybagItem[]) => KeybagItem[] = (items) => items): Promise<Uint8Array> {
  const { bytes } = await createBackupKeybag(PASSWORD, { dpic: 1, iter: 1 });
  return encodeTlv(edit(decodeTlv(bytes)));
}

function replaceHeader(tag: string, value: Uint8Array): (items: KeybagItem[]) => KeybagItem[] {
  return (items) => items.map((item, i) => (item.tag === tag && items.findIndex((x) => x.tag === tag) === i ? { tag, value } : item));
}

test('a keybag at small KDF counts unlocks with its password and says so when the password is wrong', async () => {
  const bag = parseKeybag(await keybagWith());
  assert.equal((await unlockKeybag(bag, PASSWORD)).size, 11);
  await assert.rejects(unlockKeybag(bag, 'wrong'), WrongPasswordError);
});

for (const [tag, value, limit] of [
  ['DPIC', new Uint8Array([0xff, 0xff, 0xff, 0xff]), MAX_DPIC],
  ['ITER', new Uint8Array([0, 0, 1, 0, 0, 0, 0, 0]), MAX_ITER],
] as const) {
  test(`a hostile ${tag} (${value.length}-byte count) is refused before any hashing, with a message naming it`, async () => {
    const bag = parseKeybag(await keybagWith(replaceHeader(tag, value)));
    const started = performance.now();
    await assert.rejects(unlockKeybag(bag, PASSWORD), (e: unknown) => {
      assert.ok(e instanceof CorruptBackupError);
      assert.match(e.message, new RegExp(`rounds of password hashing \\(${tag}\\)`));
      assert.match(e.message, new RegExp(limit.toLocaleString('en-US')));
      return true;
    });
    // Refused up front: not a second of PBKDF2, let alone the hours the count asks for.
    assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
  });
}

test('counts a device writes stay under the caps', () => {
  assert.ok(MAX_DPIC >= 10 * 10_000_000);
  assert.ok(MAX_ITER >= 1000 * 10_000);
});

test('a class key whose WPKY is not 40 bytes is reported as damaged, naming the class', async () => {
  const bag = parseKeybag(
    await keybagWith((items) => {
      const at = items.findIndex((item) => item.tag === 'WPKY');
      return items.map((item, i) => (i === at ? { tag: 'WPKY', value: item.value.subarray(0, 24) } : item));
    }),
  );
  await assert.rejects(unlockKeybag(bag, PASSWORD), (e: unknown) => e instanceof CorruptBackupError && /protection class 1 is damaged \(24 bytes, not 40\)/.test((e as Error).message));
});
