import type { BackupReader } from '../backup-reader.ts';
import { CorruptBackupError } from '../../core/errors.ts';
import type { ManifestRow } from '../manifest-scan.ts';
import { decodeMbFile, type MbFile } from '../mbfile.ts';
import { MbFileFieldReader } from '../mbfile-fields.ts';
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

/** What verification needs from a row's MBFile: its Size and whether it carries a file key. */
export interface RowSize {
  size: number;
  encrypted: boolean;
}

/**
 * A row's size from its MBFile blob. Plain backups take the fast field reader (no archive decode: a
 * million rows cost well under a second); encrypted ones, and any blob it does not take, the full decoder.
 */
export function rowSize(reader: BackupReader, row: ManifestRow, fields = new MbFileFieldReader()): RowSize {
  if (!row.blob) return { size: 0, encrypted: false };
  if (!reader.encrypted && fields.read(row.blob, 0, row.blob.length)) return { size: fields.size, encrypted: false };
  const mb = mbFileOf(row);
  return { size: mb?.size ?? 0, encrypted: reader.encrypted && !!mb?.encryptionKey };
}

/**
 * One file row's payload against its record: there, and of the MBFile Size (or, for an encrypted
 * file, its padded size). Only lengths are checked (payloads are not read).
 */
export async function verifyRow(reader: BackupReader, row: ManifestRow, expected: RowSize): Promise<VerifyProblem | undefined> {
  const found = await reader.payloadStat(row.fileID);
  const base = { fileID: row.fileID, domain: row.domain, relativePath: row.relativePath };
  if (!found) return { ...base, problem: 'missing' };
  const size = expected.encrypted ? paddedSize(expected.size) : expected.size;
  return found.size === size ? undefined : { ...base, problem: 'size', expectedSize: size, actualSize: found.size };
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
  const fields = new MbFileFieldReader();
  for await (const row of reader.manifestRows()) {
    if (row.kind !== 'file') continue;
    const problem = await verifyRow(reader, row, rowSize(reader, row, fields));
    if (problem) problems.push(problem);
    checked++;
    progress?.(checked, total, row.relativePath);
  }
  return { checked, problems };
}
