import * as Comlink from 'comlink';
import type { ControlMessage, ServeUsbMessage } from '../../../workers/virtual-iphone.worker.ts';
import type { VirtualIPhoneControl } from '../../virtual-iphone/control.ts';
import type { VirtualIPhoneOptions } from '../../virtual-iphone/virtual-iphone.ts';
import { findNamedProfile } from '../../virtual-iphone/profiles.ts';

/**
 * The demo device as a person meets it: an iPhone 14 Pro on iOS 18 with a passcode (so backups ask for it)
 * whose Trust dialog waits for a tap on the simulated screen. KDF rounds are lower than a real device's
 * 10 million so unlocking an encrypted demo backup takes a second, not ten.
 */
const DEMO_DEVICE: VirtualIPhoneOptions = {
  productType: 'iPhone15,2',
  productVersion: '18.6',
  deviceName: 'Ada’s iPhone',
  trust: { response: 'manual' },
  passcode: { timeoutMs: 10 * 60_000 },
  dataset: 'small',
  seed: 7,
  kdf: { dpic: 1_000_000, iter: 10_000 },
};

/**
 * `?profile=NAME` in the page address: demo mode plays that named device profile (another model, an
 * older iOS, an iPad) instead of the demo iPhone; the Chromium e2e tests use it. Unknown names are ignored.
 */
export function demoDeviceOptions(search: string): VirtualIPhoneOptions {
  const name = new URLSearchParams(search).get('profile');
  const named = name ? findNamedProfile(name) : undefined;
  if (!named) return DEMO_DEVICE;
  return {
    profile: named.name,
    trust: { response: 'manual' },
    ...(named.settings.passcode ? { passcode: { timeoutMs: 10 * 60_000 } } : {}),
    dataset: 'small',
    seed: 7,
    kdf: DEMO_DEVICE.kdf,
    timeScale: 0.02,
  };
}

export interface VirtualIPhoneHandle {
  /** Plugs the cable (again): a port to a fresh fake USB device of the same phone, for the device worker. */
  plug(): MessagePort;
  control: Comlink.Remote<VirtualIPhoneControl>;
  stop(): void;
}

/**
 * Demo mode: the virtual iPhone runs in its own worker behind a fake USB device; the port is handed to
 * the device worker, whose real WebUSB/mux/lockdown stack talks to it.
 */
export function startVirtualIPhone(options: VirtualIPhoneOptions = DEMO_DEVICE, replay?: string): VirtualIPhoneHandle {
  const worker = new Worker(new URL('../../../workers/virtual-iphone.worker.ts', import.meta.url), { type: 'module', name: 'virtual-iphone' });
  const plug = (): MessagePort => {
    const usb = new MessageChannel();
    const serve: ServeUsbMessage = { type: 'lifeboat/serve-usb', port: usb.port1, options, ...(replay !== undefined ? { replay } : {}) };
    worker.postMessage(serve, [usb.port1]);
    return usb.port2;
  };
  const first = plug();
  let plugged = false;
  const controlChannel = new MessageChannel();
  const control: ControlMessage = { type: 'lifeboat/control', port: controlChannel.port1 };
  worker.postMessage(control, [controlChannel.port1]);
  return {
    plug: () => (plugged ? plug() : ((plugged = true), first)),
    control: Comlink.wrap<VirtualIPhoneControl>(controlChannel.port2),
    stop: () => worker.terminate(),
  };
}
