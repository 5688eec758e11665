// MB/s through one MuxConnection, device → host (the backup direction):
// (a) in Node, host stack + fake USB + virtual iPhone in one process;
// (b) in headless Chromium, host stack on the page and the virtual iPhone in a Worker (the app's layout);
// (c) in headless Chromium with both on the page (isolates the worker bridge's cost).
// Each with two consumers. `read()`: the consumer owns every chunk (ByteStream's contract), so every
// IN transfer is fresh memory, as with real WebUSB. `readInto()`: the consumer copies into its own
// buffer, the host hands each transfer back and the device builds later packets in it (TransferLease →
// WebUsbMuxTransport.release → the fake device's TransferBufferPool; across the worker by transfer).
// Why it matters here: on this VM Chromium pays tens of µs per 4 KiB page of fresh ArrayBuffer memory
// (a bare `new Uint8Array(65536)` + fill loop runs at 55–120 MB/s; a reused one at ~18 GB/s), which caps
// the read() figures near 100 MB/s whatever the mux does.
import { median, type BenchResult } from './bench-result.ts';
import { runBrowserBench } from './browser/harness.ts';
import { registerBenchServices, measureDownload, measureUpload, type ConsumerMode } from './browser/bench-services.ts';
import { MuxDeviceConnector } from '../src/usbmux/mux-device-connector.ts';
import { createFakeUsbWithIPhone } from '../src/virtual-iphone/usb/fake-usb-device.ts';
import { VirtualIPhone } from '../src/virtual-iphone/virtual-iphone.ts';

const TARGET_MBPS = 400;
const RUNS = 3;
const BYTES = 256 * 1024 * 1024;

async function nodeInProcess(consumer: ConsumerMode | 'upload'): Promise<number[]> {
  const iphone = new VirtualIPhone();
  registerBenchServices(iphone.ports);
  const { usb, device } = createFakeUsbWithIPhone(iphone);
  const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, log: () => {} });
  const connect = (port: number) => connector.connect(port);
  const measure = (bytes: number) => (consumer === 'upload' ? measureUpload(connect, bytes) : measureDownload(connect, bytes, consumer));
  await measure(32 * 1024 * 1024); // warm-up (JIT)
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measure(BYTES));
  await connector.close();
  return runs;
}

const CONSUMER_LABEL: Record<ConsumerMode, string> = { read: 'consumer owns chunks (read)', readInto: 'consumer copies out (readInto)' };

export default async function muxBench(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const report = (name: string, consumer: ConsumerMode, runs: number[]): void => {
    console.log(`  ${name}, ${consumer} runs (MB/s): ${runs.map((v) => v.toFixed(0)).join(', ')}`);
    results.push({ name: `${name}, ${CONSUMER_LABEL[consumer]}`, value: median(runs), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  };
  for (const consumer of ['read', 'readInto'] as const) {
    report('mux download, Node in-process (fake USB + virtual iPhone)', consumer, await nodeInProcess(consumer));
  }
  for (const consumer of ['read', 'readInto'] as const) {
    const query = `runs=${RUNS}&bytes=${BYTES}&consumer=${consumer}`;
    report('mux download, Chromium, virtual iPhone on the page', consumer, await runBrowserBench(`index.html?mode=inline&${query}`));
    report('mux download, Chromium page ↔ virtual iPhone in a Worker', consumer, await runBrowserBench(`index.html?mode=worker&${query}`));
  }
  // Host → device, 256 KiB writes: what an incremental backup spends handing the phone its previous Manifest.db.
  const upload = (name: string, runs: number[]): void => {
    console.log(`  ${name} runs (MB/s): ${runs.map((v) => v.toFixed(0)).join(', ')}`);
    results.push({ name, value: median(runs), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  };
  upload('mux upload (host → device), Node in-process', await nodeInProcess('upload'));
  const query = `runs=${RUNS}&bytes=${BYTES}&direction=upload`;
  upload('mux upload (host → device), Chromium, virtual iPhone on the page', await runBrowserBench(`index.html?mode=inline&${query}`));
  upload('mux upload (host → device), Chromium page ↔ virtual iPhone in a Worker', await runBrowserBench(`index.html?mode=worker&${query}`));
  return results;
}
