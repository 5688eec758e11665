import { isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';
import type { LockdownClient } from './lockdown-client.ts';
import { productName } from './product-names.ts';

/** What the UI and CLI show about a device. Numbers are bytes or percent. */
export interface DeviceInfo {
  udid: string;
  deviceName: string;
  productType: string;
  /** Marketing name, e.g. "iPhone 14 Pro". */
  productName: string;
  productVersion: string;
  buildVersion: string;
  deviceClass: string;
  serialNumber?: string;
  phoneNumber?: string;
  wifiAddress?: string;
  totalCapacity?: number;
  availableCapacity?: number;
  batteryLevel?: number;
  batteryCharging?: boolean;
  /** com.apple.mobile.backup WillEncrypt: backups are encrypted on the device side. */
  willEncrypt?: boolean;
  /** The raw root dictionary, for `info --all`. */
  values: PlistDict;
}

const str = (v: PlistValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: PlistValue | undefined): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);

async function optionalDomain(client: LockdownClient, domain: string): Promise<PlistDict> {
  try {
    const value = await client.getValue(domain);
    return isPlistDict(value) ? value : {};
  } catch {
    return {};
  }
}

/**
 * Reads device info. With a session (after trust) it adds disk usage, battery and backup
 * encryption; without, only the reduced set a device shows to strangers.
 */
export async function readDeviceInfo(client: LockdownClient): Promise<DeviceInfo> {
  const rootValue = await client.getValue();
  const root = isPlistDict(rootValue) ? rootValue : {};
  const productType = str(root.ProductType) ?? 'unknown';
  const info: DeviceInfo = {
    udid: str(root.UniqueDeviceID) ?? client.udid,
    deviceName: str(root.DeviceName) ?? '',
    productType,
    productName: productName(productType),
    productVersion: str(root.ProductVersion) ?? '',
    buildVersion: str(root.BuildVersion) ?? '',
    deviceClass: str(root.DeviceClass) ?? '',
    values: root,
  };
  const optional: Partial<DeviceInfo> = {
    serialNumber: str(root.SerialNumber),
    phoneNumber: str(root.PhoneNumber),
    wifiAddress: str(root.WiFiAddress),
  };
  if (client.inSession) {
    const disk = await optionalDomain(client, 'com.apple.disk_usage');
    const battery = await optionalDomain(client, 'com.apple.mobile.battery');
    const backup = await optionalDomain(client, 'com.apple.mobile.backup');
    optional.totalCapacity = num(disk.TotalDiskCapacity);
    optional.availableCapacity = num(disk.AmountDataAvailable) ?? num(disk.TotalDataAvailable);
    optional.batteryLevel = num(battery.BatteryCurrentCapacity);
    optional.batteryCharging = typeof battery.BatteryIsCharging === 'boolean' ? battery.BatteryIsCharging : undefined;
    optional.willEncrypt = typeof backup.WillEncrypt === 'boolean' ? backup.WillEncrypt : undefined;
  }
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (info as unknown as Record<string, unknown>)[k] = v;
  return info;
}
