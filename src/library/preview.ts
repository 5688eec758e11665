import { decodePlist, PlistUid, PlistReal, type PlistValue } from '../plist/index.ts';
import type { BackupReader } from './backup-reader.ts';
import { mimeFromName } from './categories/common.ts';
import { openDatabaseBytes } from './sqlite.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type Preview =
  | { kind: 'text'; text: string; truncated: boolean }
  | { kind: 'plist'; value: JsonValue }
  | { kind: 'sqlite'; tables: { name: string; rowCount: number; columns: string[]; rows: JsonValue[][] }[] }
  | { kind: 'image'; mimeType: string; bytes: Uint8Array }
  | { kind: 'binary'; size: number; head: Uint8Array }
  | { kind: 'directory' | 'symlink'; target?: string };

const TEXT_LIMIT = 256 * 1024;
const ROWS_PER_TABLE = 50;

/** Plist values as JSON the UI can render (data → "<n bytes>", dates → ISO). */
export function plistToJson(value: PlistValue): JsonValue {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof PlistUid) return `UID ${value.value}`;
  if (value instanceof PlistReal) return value.value;
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plistToJson);
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plistToJson(v)]));
  return value;
}

function imageMime(bytes: Uint8Array, name: string): string | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'image/png';
  if (bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46) return 'image/gif';
  const brand = new TextDecoder('latin1').decode(bytes.subarray(4, 12));
  if (brand === 'ftypheic' || brand === 'ftypheix' || brand === 'ftypmif1') return 'image/heic';
  const byName = mimeFromName(name);
  return byName.startsWith('image/') ? byName : undefined;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 4096);
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(sample.subarray(0, Math.max(0, sample.length - 4)));
  } catch {
    return false;
  }
  let control = 0;
  for (const b of sample) if (b < 9 || (b > 13 && b < 32)) control++;
  return control <= sample.length / 100;
}

function cell(value: unknown): JsonValue {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === 'bigint') return value.toString();
  if (value === undefined) return null;
  return value as JsonValue;
}

export async function previewFile(reader: BackupReader, fileID: string): Promise<Preview> {
  const entry = reader.manifest.get(fileID);
  if (entry?.kind === 'directory') return { kind: 'directory' };
  if (entry?.kind === 'symlink') return { kind: 'symlink', target: reader.manifest.metadata(fileID)?.target };
  const bytes = await reader.readFile(fileID);
  const name = entry?.name ?? '';
  if (new TextDecoder('latin1').decode(bytes.subarray(0, 16)) === 'SQLite format 3\0') {
    const db = await openDatabaseBytes(bytes, `${entry?.domain}/${entry?.relativePath}`);
    try {
      const names = (db.selectObjects("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") as { name: string }[]).map((r) => r.name);
      return {
        kind: 'sqlite',
        tables: names.map((table) => {
          const quoted = `"${table.replace(/"/g, '""')}"`;
          const rows = db.selectArrays(`SELECT * FROM ${quoted} LIMIT ${ROWS_PER_TABLE}`) as unknown[][];
          const columns = (db.selectObjects(`PRAGMA table_info(${quoted})`) as { name: string }[]).map((c) => c.name);
          return { name: table, rowCount: Number(db.selectValue(`SELECT count(*) FROM ${quoted}`)), columns, rows: rows.map((r) => r.map(cell)) };
        }),
      };
    } finally {
      db.close();
    }
  }
  const mime = imageMime(bytes, name);
  if (mime) return { kind: 'image', mimeType: mime, bytes };
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 8));
  if (head === 'bplist00' || (head.startsWith('<?xml') && /\.plist$|<plist/.test(new TextDecoder().decode(bytes.subarray(0, 200)) + name))) {
    try {
      return { kind: 'plist', value: plistToJson(decodePlist(bytes)) };
    } catch {
      // not actually a plist; fall through
    }
  }
  if (looksLikeText(bytes)) {
    return { kind: 'text', text: new TextDecoder().decode(bytes.subarray(0, TEXT_LIMIT)), truncated: bytes.length > TEXT_LIMIT };
  }
  return { kind: 'binary', size: bytes.length, head: bytes.slice(0, 4096) };
}
