/**
 * A file open for synchronous reads into memory the caller owns (in a browser, an OPFS sync access
 * handle opened read-only): no Blob, no stream, no copy in between. Close it when done: while it is
 * open, others may not write or remove the file.
 */
export interface FileRead {
  readonly size: number;
  /** Reads into `into` from byte `at` of the file; how many bytes were read (fewer only at its end). */
  read(into: Uint8Array, at: number): number;
  close(): void;
}
