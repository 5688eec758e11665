import type { VirtualIPhone } from './virtual-iphone.ts';

/** What the demo's simulated phone screen shows. */
export interface VirtualIPhoneScreenState {
  deviceName: string;
  /** "Trust This Computer?" is on screen. */
  trustPrompt: boolean;
  /** Passcode-locked: the Trust dialog cannot appear until unlocked. */
  locked: boolean;
  /** The backup passcode sheet (iOS ≥ 16.1) is on screen. */
  passcodePrompt: boolean;
  /** Find My iPhone (blocks restores). */
  findMy: boolean;
  plugged: boolean;
}

/**
 * The person's hands on the virtual iPhone: tap Trust, type the passcode, unplug the cable. Exposed
 * from the virtual iPhone worker to the demo's phone panel and to Playwright.
 */
/** The cable end the control can pull: the USB device currently served to the host. */
export interface VirtualCable {
  readonly isUnplugged: boolean;
  unplug(): void;
}

export class VirtualIPhoneControl {
  constructor(
    private readonly iphone: VirtualIPhone,
    /** The USB device plugged in right now (a replug serves a new one). */
    private readonly cable: () => VirtualCable | undefined,
  ) {}

  state(): VirtualIPhoneScreenState {
    const trust = this.iphone.lockdownd.trust;
    const root = this.iphone.values.root;
    return {
      deviceName: typeof root['DeviceName'] === 'string' ? root['DeviceName'] : 'iPhone',
      trustPrompt: trust.isShowing && !trust.locked,
      locked: trust.locked,
      passcodePrompt: this.iphone.backup.passcode?.presented ?? false,
      findMy: this.iphone.values.domains['com.apple.fmip']?.['IsAssociated'] === true,
      plugged: this.cable()?.isUnplugged === false,
    };
  }

  respondTrust(answer: 'accept' | 'deny'): void {
    this.iphone.lockdownd.trust.respond(answer);
  }

  setLocked(locked: boolean): void {
    if (locked) this.iphone.lockdownd.trust.lock();
    else this.iphone.lockdownd.trust.unlock();
  }

  enterPasscode(): void {
    this.iphone.enterPasscode();
  }

  setFindMy(on: boolean): void {
    this.iphone.values.domains['com.apple.fmip'] ??= {};
    this.iphone.values.domains['com.apple.fmip']['IsAssociated'] = on;
  }

  /** Changes some of the phone's data (new photos, edited notes, deleted files) before the next backup. */
  async changeData(seed: number): Promise<void> {
    (await this.iphone.backup.dataset()).mutate(seed, { everyday: true });
  }

  unplug(): void {
    this.cable()?.unplug();
  }
}
