export { Dataset, toHex, type DatasetEntry, type DatasetSize, type EntryKind, type TruthEntry, type AppInfo, type MutationSummary } from './dataset.ts';
export { type FileContent, StaticContent, ProceduralContent, contentChunks } from './content.ts';
export { encodeJpeg } from './jpeg.ts';
export { buildDatabase, openDatabase, loadSqlite, type SqliteDatabase } from './sqlite.ts';
