import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, readFile, readlink } from 'node:fs/promises';
import type { CliCommand, ParsedArgs } from '../args.ts';
import { GLOBAL_OPTIONS_USAGE } from '../args.ts';
import { APPLE_VENDOR_ID, isAppleMuxProductId } from '../../usb/apple-usb.ts';

/**
 * `doctor`: checks a Linux machine for what the README's "Connecting a real device → Linux" steps set
 * up, and prints the fix for each step that is missing. Everything it looks at comes through
 * `DoctorSystem`, so tests can describe any machine.
 */
export interface DoctorSystem {
  platform: NodeJS.Platform;
  /** Command names (as in /proc/<pid>/comm) of the running processes. */
  processNames(): Promise<string[]>;
  /** A directory's entries; [] when it does not exist or cannot be read. */
  listDir(path: string): Promise<string[]>;
  /** A text file; undefined when it does not exist or cannot be read. */
  readText(path: string): Promise<string | undefined>;
  /** Where a symlink points; undefined when it is not one. */
  readLink(path: string): Promise<string | undefined>;
  /** Whether this user may open the file for reading and writing. */
  canReadWrite(path: string): Promise<boolean>;
  /** Runs a program; undefined when it is not installed (or did not run). */
  run(command: string, args: readonly string[]): Promise<{ code: number; stdout: string } | undefined>;
}

export type CheckStatus = 'ok' | 'fix' | 'unknown';

export interface CheckResult {
  status: CheckStatus;
  /** One line: what was found. */
  finding: string;
  /** What to type or do, one line each; empty when nothing is to be done. */
  fix: string[];
}

/** Chrome 108 made OPFS sync access handles synchronous; the backup store writes through them. */
export const MINIMUM_CHROME_MAJOR = 108;

const USB_DEVICES = '/sys/bus/usb/devices';
const UDEV_RULE_DIRS = ['/etc/udev/rules.d', '/run/udev/rules.d', '/usr/lib/udev/rules.d', '/lib/udev/rules.d'];
const GVFS_MONITORS = ['gvfs-gphoto2-volume-monitor', 'gvfs-afc-volume-monitor'];
/** Chromium browsers by the command Linux packages install, in the order a person most likely uses them. */
const BROWSERS = ['google-chrome', 'google-chrome-stable', 'chromium', 'chromium-browser', 'microsoft-edge', 'brave-browser', 'opera'];

const UDEV_RULE_FIX = [
  `echo 'SUBSYSTEM=="usb", ATTR{idVendor}=="05ac", ATTR{idProduct}=="12[9a][0-9a-f]", TAG+="uaccess", MODE="0660"' \\`,
  '  | sudo tee /etc/udev/rules.d/70-lifeboat-apple.rules',
  'sudo udevadm control --reload-rules && sudo udevadm trigger',
  'then unplug the iPhone and plug it in again',
];

interface AppleUsbDevice {
  /** sysfs name, e.g. 1-2 */
  name: string;
  product: string;
  bus: number;
  device: number;
  /** Kernel drivers bound to its interfaces ("usbfs" = a user-space program such as usbmuxd or Chrome has claimed it). */
  drivers: string[];
}

async function appleDevices(system: DoctorSystem): Promise<AppleUsbDevice[]> {
  const found: AppleUsbDevice[] = [];
  const entries = await system.listDir(USB_DEVICES);
  for (const name of entries) {
    if (name.includes(':')) continue; // interfaces, read below with their device
    const vendor = parseInt((await system.readText(`${USB_DEVICES}/${name}/idVendor`))?.trim() ?? '', 16);
    const productId = parseInt((await system.readText(`${USB_DEVICES}/${name}/idProduct`))?.trim() ?? '', 16);
    if (vendor !== APPLE_VENDOR_ID || !isAppleMuxProductId(productId)) continue;
    const drivers: string[] = [];
    for (const iface of entries.filter((e) => e.startsWith(`${name}:`))) {
      const link = await system.readLink(`${USB_DEVICES}/${iface}/driver`);
      if (link) drivers.push(link.split('/').pop()!);
    }
    found.push({
      name,
      product: (await system.readText(`${USB_DEVICES}/${name}/product`))?.trim() || `Apple device 0x${productId.toString(16)}`,
      bus: Number((await system.readText(`${USB_DEVICES}/${name}/busnum`))?.trim()),
      device: Number((await system.readText(`${USB_DEVICES}/${name}/devnum`))?.trim()),
      drivers,
    });
  }
  return found;
}

