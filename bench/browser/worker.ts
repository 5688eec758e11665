/// <reference lib="webworker" />
// Worker half of the browser mux bench: a virtual iPhone with the bench source, served over a port.
import { serveUsbDeviceOverPort, type MessagePortLike } from '../../src/virtual-iphone/usb/worker-bridge.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { registerBenchServices } from './bench-services.ts';

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;
scope.addEventListener('message', (event: MessageEvent) => {
  const data = event.data as { type?: string; port?: MessagePort };
  if (data.type !== 'serve' || !data.port) return;
  const iphone = new VirtualIPhone();
  registerBenchServices(iphone.ports);
  serveUsbDeviceOverPort(data.port as unknown as MessagePortLike, iphone);
});
