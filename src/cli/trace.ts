import { writeFile } from 'node:fs/promises';
import { release, type as osType } from 'node:os';
import { recorderTap, type TraceTap } from '../diagnostics/stream-tap.ts';
import { TraceRecorder } from '../diagnostics/trace-recorder.ts';
import type { AttachedDevice } from '../usbmux/device-connector.ts';
import type { CliCommand, ParsedArgs } from './args.ts';

const CLI_VERSION = '0.1.0';

/**
 * `--trace FILE`: runs the command with a diagnostics recorder and writes the redacted trace to FILE
 * when it ends, also when it fails (the error, with its code and stack, is the last event).
 */
export async function runTraced(command: CliCommand, args: ParsedArgs, file: string): Promise<number> {
  const recorder = new TraceRecorder({
    app: `lifeboat-cli ${CLI_VERSION} (${command.name})`,
    runtime: `Node ${process.versions.node}`,
    os: `${osType()} ${release()} ${process.arch}`,
  });
  let code = 1;
  try {
    code = await command.run({ ...args, trace: recorder });
    return code;
  } catch (error) {
    recorder.error(error);
    throw error;
  } finally {
    if (code !== 0) recorder.note(`the command exited with status ${code}`);
    await writeFile(file, recorder.text());
    args.io.err(`Wrote the diagnostics trace (${recorder.eventCount} events) to ${file}\n`);
  }
}

/** The tap a command's device connection reports to; the device's UDID is hashed from the first event on. */
export function cliTraceTap(recorder: TraceRecorder, device: AttachedDevice): TraceTap {
  const udid = recorder.redactor.identifier(device.udid);
  recorder.add({ kind: 'device', udid, productId: device.productId, connection: device.connectionType });
  return recorderTap(recorder);
}