const devNode = (d: AppleUsbDevice): string => `/dev/bus/usb/${String(d.bus).padStart(3, '0')}/${String(d.device).padStart(3, '0')}`;

function checkUsbmuxd(processes: string[], devices: AppleUsbDevice[]): CheckResult {
  if (!processes.includes('usbmuxd')) return { status: 'ok', finding: 'usbmuxd is not running, so it cannot take the iPhone from Chrome.', fix: [] };
  const held = devices.filter((d) => d.drivers.includes('usbfs'));
  return {
    status: 'fix',
    finding:
      held.length > 0
        ? `usbmuxd is running and holds ${held.map((d) => `${d.product} (bus ${d.bus}, device ${d.device})`).join(', ')}: Chrome cannot claim it.`
        : 'usbmuxd is running: it takes any iPhone as soon as it is plugged in, before Chrome can.',
    fix: [
      'sudo systemctl stop usbmuxd',
      'to keep it stopped: sudo systemctl mask usbmuxd (the CLI and idevice* tools need it: sudo systemctl unmask usbmuxd && sudo systemctl start usbmuxd)',
    ],
  };
}

function checkGvfs(processes: string[]): CheckResult {
  const running = GVFS_MONITORS.filter((m) => processes.includes(m));
  if (running.length === 0) return { status: 'ok', finding: 'No gvfs photo/AFC volume monitor is running.', fix: [] };
  return {
    status: 'fix',
    finding: `${running.join(' and ')} ${running.length === 1 ? 'is' : 'are'} running: GNOME opens the iPhone as a camera/drive as soon as it is plugged in.`,
    fix: [`systemctl --user stop ${running.join(' ')}`, `to keep ${running.length === 1 ? 'it' : 'them'} stopped: systemctl --user mask ${running.join(' ')}`],
  };
}

/** A rule line that matches Apple's vendor id and lets the logged-in user (or everyone) open the device. */
function grantsAppleAccess(line: string): boolean {
  const rule = line.trim();
  if (rule.startsWith('#') || !/05ac/i.test(rule)) return false;
  // uaccess: the logged-in user; 0666: everyone; a GROUP with group rw: its members (the access check below tells).
  return /TAG\+="uaccess"/.test(rule) || /MODE="0?666"/.test(rule) || (/GROUP="/.test(rule) && /MODE="0?66\d"/.test(rule));
}

async function checkUdevRule(system: DoctorSystem): Promise<CheckResult> {
  for (const dir of UDEV_RULE_DIRS) {
    for (const name of (await system.listDir(dir)).filter((n) => n.endsWith('.rules')).sort()) {
      const text = await system.readText(`${dir}/${name}`);
      if (text?.split('\n').some(grantsAppleAccess)) return { status: 'ok', finding: `A udev rule lets users open Apple devices (${dir}/${name}).`, fix: [] };
    }
  }
  return { status: 'fix', finding: 'No udev rule lets the logged-in user open Apple USB devices.', fix: UDEV_RULE_FIX };
}

async function checkAccess(system: DoctorSystem, devices: AppleUsbDevice[]): Promise<CheckResult> {
  if (devices.length === 0) {
    return { status: 'unknown', finding: 'No iPhone or iPad is plugged in, so access cannot be checked.', fix: ['plug in the device, unlock it, and run doctor again'] };
  }
  const refused: AppleUsbDevice[] = [];
  for (const d of devices) if (!(await system.canReadWrite(devNode(d)))) refused.push(d);
  if (refused.length === 0) return { status: 'ok', finding: `This user can open ${devices.map((d) => `${d.product} (${devNode(d)})`).join(', ')}.`, fix: [] };
  return {
    status: 'fix',
    finding: `This user cannot open ${refused.map((d) => `${d.product} (${devNode(d)})`).join(', ')}.`,
    fix: ['add the udev rule above if it is missing, then unplug the device and plug it in again (a rule applies when the device appears)'],
  };
}

async function checkBrowser(system: DoctorSystem): Promise<CheckResult> {
  const found: { command: string; version: string; major: number }[] = [];
  for (const command of BROWSERS) {
    const result = await system.run(command, ['--version']);
    const match = result && result.code === 0 ? /(\d+)\.\d+\.\d+\.\d+/.exec(result.stdout) : null;
    if (match) found.push({ command, version: result!.stdout.trim().split('\n').pop()!.trim(), major: Number(match[1]) });
  }
  if (found.length === 0) {
    return {
      status: 'fix',
      finding: 'No Chrome, Chromium, Edge, Brave or Opera was found on the PATH.',
      fix: ['install Google Chrome (https://www.google.com/chrome/) or Chromium: sudo apt install chromium'],
    };
  }
  const best = found.reduce((a, b) => (b.major > a.major ? b : a));
  const list = found.map((f) => `${f.version} (${f.command})`).join('; ');
  if (best.major < MINIMUM_CHROME_MAJOR) {
    return { status: 'fix', finding: `${list}: Lifeboat needs version ${MINIMUM_CHROME_MAJOR} or later.`, fix: [`update ${best.command} (your distribution's updates, or https://www.google.com/chrome/)`] };
  }
  const snap = (await system.readLink('/snap/bin/chromium')) !== undefined && found.some((f) => f.command === 'chromium');
  return {
    status: 'ok',
    finding: `${list}.`,
    fix: snap ? ['Chromium from snap sees USB devices only after: sudo snap connect chromium:raw-usb'] : [],
  };
}

export interface DoctorReport {
  checks: { title: string; result: CheckResult }[];
}

export async function runDoctor(system: DoctorSystem): Promise<DoctorReport> {
  const [processes, devices] = await Promise.all([system.processNames(), appleDevices(system)]);
  return {
    checks: [
      { title: 'usbmuxd', result: checkUsbmuxd(processes, devices) },
      { title: 'gvfs', result: checkGvfs(processes) },
      { title: 'udev rule', result: await checkUdevRule(system) },
      { title: 'USB access', result: await checkAccess(system, devices) },
      { title: 'browser', result: await checkBrowser(system) },
    ],
  };
}

const MARK: Record<CheckStatus, string> = { ok: '✓', fix: '✗', unknown: '?' };

export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = [];
  for (const { title, result } of report.checks) {
    lines.push(`${MARK[result.status]} ${title}: ${result.finding}`);
    const label = result.status === 'fix' ? 'fix:' : 'note:';
    result.fix.forEach((line, i) => lines.push(`    ${i === 0 ? label : ' '.repeat(label.length)} ${line}`));
  }
  const problems = report.checks.filter((c) => c.result.status === 'fix').length;
  lines.push('', problems === 0 ? 'Nothing to fix: open Lifeboat in Chrome and click Connect….' : `${problems} ${problems === 1 ? 'step' : 'steps'} to fix (README: “Connecting a real device → Linux”).`);
  return `${lines.join('\n')}\n`;
}

