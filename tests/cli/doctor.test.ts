// `npm run cli -- doctor` on described machines: each missing Linux step is reported with its fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDoctorCommand, MINIMUM_CHROME_MAJOR, type DoctorSystem } from '../../src/cli/commands/doctor.ts';
import { runCli } from '../../src/cli/main.ts';

interface Machine {
  platform?: NodeJS.Platform;
  processes?: string[];
  /** path → contents; directories are implied by their files. */
  files?: Record<string, string>;
  links?: Record<string, string>;
  /** device nodes this user may open */
  openable?: string[];
  /** command → `--version` output */
  browsers?: Record<string, string>;
}

const RULE = 'SUBSYSTEM=="usb", ATTR{idVendor}=="05ac", ATTR{idProduct}=="12[9a][0-9a-f]", TAG+="uaccess", MODE="0660"\n';

/** A machine where every step of the README was followed and an iPhone is plugged in. */
const GOOD: Required<Machine> = {
  platform: 'linux',
  processes: ['systemd', 'bash', 'chrome'],
  files: {
    '/etc/udev/rules.d/70-lifeboat-apple.rules': RULE,
    '/sys/bus/usb/devices/1-2/idVendor': '05ac\n',
    '/sys/bus/usb/devices/1-2/idProduct': '12a8\n',
    '/sys/bus/usb/devices/1-2/product': 'iPhone\n',
    '/sys/bus/usb/devices/1-2/busnum': '1\n',
    '/sys/bus/usb/devices/1-2/devnum': '7\n',
    '/sys/bus/usb/devices/1-2:1.0/bInterfaceClass': '06\n',
    '/sys/bus/usb/devices/1-2:1.1/bInterfaceClass': 'ff\n',
    '/sys/bus/usb/devices/1-3/idVendor': '046d\n',
    '/sys/bus/usb/devices/1-3/idProduct': 'c31c\n',
  },
  links: {},
  openable: ['/dev/bus/usb/001/007'],
  browsers: { 'google-chrome': 'Google Chrome 142.0.7444.59 \n' },
};

function system(machine: Machine): DoctorSystem {
  const m = { ...GOOD, ...machine };
  return {
    platform: m.platform,
    processNames: async () => m.processes,
    async listDir(path) {
      const names = new Set<string>();
      for (const file of Object.keys(m.files)) if (file.startsWith(`${path}/`)) names.add(file.slice(path.length + 1).split('/')[0]!);
      return [...names];
    },
    readText: async (path) => m.files[path],
    readLink: async (path) => m.links[path],
    canReadWrite: async (path) => m.openable.includes(path),
    run: async (command, args) => {
      assert.deepEqual(args, ['--version']);
      const out = m.browsers[command];
      return out === undefined ? undefined : { code: 0, stdout: out };
    },
  };
}

async function doctor(machine: Machine) {
  let out = '';
  const code = await runCli(['doctor'], { out: (t) => (out += t), err: (t) => (out += t) }, {}, [createDoctorCommand(() => system(machine))]);
  return { code, out };
}

/** The line of a check and the fix lines under it. */
function section(out: string, title: string): string {
  const lines = out.split('\n');
  const start = lines.findIndex((l) => l.slice(2).startsWith(`${title}:`));
  assert.ok(start >= 0, `a "${title}" line in:\n${out}`);
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith('    ')) end++;
  return lines.slice(start, end).join('\n');
}

test('a machine set up as the README says: every check passes, exit 0', async () => {
  const { code, out } = await doctor({});
  assert.equal(code, 0, out);
  for (const title of ['usbmuxd', 'gvfs', 'udev rule', 'USB access', 'browser']) assert.match(section(out, title), /^✓ /);
  assert.match(section(out, 'USB access'), /iPhone \(\/dev\/bus\/usb\/001\/007\)/);
  assert.match(section(out, 'browser'), /Google Chrome 142\.0\.7444\.59 \(google-chrome\)/);
  assert.match(out, /Nothing to fix/);
});

test('usbmuxd running and holding the iPhone: stop (and mask) it', async () => {
  const { code, out } = await doctor({ processes: ['systemd', 'usbmuxd'], links: { '/sys/bus/usb/devices/1-2:1.1/driver': '../../../../bus/usb/drivers/usbfs' } });
  assert.equal(code, 1);
  const s = section(out, 'usbmuxd');
  assert.match(s, /^✗ usbmuxd: usbmuxd is running and holds iPhone \(bus 1, device 7\)/);
  assert.match(s, /fix: sudo systemctl stop usbmuxd/);
  assert.match(s, /sudo systemctl mask usbmuxd/);
  assert.match(out, /1 step to fix/);
});

test('usbmuxd running with nothing held yet still needs stopping', async () => {
  const { code, out } = await doctor({ processes: ['usbmuxd'] });
  assert.equal(code, 1);
  assert.match(section(out, 'usbmuxd'), /takes any iPhone as soon as it is plugged in[\s\S]*fix: sudo systemctl stop usbmuxd/);
});

