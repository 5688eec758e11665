import { GLOBAL_OPTIONS_USAGE, type CliCommand, type ParsedArgs } from '../args.ts';
import { openDevice } from '../device.ts';
import { LockdownClient } from '../../lockdown/lockdown-client.ts';
import { UsbmuxdPairingStore } from '../../lockdown/pairing-store.ts';
import { productName } from '../../lockdown/product-names.ts';
import { readDeviceInfo } from '../../lockdown/device-info.ts';
import { isPlistDict, type PlistValue } from '../../plist/index.ts';

function formatValue(value: PlistValue, indent = ''): string {
  if (value instanceof Uint8Array) {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(value);
    return text.startsWith('-----BEGIN') ? `<PEM ${value.byteLength} bytes>` : `<${value.byteLength} bytes>`;
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return `[${value.map((v) => formatValue(v, indent)).join(', ')}]`;
  if (isPlistDict(value)) {
    return Object.entries(value)
      .map(([k, v]) => `\n${indent}  ${k}: ${formatValue(v, indent + '  ')}`)
      .join('');
  }
  if (typeof value === 'object') return String(value.value);
  return String(value);
}

function gb(bytes: number | undefined): string | undefined {
  return bytes === undefined ? undefined : `${(bytes / 1e9).toFixed(1)} GB`;
}

export const infoCommand: CliCommand = {
  name: 'info',
  summary: 'Show device information (full details once this computer is trusted)',
  usage: [
    'usage: npm run cli -- info [--all] [--domain DOMAIN] [--key KEY]',
    '',
    'Without a pairing only the values an iPhone shows to any computer are read.',
    '  --all            print every lockdown value instead of the summary',
    '  --domain DOMAIN  print one lockdown domain, e.g. com.apple.disk_usage',
    '  --key KEY        print one value',
    GLOBAL_OPTIONS_USAGE,
  ].join('\n'),
  flags: ['all'],
  async run(args: ParsedArgs): Promise<number> {
    const { connector, client } = await openDevice(args);
    const store = new UsbmuxdPairingStore(client);
    const lockdown = await LockdownClient.connect(connector, { store, label: 'lifeboat-cli' });
    try {
      const paired = (await lockdown.loadPairing()) !== null;
      if (paired) await lockdown.startSession();
      const domain = args.string('domain');
      const key = args.string('key');
      if (domain !== undefined || key !== undefined || args.flag('all')) {
        const value = await lockdown.getValue(domain, key);
        args.io.out(`${formatValue(value).replace(/^\n/, '').replace(/^  /gm, '')}\n`);
        return 0;
      }
      const info = await readDeviceInfo(lockdown);
      const rows: [string, string | undefined][] = [
        ['Name', info.deviceName],
        ['Model', `${productName(info.productType)} (${info.productType})`],
        ['iOS', `${info.productVersion} (${info.buildVersion})`],
        ['UDID', info.udid],
        ['Serial number', info.serialNumber],
        ['Phone number', info.phoneNumber],
        ['Wi-Fi address', info.wifiAddress],
        ['Capacity', gb(info.totalCapacity)],
        ['Available', gb(info.availableCapacity)],
        ['Battery', info.batteryLevel === undefined ? undefined : `${info.batteryLevel}%${info.batteryCharging ? ' (charging)' : ''}`],
        ['Encrypted backups', info.willEncrypt === undefined ? undefined : info.willEncrypt ? 'on' : 'off'],
      ];
      for (const [label, value] of rows) if (value !== undefined && value !== '') args.io.out(`${(label + ':').padEnd(19)}${value}\n`);
      if (!paired) args.io.out('\nThis computer is not paired with the device; run `npm run cli -- pair` for full details.\n');
      return 0;
    } finally {
      await lockdown.close();
    }
  },
};