/** The real machine: /proc, /sys, /etc, and programs on the PATH. */
export function nodeDoctorSystem(): DoctorSystem {
  const listDir = async (path: string) => readdir(path).catch(() => [] as string[]);
  const readText = async (path: string) => readFile(path, 'utf8').catch(() => undefined);
  return {
    platform: process.platform,
    listDir,
    readText,
    readLink: async (path) => readlink(path).catch(() => undefined),
    async processNames() {
      const pids = (await listDir('/proc')).filter((p) => /^\d+$/.test(p));
      const names = await Promise.all(pids.map(async (pid) => (await readText(`/proc/${pid}/comm`))?.trim()));
      return names.filter((n): n is string => !!n);
    },
    canReadWrite: async (path) =>
      access(path, constants.R_OK | constants.W_OK).then(
        () => true,
        () => false,
      ),
    run: (command, args) =>
      new Promise((resolve) => {
        execFile(command, [...args], { timeout: 10_000 }, (error, stdout) => {
          const code = error ? (typeof error.code === 'number' ? error.code : undefined) : 0;
          resolve(code === undefined ? undefined : { code, stdout: String(stdout) });
        });
      }),
  };
}

export function createDoctorCommand(system: () => DoctorSystem = nodeDoctorSystem): CliCommand {
  return {
    name: 'doctor',
    summary: 'Check this Linux machine for what connecting an iPhone to Chrome needs, with the fix for each missing step',
    usage: ['usage: npm run cli -- doctor', '', 'Checks usbmuxd, gvfs, the udev rule, USB access and the installed Chrome/Chromium.', '', GLOBAL_OPTIONS_USAGE].join('\n'),
    async run(args: ParsedArgs): Promise<number> {
      const machine = system();
      if (machine.platform !== 'linux') {
        args.io.out(`doctor checks Linux machines; this is ${machine.platform}. See the README's “Connecting a real device” for your system.\n`);
        return 0;
      }
      const report = await runDoctor(machine);
      args.io.out(formatDoctorReport(report));
      return report.checks.some((c) => c.result.status === 'fix') ? 1 : 0;
    },
  };
}

export const doctorCommand = createDoctorCommand();
