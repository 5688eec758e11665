import type { ByteStream } from '../core/byte-stream.ts';
import { VirtualDevicePorts } from './virtual-device.ts';
import { VirtualLockdownd } from './lockdownd/lockdownd.ts';
import type { TrustOptions } from './lockdownd/trust.ts';
import type { DeviceKey } from './lockdownd/device-key.ts';
import { buildDeviceValues, resolveProfile, type DeviceProfile, type DeviceValues } from './profile.ts';
import { installBackupServices, type BackupServices, type BackupServicesOptions } from './services/install.ts';

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

  constructor(options: VirtualIPhoneOptions = {}) {
    this.udid = options.udid ?? '00008030-001A2B3C4D5E802E';
    const profileOptions = {
      udid: this.udid,
      productType: options.productType,
      productVersion: options.productVersion,
      deviceName: options.deviceName,
    };
    this.profile = resolveProfile(profileOptions);
    this.values = buildDeviceValues(this.profile, profileOptions);
    this.productId = options.productId ?? this.profile.model.usbProductId;
    this.lockdownd = new VirtualLockdownd(this, { trust: options.trust, ...(options.deviceKey ? { deviceKey: options.deviceKey } : {}) });
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
