import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupRecordStore, IncrementalHash } from '../services/mobilebackup2/backup-record.ts';

/**
 * `--state DIR` for the rows of the Manifest.db files the phone sent: one file each,
 * DIR/virtual-iphone-<UDID>-sent-<SHA-256>.bin, the newest few kept. Without them a restarted
 * 1.3M-file phone re-read the 1.19 GB database the host sent back (15 s of a 45 s incremental backup)
 * although it wrote that very file itself. Several are kept because several hosts back the same phone
 * up (the benchmark's two clients), each holding its own copy.
 */
export class BackupRecordFiles implements BackupRecordStore {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly udid: string,
    private readonly keep = 4,
  ) {}

  load(key: string): Uint8Array | null {
    if (!/^[0-9a-f]{64}$/.test(key)) return null;
    try {
      const bytes = readFileSync(this.path(key));
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch {
      return null;
    }
  }

  async save(key: string, record: Uint8Array): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`not a SHA-256: ${key}`);
    mkdirSync(this.dir, { recursive: true });
    const path = this.path(key);
    // Off the phone's thread: written at once, a 70 MB record held up a host still talking to it.
    await writeFile(`${path}.tmp`, record);
    renameSync(`${path}.tmp`, path);
    const prefix = `virtual-iphone-${this.udid}-sent-`;
    const records = readdirSync(this.dir)
      .filter((name) => name.startsWith(prefix) && name.endsWith('.bin'))
      .map((name) => ({ name, at: statSync(join(this.dir, name)).mtimeMs }))
      .sort((a, b) => b.at - a.at);
    for (const old of records.slice(this.keep)) rmSync(join(this.dir, old.name), { force: true });
  }

  hold(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Once every record being made is filed (or has failed). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  sha256(): IncrementalHash {
    const hash = createHash('sha256');
    return {
      update: (bytes) => void hash.update(bytes),
      digest: () => new Uint8Array(hash.digest()),
    };
  }

  private path(key: string): string {
    return join(this.dir, `virtual-iphone-${this.udid}-sent-${key}.bin`);
  }
}
