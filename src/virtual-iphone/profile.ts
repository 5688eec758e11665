import type { PlistDict, PlistValue } from '../plist/index.ts';

/**
 * Who the virtual iPhone pretends to be: a table of real models and iOS builds, and the lockdown
 * values a device of that kind reports. Values are plain mutable dicts so tests and demo mode can
 * flip things (WillEncrypt, battery, free space) while the device runs.
 */

export interface DeviceModel {
  readonly productType: string;
  readonly marketingName: string;
  readonly hardwareModel: string;
  readonly deviceClass: 'iPhone' | 'iPad';
  /** USB idProduct the device enumerates with. */
  readonly usbProductId: number;
  /** Apple part number without the region suffix, e.g. MQ0D3 (as ModelNumber reports it). */
  readonly modelNumber: string;
  /** Offered capacities in GB (decimal, as Apple sells them). */
  readonly storageGb: readonly number[];
  readonly chipId: number;
  /** Lower-case SoC name reported as HardwarePlatform. */
  readonly hardwarePlatform: string;
  readonly cpuArchitecture: 'arm64' | 'arm64e';
  readonly boardId: number;
  /** iOS major versions this model can run, inclusive. */
  readonly iosMajor: readonly [number, number];
  readonly cellular: boolean;
}

const IPHONE_USB_PID = 0x12a8;
const IPAD_USB_PID = 0x12ab;

export const DEVICE_MODELS: readonly DeviceModel[] = [
  { productType: 'iPhone8,1', marketingName: 'iPhone 6s', hardwareModel: 'N71AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MKQJ2', storageGb: [16, 32, 64, 128], chipId: 0x8000, hardwarePlatform: 's8000', cpuArchitecture: 'arm64', boardId: 0x04, iosMajor: [9, 15], cellular: true },
  { productType: 'iPhone9,3', marketingName: 'iPhone 7', hardwareModel: 'D101AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MN8X2', storageGb: [32, 128, 256], chipId: 0x8010, hardwarePlatform: 't8010', cpuArchitecture: 'arm64', boardId: 0x0c, iosMajor: [10, 15], cellular: true },
  { productType: 'iPad7,5', marketingName: 'iPad (6th generation)', hardwareModel: 'J71bAP', deviceClass: 'iPad', usbProductId: IPAD_USB_PID, modelNumber: 'MR7F2', storageGb: [32, 128], chipId: 0x8010, hardwarePlatform: 't8010', cpuArchitecture: 'arm64', boardId: 0x1a, iosMajor: [11, 17], cellular: false },
  { productType: 'iPhone10,6', marketingName: 'iPhone X', hardwareModel: 'D221AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MQA52', storageGb: [64, 256], chipId: 0x8015, hardwarePlatform: 't8015', cpuArchitecture: 'arm64', boardId: 0x0e, iosMajor: [11, 16], cellular: true },
  { productType: 'iPhone12,1', marketingName: 'iPhone 11', hardwareModel: 'N104AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MWLT2', storageGb: [64, 128, 256], chipId: 0x8030, hardwarePlatform: 't8030', cpuArchitecture: 'arm64e', boardId: 0x04, iosMajor: [13, 18], cellular: true },
  { productType: 'iPhone13,2', marketingName: 'iPhone 12', hardwareModel: 'D53gAP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MGJ53', storageGb: [64, 128, 256], chipId: 0x8101, hardwarePlatform: 't8101', cpuArchitecture: 'arm64e', boardId: 0x0a, iosMajor: [14, 18], cellular: true },
  { productType: 'iPhone14,5', marketingName: 'iPhone 13', hardwareModel: 'D17AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MLPF3', storageGb: [128, 256, 512], chipId: 0x8110, hardwarePlatform: 't8110', cpuArchitecture: 'arm64e', boardId: 0x0e, iosMajor: [15, 18], cellular: true },
  { productType: 'iPhone15,2', marketingName: 'iPhone 14 Pro', hardwareModel: 'D73AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MQ0D3', storageGb: [128, 256, 512, 1024], chipId: 0x8120, hardwarePlatform: 't8120', cpuArchitecture: 'arm64e', boardId: 0x0c, iosMajor: [16, 18], cellular: true },
  { productType: 'iPhone15,4', marketingName: 'iPhone 15', hardwareModel: 'D37AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MTP03', storageGb: [128, 256, 512], chipId: 0x8120, hardwarePlatform: 't8120', cpuArchitecture: 'arm64e', boardId: 0x08, iosMajor: [17, 18], cellular: true },
  { productType: 'iPhone16,1', marketingName: 'iPhone 15 Pro', hardwareModel: 'D83AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MTUV3', storageGb: [128, 256, 512, 1024], chipId: 0x8130, hardwarePlatform: 't8130', cpuArchitecture: 'arm64e', boardId: 0x04, iosMajor: [17, 18], cellular: true },
  { productType: 'iPhone16,2', marketingName: 'iPhone 15 Pro Max', hardwareModel: 'D84AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MU773', storageGb: [256, 512, 1024], chipId: 0x8130, hardwarePlatform: 't8130', cpuArchitecture: 'arm64e', boardId: 0x0c, iosMajor: [17, 18], cellular: true },
  { productType: 'iPhone17,1', marketingName: 'iPhone 16 Pro', hardwareModel: 'D93AP', deviceClass: 'iPhone', usbProductId: IPHONE_USB_PID, modelNumber: 'MYNE3', storageGb: [128, 256, 512, 1024], chipId: 0x8140, hardwarePlatform: 't8140', cpuArchitecture: 'arm64e', boardId: 0x0a, iosMajor: [18, 18], cellular: true },
  { productType: 'iPad13,4', marketingName: 'iPad Pro (11-inch) (3rd generation)', hardwareModel: 'J517AP', deviceClass: 'iPad', usbProductId: IPAD_USB_PID, modelNumber: 'MHQR3', storageGb: [128, 256, 512, 1024, 2048], chipId: 0x8103, hardwarePlatform: 't8103', cpuArchitecture: 'arm64e', boardId: 0x08, iosMajor: [14, 18], cellular: false },
  { productType: 'iPad14,1', marketingName: 'iPad mini (6th generation)', hardwareModel: 'J310AP', deviceClass: 'iPad', usbProductId: IPAD_USB_PID, modelNumber: 'MK7M3', storageGb: [64, 256], chipId: 0x8110, hardwarePlatform: 't8110', cpuArchitecture: 'arm64e', boardId: 0x04, iosMajor: [15, 18], cellular: false },
];

