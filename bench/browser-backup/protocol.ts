// Messages between the Node harness, the page and the backup worker of the OPFS backup bench.

export type BenchDatasetKind = 'large-files' | 'small-files';

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
}

/** To the device worker of the two-worker layout. */
export interface DeviceWorkerRequest {
  dataset: BenchDatasetKind;
  port: MessagePort;
}

export interface BackupRunFigures {
  seconds: number;
  files: number;
  bytes: number;
}

export type BackupBenchOutcome = { runs: BackupRunFigures[]; store: string } | { error: string };

declare global {
  interface Window {
    __backupBenchOutcome?: BackupBenchOutcome;
  }
}
