import type { ByteStream } from '../core/byte-stream.ts';
import { VirtualDevicePorts } from './virtual-device.ts';
import { VirtualLockdownd } from './lockdownd/lockdownd.ts';
import type { TrustOptions } from './lockdownd/trust.ts';
import type { DeviceKey } from './lockdownd/device-key.ts';
import { buildDeviceValues, resolveProfile, type DeviceProfile, type DeviceValues } from './profile.ts';
import { installBackupServices, type BackupServices, type BackupServicesOptions } from './services/install.ts';
import { namedProfile, type NamedProfile } from './profiles.ts';

/** Handles one connection to a started service (device end of the stream). */
export type ServiceHandler = (stream: ByteStream) => void;

export interface VirtualIPhoneOptions extends BackupServicesOptions {
  /** Defaults to a fixed new-style UDID so tests and demo mode are reproducible. */
  udid?: string;
  /** USB product id reported to hosts (0x12A8 = iPhone). */
  productId?: number;
  /** Model identifier the device profile reports, e.g. "iPhone15,2" (`--model`). */
  productType?: string;
  /** iOS version the device profile reports, e.g. "17.5" (`--ios`). */
  productVersion?: string;
  /** DeviceName, e.g. "Ada’s iPhone". */
  deviceName?: string;
  /** How the Trust dialog and passcode lock behave (default: Trust tapped at once, unlocked). */
  trust?: TrustOptions;
  /** The device's RSA identity (default: one shared per process); a remembered phone passes its own. */
  deviceKey?: Promise<DeviceKey>;
  /** A named profile (`--profile`, src/virtual-iphone/profiles.ts); options given here win over its settings. */
  profile?: string;
  /** Capacity in GB (one the model is sold with). */
  storageGb?: number;
  /** Fraction of the data partition in use, 0..1. */
  usedFraction?: number;
  /** OpenSSL cipher list the device's TLS accepts (default: OpenSSL's). */
  tlsCiphers?: string;
}

/** The UDID a VirtualIPhone built with `options` will have (its profile's, or the default). */
export function resolveUdid(options: VirtualIPhoneOptions): string {
  return withProfile(options).options.udid ?? DEFAULT_UDID;
}

const DEFAULT_UDID = '00008030-001A2B3C4D5E802E';

/** The profile's settings as options, under the ones given explicitly. */
function withProfile(options: VirtualIPhoneOptions): { options: VirtualIPhoneOptions; named: NamedProfile | undefined } {
  if (options.profile === undefined) return { options, named: undefined };
  const named = namedProfile(options.profile);
  const s = named.settings;
  const fromProfile: VirtualIPhoneOptions = {
    productType: s.productType,
    productVersion: s.productVersion,
    ...(s.udid !== undefined ? { udid: s.udid } : {}),
    ...(s.storageGb !== undefined ? { storageGb: s.storageGb } : {}),
    ...(s.usedFraction !== undefined ? { usedFraction: s.usedFraction } : {}),
    ...(s.deviceName !== undefined ? { deviceName: s.deviceName } : {}),
    ...(s.behaviour !== undefined ? { behaviour: s.behaviour } : {}),
    ...(s.files !== undefined ? { files: s.files } : {}),
    ...(s.passcode ? { passcode: true } : {}),
    ...(s.tlsCiphers !== undefined ? { tlsCiphers: s.tlsCiphers } : {}),
  };
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as VirtualIPhoneOptions;
  return { options: { ...fromProfile, ...given }, named };
}

/**
 * The composition root of the simulated device: its port table, its lockdownd and the services
 * lockdownd can start. Transports (fake WebUSB device, usbmuxd socket front) only see `ports`.
 */
export class VirtualIPhone {
  readonly ports = new VirtualDevicePorts();
  readonly udid: string;
  readonly productId: number;
  /** Service name → handler; lockdownd's StartService looks services up here. */
  readonly services = new Map<string, ServiceHandler>();
  /** Model, iOS release and capacity this device pretends to be. */
  readonly profile: DeviceProfile;
  /** Live lockdown values (mutable: tests flip WillEncrypt, battery, free space). */
  readonly values: DeviceValues;
  readonly lockdownd: VirtualLockdownd;
  /** Dataset, notification bus, AFC media, passcode sheet and mobilebackup2 state. */
  readonly backup: BackupServices;

  /** The named profile this device was built from, if any. */
  readonly namedProfile: NamedProfile | undefined;

  constructor(givenOptions: VirtualIPhoneOptions = {}) {
    const { options, named } = withProfile(givenOptions);
    this.namedProfile = named;
    this.udid = options.udid ?? DEFAULT_UDID;
    const profileOptions = {
      udid: this.udid,
      productType: options.productType,
      productVersion: options.productVersion,
      deviceName: options.deviceName,
      storageGb: options.storageGb,
      usedFraction: options.usedFraction,
    };
    this.profile = resolveProfile(profileOptions);
    this.values = buildDeviceValues(this.profile, profileOptions);
    this.productId = options.productId ?? this.profile.model.usbProductId;
    this.lockdownd = new VirtualLockdownd(this, {
      trust: options.trust,
      ...(options.deviceKey ? { deviceKey: options.deviceKey } : {}),
      ...(options.tlsCiphers ? { tlsCiphers: options.tlsCiphers } : {}),
    });
    this.lockdownd.listen();
    this.backup = installBackupServices(this, options);
  }

  private readonly rebootListeners = new Set<() => void>();
  private boots = 0;

  /** Reboots since this object was made (a restore without reboot blocks the next restore until one). */
  get bootCount(): number {
    return this.boots;
  }

  /**
   * Restarts the phone (after a restore with RestoreShouldReboot): every open connection drops, and
   * transports that care (a usbmuxd front) hear about it to show a detach/attach; services listen again at once.
   */
  reboot(): void {
    this.boots++;
    this.ports.dropConnections();
    for (const listener of [...this.rebootListeners]) listener();
  }

  /** Calls `listener` after each reboot; returns the unsubscribe function. */
  onReboot(listener: () => void): () => void {
    this.rebootListeners.add(listener);
    return () => this.rebootListeners.delete(listener);
  }

  /** The person types the passcode on the phone (answers a pending passcode sheet). */
  enterPasscode(): void {
    this.backup.passcode?.enter();
  }

  registerService(name: string, handler: ServiceHandler): void {
    this.services.set(name, handler);
  }
}