/** ProductVersion → BuildVersion for the releases the virtual iPhone can run. */
export const IOS_BUILDS: Readonly<Record<string, string>> = {
  '10.1.1': '14B100',
  '10.3.3': '14G60',
  '12.5.7': '16H81',
  '13.7': '17H35',
  '14.8.1': '18H107',
  '15.7.1': '19H117',
  '16.1': '20B82',
  '15.8': '19H370',
  '16.0': '20A362',
  '16.7.10': '20H350',
  '17.0': '21A329',
  '17.5': '21F79',
  '17.5.1': '21F90',
  '17.6.1': '21G93',
  '18.0': '22A3354',
  '18.1': '22B83',
  '18.5': '22F76',
  '18.6': '22G86',
};

export const DEFAULT_PRODUCT_TYPE = 'iPhone12,1';
export const DEFAULT_PRODUCT_VERSION = '18.6';

export function findDeviceModel(productType: string): DeviceModel | undefined {
  return DEVICE_MODELS.find((m) => m.productType === productType);
}

/** Keys of the root domain a device answers before a session (what `ideviceinfo -s` sees). */
export const PRE_SESSION_ROOT_KEYS: readonly string[] = [
  'BasebandCertId',
  'BasebandKeyHashInformation',
  'BasebandSerialNumber',
  'BasebandVersion',
  'BoardId',
  'BuildVersion',
  'CPUArchitecture',
  'ChipID',
  'DeviceClass',
  'DeviceColor',
  'DeviceName',
  'DevicePublicKey',
  'DieID',
  'HardwareModel',
  'HasSiDP',
  'PartitionType',
  'ProductName',
  'ProductType',
  'ProductVersion',
  'ProductionSOC',
  'ProtocolVersion',
  'SupportedDeviceFamilies',
  'TelephonyCapability',
  'UniqueChipID',
  'UniqueDeviceID',
  'WiFiAddress',
];

