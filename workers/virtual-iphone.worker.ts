/// <reference lib="webworker" />
// The virtual iPhone in its own worker (demo mode, Playwright). The page sends
// `{ type: 'lifeboat/serve-usb', port, options }` and builds its USBDevice proxy with
// `connectWorkerUsbDevice(otherPort)` (src/virtual-iphone/usb/worker-bridge.ts); and
// `{ type: 'lifeboat/control', port }` to get the person's hands on the phone (VirtualIPhoneControl, via Comlink).
// Like a real phone, it remembers its key, trusted hosts and backup keybag across page reloads.
import * as Comlink from 'comlink';
import { serveUsbDeviceOverPort, type MessagePortLike, type ServedUsbDevice } from '../src/virtual-iphone/usb/worker-bridge.ts';
import { VirtualIPhone, type VirtualIPhoneOptions } from '../src/virtual-iphone/virtual-iphone.ts';
import { VirtualIPhoneControl } from '../src/virtual-iphone/control.ts';
import { VirtualIPhoneMemory } from '../src/virtual-iphone/memory.ts';
import { ReplayDevice } from '../src/virtual-iphone/replay/replay-device.ts';

export interface ServeUsbMessage {
  type: 'lifeboat/serve-usb';
  port: MessagePort;
  options?: VirtualIPhoneOptions;
  /** A diagnostics trace to serve as the device instead of the simulation (src/virtual-iphone/replay). */
  replay?: string;
}

export interface ControlMessage {
  type: 'lifeboat/control';
  port: MessagePort;
}

const DEFAULT_UDID = '00008120-001A2B3C4D5E802E';
const REMEMBER_EVERY_MS = 500;
const scope = globalThis as unknown as DedicatedWorkerGlobalScope;
let phone: Promise<{ iphone: VirtualIPhone; served: { current?: ServedUsbDevice } }> | undefined;

async function buildPhone(options: VirtualIPhoneOptions = {}, replay?: string): Promise<{ iphone: VirtualIPhone; served: { current?: ServedUsbDevice } }> {
  if (replay !== undefined) {
    const device = ReplayDevice.fromTrace(replay, { onFailure: (error) => console.error(`[replay] ${error.message}`) });
    return { iphone: device.iphone, served: {} };
  }
  const udid = options.udid ?? DEFAULT_UDID;
  const memory = await VirtualIPhoneMemory.open(udid);
  const iphone = new VirtualIPhone({ ...options, udid, deviceKey: memory.deviceKey() });
  await memory.restoreInto(iphone);
  setInterval(() => void memory.saveIfChanged(iphone), REMEMBER_EVERY_MS);
  iphone.lockdownd.onTrustChange(() => void memory.saveIfChanged(iphone));
  return { iphone, served: {} };
}

scope.addEventListener('message', (event: MessageEvent) => {
  const message = event.data as Partial<ServeUsbMessage | ControlMessage> | undefined;
  if (!message?.port) return;
  const port = message.port;
  if (message.type === 'lifeboat/serve-usb') {
    phone ??= buildPhone((message as ServeUsbMessage).options, (message as ServeUsbMessage).replay);
    // A second serve-usb is a replug: the same phone (its data, its trusted hosts) on a fresh USB device.
    void phone.then(({ iphone, served }) => {
      served.current?.close();
      served.current = serveUsbDeviceOverPort(port as unknown as MessagePortLike, iphone);
    });
  } else if (message.type === 'lifeboat/control') {
    if (!phone) throw new Error('serve the device before asking for its controls');
    void phone.then(({ iphone, served }) => Comlink.expose(new VirtualIPhoneControl(iphone, () => served.current?.device), port));
  }
});
