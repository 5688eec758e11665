import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePlist, encodeXmlPlist, isPlistDict } from '../../plist/index.ts';

/**
 * What a usbmuxd daemon keeps for hosts: the SystemBUID and one pair record per UDID. In memory by
 * default; with a directory, laid out like /var/lib/lockdown (SystemConfiguration.plist and
 * <UDID>.plist) so records survive restarts of the virtual iPhone.
 */
export class UsbmuxdState {
  readonly systemBuid: string;
  private readonly records = new Map<string, Uint8Array>();

  constructor(private readonly stateDir?: string) {
    if (stateDir) mkdirSync(stateDir, { recursive: true });
    this.systemBuid = this.loadOrCreateBuid();
  }

  /** Whether `udid` can name a record (and a file): no path separators or dot-only names. */
  static isValidRecordId(udid: string): boolean {
    return /^[A-Za-z0-9._-]{1,128}$/.test(udid) && !/^\.+$/.test(udid) && udid !== 'SystemConfiguration';
  }

  readPairRecord(udid: string): Uint8Array | null {
    const cached = this.records.get(udid);
    if (cached) return cached;
    if (!this.stateDir) return null;
    try {
      const data = new Uint8Array(readFileSync(this.recordPath(udid)));
      this.records.set(udid, data);
      return data;
    } catch {
      return null;
    }
  }

  savePairRecord(udid: string, data: Uint8Array): void {
    this.records.set(udid, data.slice());
    if (this.stateDir) writeAtomically(this.recordPath(udid), data);
  }

  /** False when there was nothing to delete. */
  deletePairRecord(udid: string): boolean {
    const had = this.readPairRecord(udid) !== null;
    this.records.delete(udid);
    if (this.stateDir) rmSync(this.recordPath(udid), { force: true });
    return had;
  }

  private recordPath(udid: string): string {
    return join(this.stateDir!, `${udid}.plist`);
  }

  private loadOrCreateBuid(): string {
    if (this.stateDir) {
      const path = join(this.stateDir, 'SystemConfiguration.plist');
      try {
        const config = decodePlist(new Uint8Array(readFileSync(path)));
        if (isPlistDict(config) && typeof config['SystemBUID'] === 'string') return config['SystemBUID'];
      } catch {
        // missing or unreadable: a fresh BUID, as the daemon does on first start
      }
      const buid = randomUUID().toUpperCase();
      writeAtomically(path, encodeXmlPlist({ SystemBUID: buid }));
      return buid;
    }
    return randomUUID().toUpperCase();
  }
}

function writeAtomically(path: string, data: Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
