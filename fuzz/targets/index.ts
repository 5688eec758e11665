import type { FuzzTarget } from '../target.ts';
import { deviceLink } from './devicelink.ts';
import { attributedBody, keybag, mbFile, notes, vcard } from './library.ts';
import { manifestDb, smsDb, sqliteWal } from './sqlite.ts';
import { zip } from './zip.ts';
import { keyedArchiver, plistBinary, plistXml } from './plist.ts';
import { tlsClient, tlsRecords, tlsServer } from './tls.ts';
import { usbmuxSession, usbmuxdClient, usbmuxdProtocol } from './usbmux.ts';

/** Every parser of untrusted bytes, in the order they run. */
const TARGETS: readonly FuzzTarget[] = [plistBinary, plistXml, keyedArchiver, usbmuxSession, usbmuxdProtocol, usbmuxdClient, tlsRecords, tlsClient, tlsServer, deviceLink, keybag, mbFile, attributedBody, notes, vcard, sqliteWal, manifestDb, smsDb, zip];

export const TARGET_NAMES: readonly string[] = TARGETS.map((t) => t.name);

export function targetByName(name: string): FuzzTarget {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target named ${name}`);
  return target;
}
