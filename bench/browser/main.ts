// Page half of the browser mux bench: the host stack runs here, the virtual iPhone in a worker.
import { MuxDeviceConnector } from '../../src/usbmux/mux-device-connector.ts';
import { FakeUsb, createFakeUsbWithIPhone } from '../../src/virtual-iphone/usb/fake-usb-device.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { connectWorkerUsbDevice, type MessagePortLike } from '../../src/virtual-iphone/usb/worker-bridge.ts';
import { measureDownload, measureUpload, registerBenchServices, type ConsumerMode } from './bench-services.ts';

import type { ByteStream } from '../../src/core/byte-stream.ts';
import type {} from './harness-types.ts';

async function run(): Promise<number[]> {
  const params = new URLSearchParams(location.search);
  const total = Number(params.get('bytes') ?? 256 * 1024 * 1024);
  const iterations = Number(params.get('runs') ?? 3);
  const consumer: ConsumerMode = params.get('consumer') === 'readInto' ? 'readInto' : 'read';
  const upload = params.get('direction') === 'upload';
  const measure = (connect: (port: number) => Promise<ByteStream>, bytes: number): Promise<number> =>
    upload ? measureUpload(connect, bytes) : measureDownload(connect, bytes, consumer);
  if (params.get('mode') === 'inline') return runInline(total, iterations, measure);
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const channel = new MessageChannel();
  worker.postMessage({ type: 'serve', port: channel.port2 }, [channel.port2]);
  const device = await connectWorkerUsbDevice(channel.port1 as unknown as MessagePortLike);
  const usb = new FakeUsb([device]);
  const tuning = {
    ...(params.has('window') ? { receiveWindow: Number(params.get('window')) } : {}),
    ...(params.has('inflight') ? { transfersInFlight: Number(params.get('inflight')) } : {}),
  };
  const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, log: () => {}, ...tuning });
  await measure((p) => connector.connect(p), 16 * 1024 * 1024); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < iterations; i++) runs.push(await measure((p) => connector.connect(p), total));
  await connector.close();
  device.dispose();
  worker.terminate();
  return runs;
}

/** Same measurement with the virtual iPhone on the page itself (isolates the worker bridge's cost). */
async function runInline(
  total: number,
  iterations: number,
  measure: (connect: (port: number) => Promise<ByteStream>, bytes: number) => Promise<number>,
): Promise<number[]> {
  const iphone = new VirtualIPhone();
  registerBenchServices(iphone.ports);
  const { usb, device } = createFakeUsbWithIPhone(iphone);
  const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, log: () => {} });
  await measure((p) => connector.connect(p), 16 * 1024 * 1024);
  const runs: number[] = [];
  for (let i = 0; i < iterations; i++) runs.push(await measure((p) => connector.connect(p), total));
  await connector.close();
  return runs;
}

run().then(
  (runs) => (window.__benchOutcome = { runs }),
  (error: unknown) => (window.__benchOutcome = { error: error instanceof Error ? `${error.message}\n${error.stack}` : String(error) }),
);
