import type { BackupReader } from '../backup-reader.ts';
import type { Progress } from './byte-sink.ts';

export interface VerifyProblem {
  fileID: string;
  domain: string;
  relativePath: string;
  problem: 'missing' | 'size';
  expectedSize?: number;
  actualSize?: number;
}

export interface VerifyReport {
  checked: number;
  problems: VerifyProblem[];
}

/** PKCS#7 always adds 1–16 bytes, so ciphertext is the size rounded up to the next whole block (+16 when already whole). */
export function paddedSize(size: number): number {
  return (Math.floor(size / 16) + 1) * 16;
}

/**
 * Every file row must have its payload with the right length: the MBFile Size, or for an
 * encrypted file its padded size. Only lengths are checked (payloads are not read).
 */
export async function verifyBackup(reader: BackupReader, progress?: Progress): Promise<VerifyReport> {
  const rows = [...reader.manifest.rows()].filter((r) => r.kind === 'file');
  const problems: VerifyProblem[] = [];
  let checked = 0;
  for (const row of rows) {
    const md = reader.manifest.metadata(row.fileID);
    const location = await reader.payloadLocation(row.fileID);
    const base = { fileID: row.fileID, domain: row.domain, relativePath: row.relativePath };
    if (!location) problems.push({ ...base, problem: 'missing' });
    else {
      const actual = (await reader.source.stat(location))?.size ?? 0;
      const size = md?.size ?? 0;
      const expected = reader.encrypted && md?.encryptionKey ? paddedSize(size) : size;
      if (actual !== expected) problems.push({ ...base, problem: 'size', expectedSize: expected, actualSize: actual });
    }
    checked++;
    progress?.(checked, rows.length, row.relativePath);
  }
  return { checked, problems };
}
