import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifeboatError } from '../../core/errors.ts';
import type { VirtualIPhoneOptions } from '../virtual-iphone.ts';
import { namedProfile } from '../profiles.ts';

/**
 * The command-line options of `npm run virtual-iphone`, as a table so each feature adds its own row.
 * A row with `iphoneOption` is passed straight through to `new VirtualIPhone(options)`; rows without
 * it are consumed by main.ts itself (where to serve, where to keep state).
 */
export interface VirtualIPhoneCliOption {
  /** The long flag without dashes: `udid` for `--udid`. */
  readonly name: string;
  /** Placeholder for the value in help, e.g. "UDID"; absent for a boolean switch. */
  readonly value?: string;
  readonly description: string;
  /** The VirtualIPhoneOptions field this fills. */
  readonly iphoneOption?: keyof VirtualIPhoneOptions;
  /** Converts and validates the raw text (throw an Error with a clear message); default: the string. */
  readonly parse?: (raw: string) => unknown;
}

export const DEFAULT_VIRTUAL_USBMUXD_ADDRESS = `UNIX:${join(tmpdir(), 'lifeboat-virtual-iphone.sock')}`;

export const VIRTUAL_IPHONE_OPTIONS: VirtualIPhoneCliOption[] = [
  {
    name: 'usbmuxd',
    value: 'ADDRESS',
    description: `Where to serve the usbmuxd socket: UNIX:/path or 127.0.0.1:PORT (default ${DEFAULT_VIRTUAL_USBMUXD_ADDRESS})`,
  },
  { name: 'state', value: 'DIR', description: 'Keep the SystemBUID, pair records, the phone\'s key, trusted hosts, keybag and the rows of the Manifest.db files it sent in DIR across restarts (default: in memory)' },
  { name: 'udid', value: 'UDID', description: 'The device UDID (default 00008030-001A2B3C4D5E802E)', iphoneOption: 'udid', parse: parseUdid },
  { name: 'model', value: 'PRODUCT_TYPE', description: 'Model identifier, e.g. iPhone15,2', iphoneOption: 'productType', parse: parseProductType },
  { name: 'ios', value: 'VERSION', description: 'iOS version, e.g. 17.5', iphoneOption: 'productVersion', parse: parseIosVersion },
  { name: 'name', value: 'DEVICE_NAME', description: 'DeviceName, e.g. "Ada’s iPhone"', iphoneOption: 'deviceName' },
  { name: 'dataset', value: 'SIZE', description: 'Device data: small (tests), medium (~5k files, 200 MB), large (100k+ files, 4 GB) or huge (~1.3M files, mostly tiny, 1.2 GB Manifest.db; takes minutes and GBs of memory to generate)', iphoneOption: 'dataset', parse: parseDatasetSize },
  { name: 'dataset-scale', value: 'F', description: "Generate F (0–1) of the dataset's apps and photos, each app full size: --dataset huge --dataset-scale 0.1 is ≈130k files of the same shape", iphoneOption: 'datasetScale', parse: parseScale },
  { name: 'seed', value: 'N', description: 'Seed of the generated data (default 1)', iphoneOption: 'seed', parse: parseCount },
  { name: 'mutate', value: 'N', description: 'Change the data as if used for a while (mutation seed N) before serving', iphoneOption: 'mutate', parse: parseCount },
  { name: 'password', value: 'PASSWORD', description: 'Turn backup encryption on with this password', iphoneOption: 'backupPassword' },
  { name: 'truth', value: 'FILE', description: 'Write what a backup must contain to FILE: a JSON array, or for --dataset huge JSON lines (one entry per line)' },
  { name: 'replay', value: 'TRACE', description: 'Serve a recorded diagnostics trace (`--trace FILE`) as the device instead of simulating one' },
  { name: 'help', description: 'Show this help' },
  { name: 'profile', value: 'NAME', description: 'Be a named device profile (model, iOS release and its documented behaviours); see --list-profiles', iphoneOption: 'profile', parse: parseProfileName },
  { name: 'list-profiles', description: 'Print the profile names, one a line, and exit' },
  { name: 'time-scale', value: 'F', description: "Multiply a profile's deliberate delays by F (0.01: a 3-minute preparation takes 1.8 s)", iphoneOption: 'timeScale', parse: parseTimeScale },
];