/** Domains (besides root) readable before a session; everything else answers GetProhibited. */
export const PRE_SESSION_DOMAINS: readonly string[] = ['com.apple.mobile.lockdown'];

export interface ProfileOptions {
  udid: string;
  productType?: string;
  productVersion?: string;
  deviceName?: string;
  /** GB; defaults to the model's smallest capacity. */
  storageGb?: number;
  /** Fraction of the data partition in use, 0..1. */
  usedFraction?: number;
}

/** The resolved identity of one virtual device. */
export interface DeviceProfile {
  readonly model: DeviceModel;
  readonly productVersion: string;
  readonly buildVersion: string;
  readonly udid: string;
  readonly storageGb: number;
}

/**
 * Every lockdown value a device reports: `root` is the domain-less dict, `domains` the named ones.
 * Mutable on purpose: `iphone.values.domains['com.apple.mobile.backup']!.WillEncrypt = true`.
 */
export interface DeviceValues {
  root: PlistDict;
  domains: Record<string, PlistDict>;
}

export function resolveProfile(options: ProfileOptions): DeviceProfile {
  const productType = options.productType ?? DEFAULT_PRODUCT_TYPE;
  const model = findDeviceModel(productType);
  if (!model) {
    throw new RangeError(`Unknown ProductType ${productType}; known: ${DEVICE_MODELS.map((m) => m.productType).join(', ')}`);
  }
  const productVersion = options.productVersion ?? defaultVersionFor(model);
  const buildVersion = IOS_BUILDS[productVersion];
  if (!buildVersion) {
    throw new RangeError(`Unknown iOS version ${productVersion}; known: ${Object.keys(IOS_BUILDS).join(', ')}`);
  }
  const major = Number(productVersion.split('.')[0]);
  if (major < model.iosMajor[0] || major > model.iosMajor[1]) {
    throw new RangeError(`${model.marketingName} cannot run iOS ${productVersion} (supports ${model.iosMajor[0]}–${model.iosMajor[1]})`);
  }
  const storageGb = options.storageGb ?? model.storageGb[0]!;
  if (!model.storageGb.includes(storageGb)) {
    throw new RangeError(`${model.marketingName} is not sold with ${storageGb} GB`);
  }
  return { model, productVersion, buildVersion, udid: options.udid, storageGb };
}

function defaultVersionFor(model: DeviceModel): string {
  const candidates = Object.keys(IOS_BUILDS).filter((v) => Number(v.split('.')[0]) <= model.iosMajor[1]);
  return candidates.includes(DEFAULT_PRODUCT_VERSION) ? DEFAULT_PRODUCT_VERSION : candidates[candidates.length - 1]!;
}

