/// <reference lib="webworker" />
// Device half of the OPFS bench's two-worker layout: the virtual iPhone with the bench dataset in
// its own worker, served as a USB device over a MessagePort — the way the app's demo mode runs it
// (workers/virtual-iphone.worker.ts), and the way a real iPhone's CPU is not the host's.
import { serveUsbDeviceOverPort, type MessagePortLike } from '../../src/virtual-iphone/usb/worker-bridge.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { benchDataset } from './bench-datasets.ts';
import type { DeviceWorkerRequest } from './protocol.ts';

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;

scope.addEventListener('message', (event: MessageEvent<DeviceWorkerRequest>) => {
  const { dataset, port } = event.data;
  void benchDataset(dataset).then((data) => serveUsbDeviceOverPort(port as unknown as MessagePortLike, new VirtualIPhone({ dataset: data })));
});
