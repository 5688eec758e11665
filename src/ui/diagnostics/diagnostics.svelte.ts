import { connectReplay, deviceWorker } from '../device/device-session.svelte.ts';

/** Whether the Diagnostics view is open; any error message or the device panel opens it. */
export const diagnostics = $state<{ open: boolean }>({ open: false });

export function openDiagnostics(): void {
  diagnostics.open = true;
}

export function closeDiagnostics(): void {
  diagnostics.open = false;
}

/** The device worker's trace (it records from the first connection on). */
export function readTrace(): Promise<string> {
  return deviceWorker().getTrace();
}

/** `lifeboat-trace-2026-12-03T07-58-12.jsonl` */
export function traceFileName(now = new Date()): string {
  return `lifeboat-trace-${now.toISOString().slice(0, 19).replaceAll(':', '-')}.jsonl`;
}

/** Serves a trace file as the demo device (the Device tab then talks to the replay). */
export async function replayTraceFile(file: File): Promise<void> {
  const text = await file.text();
  closeDiagnostics();
  await connectReplay(text);
}