/** Deterministic per-UDID pseudo-random source so the same UDID always yields the same serials. */
function seededRandom(seed: string): () => number {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
  return () => {
    h = Math.imul(h ^ (h >>> 15), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    h ^= h >>> 16;
    return (h >>> 0) / 4294967296;
  };
}

function pick(random: () => number, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

function macAddress(random: () => number, firstOctet: number): string {
  const octets = [firstOctet];
  for (let i = 0; i < 5; i++) octets.push(Math.floor(random() * 256));
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

/** A valid 15-digit IMEI (Luhn check digit) on an Apple TAC. */
function imei(random: () => number): string {
  const body = '35' + pick(random, '0123456789', 12);
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + String((10 - (sum % 10)) % 10);
}

/** ECID from a new-style UDID (`0000CCCC-EEEEEEEEEEEEEEEE`), else derived from the seed. */
function uniqueChipId(udid: string, random: () => number): number | bigint {
  const m = /^[0-9A-F]{8}-([0-9A-F]{16})$/i.exec(udid);
  const ecid = m ? BigInt('0x' + m[1]) : BigInt(Math.floor(random() * 2 ** 48));
  return ecid <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ecid) : ecid;
}

const GB = 1_000_000_000;

export function buildDeviceValues(profile: DeviceProfile, options: ProfileOptions): DeviceValues {
  const { model } = profile;
  const random = seededRandom(profile.udid);
  const serialNumber = pick(random, 'CDFGHJKLMNPQRTVWXY0123456789', 10);
  const ownerName = 'Ada';
  const deviceName = options.deviceName ?? `${ownerName}’s ${model.deviceClass}`;
  const root: PlistDict = {
    ActivationState: 'Activated',
    ActivationStateAcknowledged: true,
    BasebandCertId: 524245983,
    BasebandKeyHashInformation: { AKeyStatus: 2, SKeyStatus: 0 },
    BasebandSerialNumber: new Uint8Array([0x3a, 0x9f, 0x12, 0x44]),
    BasebandVersion: model.cellular ? '2.60.02' : '',
    BluetoothAddress: macAddress(random, 0x6c),
    BoardId: model.boardId,
    BrickState: false,
    BuildVersion: profile.buildVersion,
    CPUArchitecture: model.cpuArchitecture,
    ChipID: model.chipId,
    DeviceClass: model.deviceClass,
    DeviceColor: '1',
    DeviceName: deviceName,
    DieID: Math.floor(random() * 2 ** 52),
    FirmwareVersion: 'iBoot-11881.140.96',
    HardwareModel: model.hardwareModel,
    HardwarePlatform: model.hardwarePlatform,
    HasSiDP: true,
    HostAttached: true,
    HumanReadableProductVersionString: profile.productVersion,
    MLBSerialNumber: pick(random, 'CDFGHJKLMNPQRTVWXY0123456789', 17),
    ModelNumber: model.modelNumber,
    NonVolatileRAM: { 'auto-boot': new TextEncoder().encode('true') },
    PartitionType: 'GUID_partition_scheme',
    PasswordProtected: true,
    // iPads answered "iPhone OS" until iPadOS 13 got its own name.
    ProductName: model.deviceClass === 'iPad' && Number(profile.productVersion.split('.')[0]) >= 13 ? 'iPadOS' : 'iPhone OS',
    ProductType: model.productType,
    ProductVersion: profile.productVersion,
    ProductionSOC: true,
    ProtocolVersion: '2',
    RegionInfo: 'B/A',
    SerialNumber: serialNumber,
    SoftwareBehavior: new Uint8Array(16),
    SupportedDeviceFamilies: model.deviceClass === 'iPad' ? [2] : [1],
    TelephonyCapability: model.cellular,
    TimeIntervalSince1970: Math.floor(Date.now() / 1000),
    TimeZone: 'Europe/London',
    TimeZoneOffsetFromUTC: 0,
    TrustedHostAttached: true,
    UniqueChipID: uniqueChipId(profile.udid, random),
    UniqueDeviceID: profile.udid,
    UseRaptorCerts: true,
    Uses24HourClock: true,
    WiFiAddress: macAddress(random, 0xf4),
    WirelessBoardSerialNumber: pick(random, '0123456789ABCDEF', 12),
  };
  if (model.cellular) {
    Object.assign(root, {
      InternationalMobileEquipmentIdentity: imei(random),
      InternationalMobileEquipmentIdentity2: imei(random),
      InternationalMobileSubscriberIdentity: '23410' + pick(random, '0123456789', 10),
      IntegratedCircuitCardIdentity: '894410' + pick(random, '0123456789', 13),
      MobileEquipmentIdentifier: pick(random, '0123456789ABCDEF', 14),
      MobileSubscriberCountryCode: '234',
      MobileSubscriberNetworkCode: '10',
      PhoneNumber: '+44 7700 900' + pick(random, '0123456789', 3),
      SIMStatus: 'kCTSIMSupportSIMStatusReady',
      SIMTrayStatus: 'kCTSIMSupportSIMTrayInsertedSIM',
      CarrierBundleInfoArray: [{ CFBundleIdentifier: 'com.apple.O2_uk', CFBundleVersion: '59.0', IntegratedCircuitCardIdentity: '8944100000000000000', MCC: '234', MNC: '10' }],
    } satisfies PlistDict);
  }
  return { root, domains: buildDomains(profile, options, random) };
}

function buildDomains(profile: DeviceProfile, options: ProfileOptions, random: () => number): Record<string, PlistDict> {
  const total = profile.storageGb * GB;
  // iOS reserves a system volume of roughly 6–12 GB depending on the release; the rest is data.
  const systemCapacity = Math.round((8 + (Number(profile.productVersion.split('.')[0]) - 15) * 0.9) * GB);
  const systemAvailable = Math.round(systemCapacity * 0.12);
  const dataCapacity = total - systemCapacity - Math.round(0.4 * GB);
  const usedFraction = options.usedFraction ?? 0.41;
  const dataAvailable = Math.round(dataCapacity * (1 - usedFraction));
  const reserved = 200 * 1024 * 1024;
  const photoUsage = Math.round(dataCapacity * usedFraction * 0.35);
  const domains: Record<string, PlistDict> = {
    'com.apple.disk_usage': {
      TotalDiskCapacity: total,
      TotalSystemCapacity: systemCapacity,
      TotalSystemAvailable: systemAvailable,
      TotalDataCapacity: dataCapacity,
      TotalDataAvailable: dataAvailable,
      AmountDataAvailable: Math.max(0, dataAvailable - reserved),
      AmountDataReserved: reserved,
      PhotoUsage: photoUsage,
      CameraUsage: Math.round(photoUsage * 0.8),
      NANDInfo: new Uint8Array(8),
    },
    'com.apple.mobile.battery': {
      BatteryCurrentCapacity: 20 + Math.floor(random() * 79),
      BatteryIsCharging: true,
      ExternalChargeCapable: true,
      ExternalConnected: true,
      FullyCharged: false,
      GasGaugeCapability: true,
      HasBattery: true,
    },
    'com.apple.mobile.backup': {
      WillEncrypt: false,
      CloudBackupEnabled: false,
      RequiresEncrypt: false,
    },
    'com.apple.international': {
      Language: 'en-GB',
      Locale: 'en_GB',
      Keyboards: ['en_GB@sw=QWERTY;hw=Automatic', 'emoji@sw=Emoji'],
      SupportedLanguages: ['en', 'en-GB', 'fr', 'de', 'es', 'it', 'ja', 'nl', 'zh-Hans'],
      SupportedLocales: ['en_GB', 'en_US', 'fr_FR', 'de_DE'],
    },
    'com.apple.iTunes': {
      MinMacOSVersion: '10.15',
      MinITunesVersion: '12.8',
      SupportsAntiPhishing: true,
      SupportsAirTraffic: true,
      SupportsAccessibility: true,
    },
    'com.apple.mobile.iTunes': {
      MinITunesVersion: '12.8',
      MinMacOSVersion: '10.15',
      FairPlayID: new Uint8Array(16),
      SupportsAirTraffic: true,
    },
    'com.apple.mobile.lockdown': {
      LogToDisk: false,
      BrickState: false,
    },
    'com.apple.mobile.data_sync': {
      Contacts: { AccountNames: ['iCloud'] },
    },
    'com.apple.fmip': { IsAssociated: false },
    'com.apple.PurpleBuddy': { SetupDone: true, SetupFinishedAllSteps: true },
    'com.apple.mobile.wireless_lockdown': { EnableWifiConnections: false },
  };
  return domains;
}

/** Deep copy helper for tests that want to diff values. */
export function cloneValue<T extends PlistValue>(value: T): T {
  return structuredClone(value);
}
