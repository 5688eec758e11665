import type { CampaignResult } from './campaign.ts';

/** What the runner and its fuzz workers exchange. */
export interface WorkerJob {
  parser: string;
  executions: number;
}

export interface WorkerInput {
  jobs: WorkerJob[];
  seed: number;
  /** Int32 [0] executions started in this job, [1] input length, [2] 1 when the input was cut, [3] job index; bytes from offset 16. */
  shared: SharedArrayBuffer;
}

export const SHARED_HEADER_BYTES = 16;

export type WorkerMessage =
  | { type: 'finding'; parser: string; kind: string; signature: string; message: string; ms: number; input: Uint8Array }
  | { type: 'done'; parser: string; result: CampaignResult; slowestInput: Uint8Array | undefined };
