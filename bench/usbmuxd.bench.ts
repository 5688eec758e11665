import type { ByteStream } from '../src/core/byte-stream.ts';
import { UsbmuxdClient } from '../src/usbmux/node/usbmuxd-client.ts';
import { startVirtualUsbmuxd } from '../tests/helpers/virtual-usbmuxd.ts';
import { median, type BenchResult } from './bench-result.ts';

const TOTAL = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;
const RUNS = 5;

/** MB/s (10^6 B/s) device→host through the usbmuxd socket, the path idevicebackup2 and the CLI use. */
async function downloadRate(tcp: boolean): Promise<number> {
  const vu = await startVirtualUsbmuxd({ tcp });
  try {
    const chunk = new Uint8Array(CHUNK).fill(0x5a);
    vu.iphone.ports.listen(7100, (device: ByteStream) => {
      void (async () => {
        for (let sent = 0; sent < TOTAL; sent += CHUNK) await device.write(chunk);
        await device.close();
      })();
    });
    const rates: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const stream = await new UsbmuxdClient({ address: vu.address }).connect(vu.deviceId, 7100);
      let received = 0;
      for (;;) {
        const data = await stream.read();
        if (data === null) break;
        received += data.byteLength;
      }
      if (received !== TOTAL) throw new Error(`received ${received} of ${TOTAL} bytes`);
      rates.push(TOTAL / 1e6 / ((performance.now() - started) / 1000));
    }
    return median(rates);
  } finally {
    await vu.close();
  }
}

export default async function (): Promise<BenchResult[]> {
  return [
    { name: 'usbmuxd socket device→host (unix)', value: await downloadRate(false), unit: 'MB/s', target: 200, better: 'higher' },
    { name: 'usbmuxd socket device→host (tcp loopback)', value: await downloadRate(true), unit: 'MB/s', target: 200, better: 'higher' },
  ];
}
