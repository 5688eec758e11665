import type { BackupReader } from '../backup-reader.ts';
import { CorruptBackupError } from '../../core/errors.ts';
import type { ManifestRow } from '../manifest-scan.ts';
import { decodeMbFile, type MbFile } from '../mbfile.ts';
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
 * One file row's payload against its record: there, and of the MBFile Size (or, for an encrypted
 * file, its padded size). Only lengths are checked (payloads are not read).
 */
export async function verifyRow(reader: BackupReader, row: ManifestRow, mb: MbFile | undefined): Promise<VerifyProblem | undefined> {
  const location = await reader.payloadLocation(row.fileID);
  const base = { fileID: row.fileID, domain: row.domain, relativePath: row.relativePath };
  if (!location) return { ...base, problem: 'missing' };
  const actual = (await reader.source.stat(location))?.size ?? 0;
  const size = mb?.size ?? 0;
  const expected = reader.encrypted && mb?.encryptionKey ? paddedSize(size) : size;
  return actual === expected ? undefined : { ...base, problem: 'size', expectedSize: expected, actualSize: actual };
}

/** A row's MBFile, or a CorruptBackupError naming the file whose record is damaged. */
export function mbFileOf(row: ManifestRow): MbFile | undefined {
  if (!row.blob) return undefined;
  try {
    return decodeMbFile(row.blob);
  } catch (error) {
    throw new CorruptBackupError(`Manifest.db's record of ${row.domain}/${row.relativePath} is damaged: ${(error as Error).message}`, error);
  }
}

/** Every file row must have its payload with the right length (verifyRow), in one pass over Manifest.db. */
export async function verifyBackup(reader: BackupReader, progress?: Progress): Promise<VerifyReport> {
  const total = reader.summary().fileCount ?? 0;
  const problems: VerifyProblem[] = [];
  let checked = 0;
  for await (const row of reader.manifestRows()) {
    if (row.kind !== 'file') continue;
    const problem = await verifyRow(reader, row, mbFileOf(row));
    if (problem) problems.push(problem);
    checked++;
    progress?.(checked, total, row.relativePath);
  }
  return { checked, problems };
}