test('gvfs monitors running: stop them for this user', async () => {
  const { code, out } = await doctor({ processes: ['gvfs-gphoto2-volume-monitor', 'gvfs-afc-volume-monitor', 'gvfsd'] });
  assert.equal(code, 1);
  const s = section(out, 'gvfs');
  assert.match(s, /^✗ gvfs: gvfs-gphoto2-volume-monitor and gvfs-afc-volume-monitor are running/);
  assert.match(s, /fix: systemctl --user stop gvfs-gphoto2-volume-monitor gvfs-afc-volume-monitor/);
});

test('no udev rule (a commented-out one does not count): the rule to install', async () => {
  const files = { ...GOOD.files };
  delete files['/etc/udev/rules.d/70-lifeboat-apple.rules'];
  files['/lib/udev/rules.d/39-usbmuxd.rules'] = 'SUBSYSTEM=="usb", ATTR{idVendor}=="05ac", OWNER="usbmux"\n';
  files['/etc/udev/rules.d/99-old.rules'] = `# ${RULE}`;
  const { code, out } = await doctor({ files });
  assert.equal(code, 1);
  const s = section(out, 'udev rule');
  assert.match(s, /^✗ udev rule: No udev rule/);
  assert.match(s, /TAG\+="uaccess"/);
  assert.match(s, /sudo tee \/etc\/udev\/rules\.d\/70-lifeboat-apple\.rules/);
  assert.match(s, /sudo udevadm control --reload-rules && sudo udevadm trigger/);
});

test('a rule in /lib/udev/rules.d with MODE 0666 counts', async () => {
  const files = { ...GOOD.files };
  delete files['/etc/udev/rules.d/70-lifeboat-apple.rules'];
  files['/lib/udev/rules.d/51-apple.rules'] = 'SUBSYSTEM=="usb", ATTRS{idVendor}=="05ac", MODE="0666"\n';
  assert.match(section((await doctor({ files })).out, 'udev rule'), /^✓ .*\/lib\/udev\/rules\.d\/51-apple\.rules/);
});

test('this user cannot open the plugged-in iPhone: replug after the rule', async () => {
  const { code, out } = await doctor({ openable: [] });
  assert.equal(code, 1);
  const s = section(out, 'USB access');
  assert.match(s, /^✗ USB access: This user cannot open iPhone \(\/dev\/bus\/usb\/001\/007\)/);
  assert.match(s, /fix: .*unplug the device and plug it in again/);
});

test('no iPhone plugged in: access is unknown, not a failure', async () => {
  const files = Object.fromEntries(Object.entries(GOOD.files).filter(([p]) => !p.includes('/1-2')));
  const { code, out } = await doctor({ files });
  assert.equal(code, 0, out);
  assert.match(section(out, 'USB access'), /^\? USB access: No iPhone or iPad is plugged in[\s\S]*note: plug in the device/);
});

test('no Chromium browser installed: how to get one', async () => {
  const { code, out } = await doctor({ browsers: {} });
  assert.equal(code, 1);
  assert.match(section(out, 'browser'), /^✗ browser: No Chrome, Chromium[\s\S]*fix: install Google Chrome .* sudo apt install chromium/);
});

test('an old Chromium: update it; the newest installed browser is the one judged', async () => {
  const old = `Chromium ${MINIMUM_CHROME_MAJOR - 1}.0.5359.124 built on Debian GNU/Linux 11 (bullseye)\n`;
  const { code, out } = await doctor({ browsers: { chromium: old } });
  assert.equal(code, 1);
  assert.match(section(out, 'browser'), new RegExp(`needs version ${MINIMUM_CHROME_MAJOR} or later[\\s\\S]*fix: update chromium`));
  const both = await doctor({ browsers: { chromium: old, 'google-chrome': 'Google Chrome 142.0.7444.59' } });
  assert.equal(both.code, 0, both.out);
});

test('Chromium from snap: the raw-usb interface note', async () => {
  const { out } = await doctor({ browsers: { chromium: 'Chromium 142.0.7444.59 snap' }, links: { '/snap/bin/chromium': '/usr/bin/snap' } });
  assert.match(section(out, 'browser'), /note: .*sudo snap connect chromium:raw-usb/);
});

test('on another system doctor says what it checks and exits 0', async () => {
  const { code, out } = await doctor({ platform: 'darwin' });
  assert.equal(code, 0);
  assert.match(out, /doctor checks Linux machines; this is darwin/);
});

test('every missing step at once: each counted (access is unknown with no device plugged in)', async () => {
  const { code, out } = await doctor({ processes: ['usbmuxd', 'gvfs-afc-volume-monitor'], files: {}, browsers: {} });
  assert.equal(code, 1);
  assert.match(out, /4 steps to fix/);
});
