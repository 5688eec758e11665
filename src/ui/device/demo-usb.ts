/**
 * Demo mode's stand-in for WebUSB's permission model, so the virtual iPhone behaves as a real one does in
 * Chrome: picking it once ("Try the virtual iPhone", the demo's chooser) grants this origin the device for
 * good; afterwards `getDevices()` lists it whenever its cable is plugged in, and plugging or pulling the
 * cable fires `connect` / `disconnect`. Chrome keeps grants across reloads; so does this (localStorage),
 * together with whether the demo phone was left plugged in.
 */
export interface AllowedDevice {
  vendorId: number;
  productId: number;
  serialNumber: string;
}

/** The demo phone as USB sees it (an iPhone 14 Pro in normal mode; the serial number is its UDID). */
export const DEMO_USB_DEVICE: AllowedDevice = { vendorId: 0x05ac, productId: 0x12a8, serialNumber: '00008120001A2B3C4D5E802E' };

const STORAGE_KEY = 'lifeboat.demoUsb';

interface Saved {
  granted: boolean;
  plugged: boolean;
}

export type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem'>;

export class DemoUsb extends EventTarget {
  private state: Saved;

  constructor(private readonly storage: KeyValueStorage | undefined = globalThis.localStorage) {
    super();
    this.state = readSaved(storage);
  }

  /** The demo's chooser: the person picked the virtual iPhone, which is now allowed and plugged in. */
  requestDevice(): AllowedDevice {
    this.save({ granted: true, plugged: true });
    return DEMO_USB_DEVICE;
  }

  /** Devices this origin was allowed before and that are plugged in now, as navigator.usb.getDevices(). */
  getDevices(): AllowedDevice[] {
    return this.state.granted && this.state.plugged ? [DEMO_USB_DEVICE] : [];
  }

  get granted(): boolean {
    return this.state.granted;
  }

  /** The cable goes back in: an allowed device announces itself with `connect`. */
  plug(): void {
    this.save({ ...this.state, plugged: true });
    if (this.state.granted) this.dispatchEvent(new DemoUsbConnectionEvent('connect', DEMO_USB_DEVICE));
  }

  /** The cable is pulled. */
  unplug(): void {
    const wasPlugged = this.state.plugged;
    this.save({ ...this.state, plugged: false });
    if (wasPlugged && this.state.granted) this.dispatchEvent(new DemoUsbConnectionEvent('disconnect', DEMO_USB_DEVICE));
  }

  /** The person disconnected the demo: the phone leaves the desk (still allowed, no longer plugged in). */
  putAway(): void {
    this.save({ ...this.state, plugged: false });
  }

  /** Revokes the grant, as USBDevice.forget(): the chooser is needed again. */
  forget(): void {
    this.save({ granted: false, plugged: false });
  }

  private save(state: Saved): void {
    this.state = state;
    try {
      this.storage?.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch {
      // Storage full or blocked: the grant lasts for this page only, as in a private window.
    }
  }
}

export class DemoUsbConnectionEvent extends Event {
  constructor(
    type: 'connect' | 'disconnect',
    readonly device: AllowedDevice,
  ) {
    super(type);
  }
}

function readSaved(storage: KeyValueStorage | undefined): Saved {
  try {
    const raw: unknown = JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null');
    if (raw && typeof raw === 'object') {
      const { granted, plugged } = raw as Partial<Saved>;
      return { granted: granted === true, plugged: plugged === true };
    }
  } catch {
    // Unreadable: as if never granted.
  }
  return { granted: false, plugged: false };
}
