import { decodePlist, isPlistDict } from '../../src/plist/index.ts';
import { MAX_DPIC, MAX_ITER, parseKeybag, unlockKeybag, unwrapFileKey } from '../../src/library/crypto/keybag.ts';
import { aesKeyWrap } from '../../src/virtual-iphone/encryption/crypto.ts';
import { derivePasscodeKey, encodeTlv, type KeybagItem } from '../../src/virtual-iphone/encryption/keybag.ts';
import { PYIOSBACKUP_ENCRYPTED, fixtureFile } from '../seeds.ts';
import { type FuzzTarget, joinParts, splitParts } from '../target.ts';

const PASSWORD = 'fuzz';
/**
 * The harness's own limit on PBKDF2 rounds, far below a device's (DPIC 10,000,000, ITER 10,000):
 * the KDF is WebCrypto's and not what is fuzzed here; the TLV it reads, the class-key unwrap, the
 * WPKY checks and wrong-password detection are. Counts beyond the product's own cap stay as they
 * are, so its refusal (before any hashing) is fuzzed too.
 */
const HARNESS_ROUNDS = 4;

function clampRounds(rounds: number, productCap: number): number {
  return rounds > productCap ? rounds : Math.min(rounds, HARNESS_ROUNDS);
}

const u32 = (n: number): Uint8Array => new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

/**
 * A keybag like a device's (VERS 5, eleven passcode-wrapped class keys) whose password is PASSWORD
 * at one round per stage, and a Manifest-style wrapped file key (u32 LE class, AES-KW) for class 3.
 * Fixed salts and keys: the seeds, like the rest of the fuzzer, are deterministic.
 */
async function unlockableKeybag(withDpic: boolean): Promise<Uint8Array> {
  const salt = new Uint8Array(20).fill(0x5a);
  const dpsl = new Uint8Array(20).fill(0xa5);
  const passcodeKey = withDpic ? await derivePasscodeKey(PASSWORD, { dpsl, salt }, { dpic: 1, iter: 1 }) : await derivePasscodeKeyWithoutDpic(salt);
  const items: KeybagItem[] = [
    { tag: 'VERS', value: u32(withDpic ? 5 : 3) },
    { tag: 'TYPE', value: u32(1) },
    { tag: 'UUID', value: new Uint8Array(16).fill(1) },
    { tag: 'HMCK', value: new Uint8Array(40).fill(2) },
    { tag: 'WRAP', value: u32(0) },
    { tag: 'SALT', value: salt },
    { tag: 'ITER', value: u32(1) },
  ];
  if (withDpic) items.push({ tag: 'DPWT', value: u32(1) }, { tag: 'DPIC', value: u32(1) }, { tag: 'DPSL', value: dpsl });
  for (let clas = 1; clas <= 11; clas++) {
    items.push(
      { tag: 'UUID', value: new Uint8Array(16).fill(0x10 + clas) },
      { tag: 'CLAS', value: u32(clas) },
      { tag: 'WRAP', value: u32(clas === 5 ? 1 : 2) },
      { tag: 'KTYP', value: u32(0) },
      { tag: 'WPKY', value: await aesKeyWrap(passcodeKey, new Uint8Array(32).fill(clas)) },
    );
  }
  const fileKey = await aesKeyWrap(new Uint8Array(32).fill(3), new Uint8Array(32).fill(0x77));
  return joinParts(encodeTlv(items), new Uint8Array([3, 0, 0, 0, ...fileKey]));
}

/** Pre-iOS 10.2 keybags have no DPSL/DPIC stage: PBKDF2-SHA1 over the password itself. */
async function derivePasscodeKeyWithoutDpic(salt: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.importKey('raw', new TextEncoder().encode(PASSWORD), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-1', salt: new Uint8Array(salt), iterations: 1 }, key, 256));
}

export const keybagUnlock: FuzzTarget = {
  name: 'keybag-unlock',
  async seeds() {
    const manifest = decodePlist(await fixtureFile(PYIOSBACKUP_ENCRYPTED, 'Manifest.plist'));
    const real = isPlistDict(manifest) ? manifest['BackupKeyBag'] : undefined;
    const manifestKey = isPlistDict(manifest) ? manifest['ManifestKey'] : undefined;
    const seeds = [await unlockableKeybag(true), await unlockableKeybag(false)];
    // A device's keybag: under the clamp its password no longer fits, so it seeds the wrong-password path.
    if (real instanceof Uint8Array) seeds.push(joinParts(real, manifestKey instanceof Uint8Array ? manifestKey : new Uint8Array(0)));
    return seeds;
  },
  maxInput: 8 * 1024,
  async run(input) {
    const [bagBytes, wrappedFileKey] = splitParts(input);
    const bag = parseKeybag(bagBytes);
    const cheap = { ...bag, iterations: clampRounds(bag.iterations, MAX_ITER), dpic: bag.dpic === undefined ? undefined : clampRounds(bag.dpic, MAX_DPIC) };
    const classKeys = await unlockKeybag(cheap, PASSWORD);
    if (wrappedFileKey.length === 0) return `unlocked ${Math.min(classKeys.size, 12)}`;
    await unwrapFileKey(classKeys, wrappedFileKey, 'the fuzzed file');
    return `unlocked ${Math.min(classKeys.size, 12)} file key unwrapped`;
  },
};
