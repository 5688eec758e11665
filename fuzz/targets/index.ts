import type { FuzzTarget } from '../target.ts';
import { SELF_TEST_TARGETS } from './self-test.ts';
import { deviceLink } from './devicelink.ts';
import { keybagUnlock } from './keybag-unlock.ts';
import { attributedBody, keybag, mbFile, notes, vcard } from './library.ts';
import { devicePreviousManifest, manifestDb, manifestDbEncrypted, manifestDbEncryptedInPlace, manifestDbInPlace, manifestScan, smsDb, sqliteWal } from './sqlite.ts';
import { zip } from './zip.ts';
import { storeJournals } from './store-journals.ts';
import { keyedArchiver, plistBinary, plistXml } from './plist.ts';
import { tlsClient, tlsRecordProtection, tlsRecords, tlsServer } from './tls.ts';
import { usbmuxSession, usbmuxdClient, usbmuxdProtocol } from './usbmux.ts';

/** Every parser of untrusted bytes, in the order they run. */
const TARGETS: readonly FuzzTarget[] = [plistBinary, plistXml, keyedArchiver, usbmuxSession, usbmuxdProtocol, usbmuxdClient, tlsRecords, tlsRecordProtection, tlsClient, tlsServer, deviceLink, keybag, keybagUnlock, mbFile, attributedBody, notes, vcard, sqliteWal, manifestDb, manifestDbInPlace, manifestDbEncrypted, manifestDbEncryptedInPlace, manifestScan, devicePreviousManifest, smsDb, zip, storeJournals];

export const TARGET_NAMES: readonly string[] = TARGETS.map((t) => t.name);

const SELF_TEST = process.env['LIFEBOAT_FUZZ_SELF_TEST'] === '1';

export function targetByName(name: string): FuzzTarget {
  const target = [...TARGETS, ...(SELF_TEST ? SELF_TEST_TARGETS : [])].find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target named ${name}`);
  return target;
}
