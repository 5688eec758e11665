import { CorruptBackupError } from '../core/errors.ts';
import { decodeMbFile, kindFromFlags, kindFromMode, type EntryKind, type MbFile } from './mbfile.ts';
import { openDatabaseBytes, tableExists, type Database } from './sqlite.ts';

/** One Manifest.db row as the browser shows it. */
export interface ManifestEntry {
  fileID: string;
  domain: string;
  relativePath: string;
  /** Last path component ("" for a domain root). */
  name: string;
  flags: number;
  kind: EntryKind;
}

export interface DomainSummary {
  domain: string;
  count: number;
}

/**
 * The parent-folder key of a relativePath, computed inside SQLite so it can be indexed:
 * rtrim strips every trailing character that is not "/", leaving "a/b/" for "a/b/c" and ""
 * for a top-level name. A listing of folder P therefore asks for key (P === "" ? "" : P + "/").
 */
const PARENT_EXPR = "rtrim(relativePath, replace(relativePath, '/', ''))";

function parentKey(path: string): string {
  const clean = path.replace(/^\/+|\/+$/g, '');
  return clean === '' ? '' : `${clean}/`;
}

function nameOf(relativePath: string): string {
  const slash = relativePath.lastIndexOf('/');
  return slash < 0 ? relativePath : relativePath.slice(slash + 1);
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A decrypted Manifest.db, held in memory, with the extra index that makes folder listing fast. */
export class ManifestDb {
  private readonly blobs = new Map<string, MbFile>();

  private constructor(
    readonly db: Database,
    readonly rowCount: number,
  ) {}

  static async open(bytes: Uint8Array): Promise<ManifestDb> {
    const db = await openDatabaseBytes(bytes, 'Manifest.db');
    try {
      if (!tableExists(db, 'Files')) throw new CorruptBackupError('Manifest.db has no Files table.');
      db.exec(`CREATE INDEX IF NOT EXISTS lifeboat_parent ON Files(domain, ${PARENT_EXPR})`);
      db.exec('CREATE INDEX IF NOT EXISTS lifeboat_domain_path ON Files(domain, relativePath)');
      const rowCount = Number(db.selectValue('SELECT count(*) FROM Files'));
      return new ManifestDb(db, rowCount);
    } catch (cause) {
      db.close();
      if (cause instanceof CorruptBackupError) throw cause;
      throw new CorruptBackupError(`Manifest.db is damaged: ${(cause as Error).message}`, cause);
    }
  }

  close(): void {
    this.db.close();
  }

  private query(sql: string, bind: (string | number)[] = []): Record<string, unknown>[] {
    try {
      return this.db.selectObjects(sql, bind) as Record<string, unknown>[];
    } catch (cause) {
      throw new CorruptBackupError(`Manifest.db: ${(cause as Error).message}`, cause);
    }
  }

  private toEntry(row: Record<string, unknown>): ManifestEntry {
    const relativePath = String(row['relativePath'] ?? '');
    const flags = Number(row['flags'] ?? 0);
    let kind = kindFromFlags(flags);
    // Some writers (pyiosbackup's vectors) leave flags 0: fall back to the MBFile mode.
    if (!kind) kind = kindFromMode(this.metadata(String(row['fileID']))?.mode ?? 0) ?? 'file';
    return { fileID: String(row['fileID']), domain: String(row['domain']), relativePath, name: nameOf(relativePath), flags, kind };
  }

  domains(): DomainSummary[] {
    return this.query('SELECT domain, count(*) AS n FROM Files GROUP BY domain ORDER BY domain').map((r) => ({
      domain: String(r['domain']),
      count: Number(r['n']),
    }));
  }

  /** Direct children of folder `path` in `domain` ("" = the domain root). */
  list(domain: string, path: string): ManifestEntry[] {
    const rows = this.query(
      `SELECT fileID, domain, relativePath, flags FROM Files
       WHERE domain = ? AND ${PARENT_EXPR} = ? AND relativePath <> '' ORDER BY relativePath`,
      [domain, parentKey(path)],
    );
    return rows.map((r) => this.toEntry(r));
  }

  /** Case-insensitive substring search over domain/relativePath. */
  search(text: string, limit = 500): ManifestEntry[] {
    const pattern = `%${escapeLike(text)}%`;
    const rows = this.query(
      `SELECT fileID, domain, relativePath, flags FROM Files
       WHERE relativePath LIKE ? ESCAPE '\\' OR domain LIKE ? ESCAPE '\\' LIMIT ?`,
      [pattern, pattern, limit],
    );
    return rows.map((r) => this.toEntry(r));
  }

  get(fileID: string): ManifestEntry | undefined {
    const row = this.query('SELECT fileID, domain, relativePath, flags FROM Files WHERE fileID = ?', [fileID])[0];
    return row ? this.toEntry(row) : undefined;
  }

  find(domain: string, relativePath: string): ManifestEntry | undefined {
    const row = this.query(
      'SELECT fileID, domain, relativePath, flags FROM Files WHERE domain = ? AND relativePath = ?',
      [domain, relativePath],
    )[0];
    return row ? this.toEntry(row) : undefined;
  }

  /** Rows whose relativePath starts with `prefix` in domains matching `domainLike` (SQL LIKE). */
  findUnder(domainLike: string, prefix: string): ManifestEntry[] {
    const rows = this.query(
      `SELECT fileID, domain, relativePath, flags FROM Files
       WHERE domain LIKE ? ESCAPE '\\' AND relativePath LIKE ? ESCAPE '\\' ORDER BY domain, relativePath`,
      [domainLike, `${escapeLike(prefix)}%`],
    );
    return rows.map((r) => this.toEntry(r));
  }

  /** The decoded MBFile of a row (cached); undefined when the row has no blob. */
  metadata(fileID: string): MbFile | undefined {
    const cached = this.blobs.get(fileID);
    if (cached) return cached;
    const blob = this.query('SELECT file FROM Files WHERE fileID = ?', [fileID])[0]?.['file'];
    if (!(blob instanceof Uint8Array)) return undefined;
    const decoded = decodeMbFile(blob);
    if (this.blobs.size > 50_000) this.blobs.clear();
    this.blobs.set(fileID, decoded);
    return decoded;
  }

  /** Every row, in (domain, relativePath) order, without holding them all at once. */
  *rows(): Generator<ManifestEntry & { blob: Uint8Array | undefined }> {
    const stmt = this.db.prepare('SELECT fileID, domain, relativePath, flags, file FROM Files ORDER BY domain, relativePath');
    try {
      while (stmt.step()) {
        const row = stmt.get({}) as Record<string, unknown>;
        const blob = row['file'] instanceof Uint8Array ? (row['file'] as Uint8Array) : undefined;
        const relativePath = String(row['relativePath'] ?? '');
        const flags = Number(row['flags'] ?? 0);
        let kind = kindFromFlags(flags);
        if (!kind && blob) kind = kindFromMode(safeMode(blob)) ?? 'file';
        yield {
          fileID: String(row['fileID']),
          domain: String(row['domain']),
          relativePath,
          name: nameOf(relativePath),
          flags,
          kind: kind ?? 'file',
          blob,
        };
      }
    } finally {
      stmt.finalize();
    }
  }
}

function safeMode(blob: Uint8Array): number {
  try {
    return decodeMbFile(blob).mode;
  } catch {
    return 0;
  }
}