export interface ParsedVirtualIPhoneArgs {
  usbmuxd: string;
  state: string | undefined;
  /** `--truth FILE`: where to write the backup truth JSON. */
  truth?: string;
  /** `--replay TRACE`: serve this trace file as the device. */
  replay?: string;
  help: boolean;
  /** `--list-profiles`: print the profile names and exit. */
  listProfiles?: boolean;
  iphoneOptions: VirtualIPhoneOptions;
}

export function parseVirtualIPhoneArgs(
  argv: readonly string[],
  table: readonly VirtualIPhoneCliOption[] = VIRTUAL_IPHONE_OPTIONS,
): ParsedVirtualIPhoneArgs {
  const values = new Map<string, unknown>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw usageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const option = table.find((o) => o.name === name);
    if (!option) throw usageError(`unknown option --${name}`);
    let raw: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (option.value === undefined) {
      values.set(name, raw === undefined ? true : !/^(false|0|no)$/i.test(raw));
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw usageError(`--${name} needs a value (${option.value})`);
    }
    try {
      values.set(name, option.parse ? option.parse(raw) : raw);
    } catch (error) {
      throw usageError(`--${name}: ${(error as Error).message}`);
    }
  }
  const iphoneOptions: Record<string, unknown> = {};
  for (const option of table) {
    if (option.iphoneOption !== undefined && values.has(option.name)) iphoneOptions[option.iphoneOption] = values.get(option.name);
  }
  return {
    usbmuxd: (values.get('usbmuxd') as string | undefined) ?? DEFAULT_VIRTUAL_USBMUXD_ADDRESS,
    state: values.get('state') as string | undefined,
    ...(values.has('truth') ? { truth: values.get('truth') as string } : {}),
    ...(values.has('replay') ? { replay: values.get('replay') as string } : {}),
    help: values.get('help') === true,
    ...(values.get('list-profiles') === true ? { listProfiles: true } : {}),
    iphoneOptions: iphoneOptions as VirtualIPhoneOptions,
  };
}

export function virtualIPhoneUsage(table: readonly VirtualIPhoneCliOption[] = VIRTUAL_IPHONE_OPTIONS): string {
  const rows = table.map((o) => [`--${o.name}${o.value ? ` ${o.value}` : ''}`, o.description] as const);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    'usage: npm run virtual-iphone -- [options]',
    '',
    'Serves a simulated iPhone behind a usbmuxd-compatible socket until interrupted.',
    '',
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
  ].join('\n');
}

function usageError(message: string): LifeboatError {
  return new LifeboatError('unsupported', message, { action: 'Run `npm run virtual-iphone -- --help` for the options.' });
}

function parseUdid(raw: string): string {
  if (!/^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40})$/.test(raw)) {
    throw new Error(`"${raw}" is not a UDID (8-16 hex digits with a dash, or 40 hex digits)`);
  }
  return raw.toUpperCase();
}

function parseProductType(raw: string): string {
  if (!/^(iPhone|iPad|iPod)\d+,\d+$/.test(raw)) throw new Error(`"${raw}" is not a ProductType such as iPhone15,2`);
  return raw;
}

function parseIosVersion(raw: string): string {
  if (!/^\d+\.\d+(\.\d+)?$/.test(raw)) throw new Error(`"${raw}" is not an iOS version such as 17.5`);
  return raw;
}

function parseDatasetSize(raw: string): string {
  if (raw !== 'small' && raw !== 'medium' && raw !== 'large' && raw !== 'huge') throw new Error(`"${raw}" is not a dataset size (small, medium, large, huge)`);
  return raw;
}

function parseProfileName(raw: string): string {
  return namedProfile(raw).name;
}

function parseTimeScale(raw: string): number {
  const value = Number(raw);
  if (!/^\d+(\.\d+)?(e-?\d+)?$/i.test(raw) || !Number.isFinite(value)) throw new Error(`"${raw}" is not a number such as 0.01`);
  return value;
}

function parseCount(raw: string): number {
  if (!/^\d{1,10}$/.test(raw) || Number(raw) > 0xffffffff) throw new Error(`"${raw}" is not a whole number`);
  return Number(raw);
}

function parseScale(raw: string): number {
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || !(value > 0 && value <= 1)) throw new Error(`"${raw}" is not a fraction above 0 and at most 1, such as 0.1`);
  return value;
}
