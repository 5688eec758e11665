// Messages between the Node harness, the page and the backup worker of the OPFS backup bench.

/** 'huge': the virtual iPhone's huge dataset (≈1.3M files) at `scale`, backed up full, then again after ≈1% changed. */
export type BenchDatasetKind = 'large-files' | 'small-files' | 'huge';

export interface BenchRequest {
  dataset: BenchDatasetKind;
  runs: number;
  /** Log backend time per method to the console (diagnosis). */
  profile?: boolean;
  /** Store into memory and drop large files' bytes: the cost of everything except storage. */
  discard?: boolean;
  /**
   * Use FolderBackupStore (createWritable per file, what a picked folder offers) over an OPFS directory:
   * headless Chromium shows no folder picker, so this is how the folder store's per-file cost is measured.
   */
  folderStore?: boolean;
  /**
   * Two-worker layout: the virtual iPhone runs in its own worker behind this port (USB over a
   * MessagePort, then mux, lockdown and its TLS, as in the app's demo mode). Absent: the device's
   * services share the backup worker, joined by in-memory streams.
   */
  devicePort?: MessagePort;
  /** 'huge' only: the fraction of its apps and photos (`--dataset-scale`). */
  scale?: number;
  /** 'huge' only: the phone encrypts its backups with this password, and the Library unlocks with it. */
  password?: string;
  /** 'huge' only: to the device worker; "mutate" changes ≈1% of its files, answered by "mutated". */
  controlPort?: MessagePort;
}

/** To the device worker of the two-worker layout. */
export interface DeviceWorkerRequest {
  dataset: BenchDatasetKind;
  port: MessagePort;
  scale?: number;
  password?: string;
  controlPort?: MessagePort;
}

/** The Library over the finished backup, in the backup worker (as the library worker would open it). */
export interface LibraryFigures {
  files: number;
  /** Manifest.db read out of OPFS and opened in SQLite WASM. */
  openMs: number;
  /** The first listing: the in-memory index is built. */
  indexMs: number;
  /** Median of listing the biggest folder, index built. */
  listMs: number;
  listEntries: number;
  /** Median of name searches (a common word, a rare one, none). */
  searchMs: number;
  /** An encrypted backup: deriving the keys from the password and opening Manifest.db with them. */
  unlockMs?: number;
  /** SQLite's WASM memory once the index is built (outside the JS heap the bench samples). */
  sqliteMemoryBytes: number;
  /**
   * The same backup opened again as a picked folder would be (no synchronous access handle: Manifest.db is
   * read through its File, or copied into OPFS scratch first), unlocked if encrypted, and indexed; and
   * SQLite's memory after.
   */
  picked: { openMs: number; indexMs: number; listMs: number; searchMs: number; firstSearchMs: number; sqliteMemoryBytes: number; via: 'in place' | 'a scratch copy' };
}

export interface BackupRunFigures {
  seconds: number;
  files: number;
  bytes: number;
  /** 'huge': after the last run. */
  library?: LibraryFigures;
}

export type BackupBenchOutcome = { runs: BackupRunFigures[]; store: string } | { error: string };

declare global {
  interface Window {
    __backupBenchOutcome?: BackupBenchOutcome;
  }
}
