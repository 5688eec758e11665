import { writeFileSync } from 'node:fs';
import { LifeboatError } from '../../core/errors.ts';
import { UsbmuxdServer } from '../../usbmux/node/usbmuxd-server.ts';
import { STREAMED_TRUTH_SIZES } from '../dataset/dataset.ts';
import { writeTruthLines } from '../dataset/truth-lines.ts';
import { VirtualIPhone } from '../virtual-iphone.ts';
import { parseVirtualIPhoneArgs, virtualIPhoneUsage } from './options.ts';

/**
 * `npm run virtual-iphone`: a simulated iPhone that libimobiledevice's tools and Lifeboat's CLI can
 * reach through USBMUXD_SOCKET_ADDRESS. Serves until SIGINT/SIGTERM (or, under npm, until npm is killed),
 * then removes its socket.
 */
async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseVirtualIPhoneArgs(argv);
  } catch (error) {
    reportError(error);
    process.stderr.write(`${virtualIPhoneUsage()}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${virtualIPhoneUsage()}\n`);
    return 0;
  }

  const iphone = new VirtualIPhone(parsed.iphoneOptions);
  if (parsed.truth) {
    const dataset = await iphone.backup.dataset();
    const encrypted = iphone.backup.state.encryption !== null || parsed.iphoneOptions.backupPassword !== undefined;
    if (STREAMED_TRUTH_SIZES.includes(dataset.size)) {
      const count = await writeTruthLines(dataset, encrypted, parsed.truth);
      process.stdout.write(`Wrote ${count} truth entries (JSON lines) to ${parsed.truth}\n`);
    } else {
      const truth = await dataset.truth(encrypted);
      writeFileSync(parsed.truth, JSON.stringify(truth, null, 1));
      process.stdout.write(`Wrote ${truth.length} truth entries to ${parsed.truth}\n`);
    }
  }
  const server = new UsbmuxdServer(parsed.state ? { stateDir: parsed.state } : {});
  server.attach(iphone);
  const address = await server.listen(parsed.usbmuxd);
  process.stdout.write(
    `Virtual iPhone ${iphone.udid} is serving at ${address} — point tools at it with: USBMUXD_SOCKET_ADDRESS=${address} ideviceinfo\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // `npm run virtual-iphone`: npm passes a kill on to its `sh -c`, which dies without passing it on,
    // leaving this process orphaned. Started by npm, being re-parented means "stop".
    if (process.env['npm_lifecycle_event'] === 'virtual-iphone') {
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent) stop();
      }, 500).unref();
    }
  });
  await server.close();
  return 0;
}

function reportError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  if (error instanceof LifeboatError && error.action) process.stderr.write(`${error.action}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    reportError(error);
    process.exit(1);
  },
);
