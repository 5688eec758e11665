// MB/s through one MuxConnection, device → host (the backup direction):
// (a) in Node, host stack + fake USB + virtual iPhone in one process;
// (b) in headless Chromium, host stack on the page and the virtual iPhone in a Worker (the app's layout);
// (c) in headless Chromium with both on the page (isolates the worker bridge's cost).
// In Chromium every IN transfer is a fresh 64 KiB ArrayBuffer (as with real WebUSB), and Chromium hands
// freed ArrayBuffer pages back to the OS, so each transfer costs 16 page faults. Where page faults are
// slow (a loaded VM: ~100 µs each was measured) that, not the mux, sets the Chromium figures: with the
// device reusing its packet buffers (a diagnostic only, unsafe for real consumers) (c) ran at 670–2350 MB/s.
import { median, type BenchResult } from './bench-result.ts';
import { runBrowserBench } from './browser/harness.ts';
import { registerBenchServices, measureDownload } from './browser/bench-services.ts';
import { MuxDeviceConnector } from '../src/usbmux/mux-device-connector.ts';
import { createFakeUsbWithIPhone } from '../src/virtual-iphone/usb/fake-usb-device.ts';
import { VirtualIPhone } from '../src/virtual-iphone/virtual-iphone.ts';

const TARGET_MBPS = 400;
const RUNS = 3;
const BYTES = 256 * 1024 * 1024;

async function nodeInProcess(): Promise<number[]> {
  const iphone = new VirtualIPhone();
  registerBenchServices(iphone.ports);
  const { usb, device } = createFakeUsbWithIPhone(iphone);
  const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, log: () => {} });
  const connect = (port: number) => connector.connect(port);
  await measureDownload(connect, 32 * 1024 * 1024); // warm-up (JIT)
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measureDownload(connect, BYTES));
  await connector.close();
  return runs;
}

export default async function muxBench(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const node = await nodeInProcess();
  console.log(`  mux node in-process runs (MB/s): ${node.map((v) => v.toFixed(0)).join(', ')}`);
  results.push({ name: 'mux download, Node in-process (fake USB + virtual iPhone)', value: median(node), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  const inline = await runBrowserBench(`index.html?mode=inline&runs=${RUNS}&bytes=${BYTES}`);
  console.log(`  mux chromium in-page runs (MB/s): ${inline.map((v) => v.toFixed(0)).join(', ')}`);
  results.push({ name: 'mux download, Chromium, virtual iPhone on the page', value: median(inline), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  const browser = await runBrowserBench(`index.html?mode=worker&runs=${RUNS}&bytes=${BYTES}`);
  console.log(`  mux chromium+worker runs (MB/s): ${browser.map((v) => v.toFixed(0)).join(', ')}`);
  results.push({ name: 'mux download, Chromium page ↔ virtual iPhone in a Worker', value: median(browser), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  return results;
}
