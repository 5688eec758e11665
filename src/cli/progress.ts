import type { ParsedArgs } from './args.ts';

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Shared shape of backup and restore progress, enough for one status line. */
export interface TransferProgress {
  stageText: string;
  percent: number | null;
  bytes: number;
  files: number;
  bytesPerSecond: number;
  etaSeconds?: number | null;
}

export function transferLine(p: TransferProgress): string {
  const parts = [p.stageText];
  if (p.percent !== null) parts.push(`${p.percent.toFixed(0)}%`);
  if (p.bytes > 0) parts.push(`${megabytes(p.bytes)} in ${p.files} files`, `${megabytes(p.bytesPerSecond)}/s`);
  if (p.etaSeconds !== null && p.etaSeconds !== undefined) parts.push(`about ${Math.ceil(p.etaSeconds)} s left`);
  return parts.join(' · ');
}

/**
 * What a long-running command needs around it: Ctrl-C turns into a clean cancel (the device is told,
 * staged data kept), and progress is one line on stderr that rewrites itself.
 */
export function longRunning(args: ParsedArgs): { signal: AbortSignal; status(line: string): void; done(): void } {
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  let last = '';
  return {
    signal: ac.signal,
    status(line: string) {
      if (line !== last) args.io.err(`\r${line.padEnd(last.length)}`);
      last = line;
    },
    done() {
      process.off('SIGINT', onSigint);
      if (last) args.io.err('\n');
      last = '';
    },
  };
}
