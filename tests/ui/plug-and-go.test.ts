// The page-side pieces of "plug in and go" and of long runs that survive the person's machine, driven
// with stand-ins for navigator.usb, localStorage, the document and the Wake Lock API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DemoUsb, DEMO_USB_DEVICE } from '../../src/ui/device/demo-usb.ts';
import { firstAllowedAppleDevice, watchAppleConnections, type UsbIdentity } from '../../src/ui/device/auto-connect.ts';
import { guardRun, LONG_RUN_MS, type RunGuardEnvironment, type WakeLockSentinelLike } from '../../src/ui/device/run-guard.ts';
import { autoBackupEnabled, describeBackupDate, lastBackupOf, setAutoBackup } from '../../src/ui/device/device-preferences.ts';
import type { RestorableBackup } from '../../src/device/device-api.ts';

class MemoryStorage {
  private map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
}

const iphone: UsbIdentity = { vendorId: 0x05ac, productId: 0x12a8, serialNumber: 'A' };
const recoveryMode: UsbIdentity = { vendorId: 0x05ac, productId: 0x1281, serialNumber: 'B' };
const keyboard: UsbIdentity = { vendorId: 0x046d, productId: 0xc31c, serialNumber: 'C' };

test('demo USB: nothing before the chooser; afterwards listed while plugged, across "reloads"', () => {
  const storage = new MemoryStorage();
  const first = new DemoUsb(storage);
  assert.deepEqual(first.getDevices(), []);
  first.plug();
  assert.deepEqual(first.getDevices(), [], 'plugging in a device never allowed grants nothing');
  assert.deepEqual(first.requestDevice(), DEMO_USB_DEVICE);
  assert.deepEqual(first.getDevices(), [DEMO_USB_DEVICE]);

  const reloaded = new DemoUsb(storage);
  assert.deepEqual(reloaded.getDevices(), [DEMO_USB_DEVICE], 'the grant and the cable survive a reload');
  reloaded.putAway();
  assert.deepEqual(new DemoUsb(storage).getDevices(), [], 'a phone put away is not attached after a reload');
  assert.equal(new DemoUsb(storage).granted, true, 'but it stays allowed');
  reloaded.forget();
  assert.equal(new DemoUsb(storage).granted, false);
});

test('demo USB: connect and disconnect events only for the allowed phone', () => {
  const usb = new DemoUsb(new MemoryStorage());
  const events: string[] = [];
  usb.addEventListener('connect', () => events.push('connect'));
  usb.addEventListener('disconnect', () => events.push('disconnect'));
  usb.plug();
  usb.unplug();
  assert.deepEqual(events, [], 'not allowed yet: no events reach the page');
  usb.requestDevice();
  usb.unplug();
  usb.unplug();
  usb.plug();
  assert.deepEqual(events, ['disconnect', 'connect']);
});

test('demo USB: unreadable saved state counts as never allowed', () => {
  const storage = new MemoryStorage();
  storage.setItem('lifeboat.demoUsb', '{not json');
  assert.deepEqual(new DemoUsb(storage).getDevices(), []);
  storage.setItem('lifeboat.demoUsb', '"granted"');
  assert.deepEqual(new DemoUsb(storage).getDevices(), []);
});

test('real USB: the first allowed iPhone in normal mode is taken; other devices are not', async () => {
  assert.equal(await firstAllowedAppleDevice({ getDevices: async () => [keyboard, recoveryMode] }), undefined);
  assert.equal(await firstAllowedAppleDevice({ getDevices: async () => [keyboard, recoveryMode, iphone] }), iphone);
  assert.equal(await firstAllowedAppleDevice({ getDevices: async () => [] }), undefined);
});

test('real USB: connect events for iPhones reach the handler until it stops listening', () => {
  const usb = new EventTarget();
  const seen: UsbIdentity[] = [];
  const stop = watchAppleConnections(usb, (device) => seen.push(device));
  const fire = (device: UsbIdentity, type = 'connect') => usb.dispatchEvent(Object.assign(new Event(type), { device }));
  fire(keyboard);
  fire(recoveryMode);
  fire(iphone, 'disconnect');
  fire(iphone);
  stop();
  fire(iphone);
  assert.deepEqual(seen, [iphone]);
});

class FakePage extends EventTarget {
  visibilityState: DocumentVisibilityState = 'visible';
  show(state: DocumentVisibilityState): void {
    this.visibilityState = state;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}

function fakeEnvironment(options: { wakeLock?: boolean; refuseLock?: boolean } = {}) {
  const page = new FakePage();
  const window = new EventTarget();
  const notifications: { title: string; body: string }[] = [];
  const locks: { released: boolean }[] = [];
  let clock = 0;
  const env: RunGuardEnvironment = {
    page,
    window,
    now: () => clock,
    notify(title, body) {
      notifications.push({ title, body });
      return true;
    },
    wakeLock:
      options.wakeLock === false
        ? undefined
        : {
            async request(type) {
              assert.equal(type, 'screen');
              if (options.refuseLock) throw new Error('NotAllowedError');
              const sentinel: WakeLockSentinelLike & { released: boolean } = { released: false, release: async () => void (sentinel.released = true) };
              locks.push(sentinel);
              return sentinel;
            },
          },
  };
  return { env, page, window, notifications, locks, advance: (ms: number) => (clock += ms) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('run guard: a wake lock while running, taken again when the tab is visible again, released at the end', async () => {
  const { env, page, locks } = fakeEnvironment();
  const run = guardRun('backup', env);
  await settle();
  assert.equal(run.holdsWakeLock, true);
  // The browser drops the lock when the tab is hidden.
  locks[0]!.released = true;
  page.show('hidden');
  await settle();
  assert.equal(locks.length, 1, 'no request while hidden (it would be refused)');
  page.show('visible');
  await settle();
  assert.equal(locks.length, 2);
  assert.equal(run.holdsWakeLock, true);
  page.show('visible');
  await settle();
  assert.equal(locks.length, 2, 'a held lock is not requested twice');
  run.finish({ ok: true, summary: 'done' });
  await settle();
  assert.equal(locks[1]!.released, true);
  page.show('hidden');
  page.show('visible');
  await settle();
  assert.equal(locks.length, 2, 'nothing after the run ended');
});

test('run guard: no wake lock API, or a refused one, does not stop the run', async () => {
  for (const options of [{ wakeLock: false }, { refuseLock: true }]) {
    const { env } = fakeEnvironment(options);
    const run = guardRun('restore', env);
    await settle();
    assert.equal(run.holdsWakeLock, false);
    run.finish({ ok: true, summary: '' });
  }
});

test('run guard: beforeunload warns only while running', () => {
  const { env, window } = fakeEnvironment();
  const unload = () => {
    const event = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(event);
    return event.defaultPrevented;
  };
  assert.equal(unload(), false);
  const run = guardRun('backup', env);
  assert.equal(unload(), true);
  run.finish({ ok: false, summary: 'The device was disconnected.' });
  assert.equal(unload(), false);
});

test('run guard: a notification only when a long run ends while the tab is hidden', () => {
  const cases: { ms: number; hidden: boolean; notified: boolean }[] = [
    { ms: LONG_RUN_MS, hidden: true, notified: true },
    { ms: LONG_RUN_MS - 1, hidden: true, notified: false },
    { ms: LONG_RUN_MS * 10, hidden: false, notified: false },
  ];
  for (const c of cases) {
    const { env, page, notifications, advance } = fakeEnvironment();
    const run = guardRun('backup', env);
    advance(c.ms);
    if (c.hidden) page.show('hidden');
    run.finish({ ok: true, summary: '4,210 files, 1.2 GB.' });
    run.finish({ ok: true, summary: 'twice' });
    assert.deepEqual(notifications, c.notified ? [{ title: 'Backup complete', body: '4,210 files, 1.2 GB.' }] : [], JSON.stringify(c));
  }
  const { env, page, notifications, advance } = fakeEnvironment();
  const run = guardRun('restore', env);
  advance(LONG_RUN_MS);
  page.show('hidden');
  run.finish({ ok: false, summary: 'The device was disconnected.' });
  assert.deepEqual(notifications, [{ title: 'Restore did not finish', body: 'The device was disconnected.' }]);
});

test('automatic backup is opt-in and per device', () => {
  const storage = new MemoryStorage();
  assert.equal(autoBackupEnabled('A', storage), false);
  setAutoBackup('A', true, storage);
  setAutoBackup('B', true, storage);
  setAutoBackup('A', true, storage);
  assert.equal(autoBackupEnabled('A', storage), true);
  setAutoBackup('A', false, storage);
  assert.equal(autoBackupEnabled('A', storage), false);
  assert.equal(autoBackupEnabled('B', storage), true);
  storage.setItem('lifeboat.autoBackup', '{broken');
  assert.equal(autoBackupEnabled('B', storage), false);
});

test('last backup: the newest complete backup of this device, wherever Lifeboat keeps it', () => {
  const backup = (udid: string, date: string | undefined, location: RestorableBackup['location']): RestorableBackup => ({
    sourceUdid: udid,
    deviceName: 'x',
    productType: 'iPhone15,2',
    marketingName: 'iPhone 14 Pro',
    productVersion: '18.6',
    date,
    encrypted: false,
    versions: [],
    location,
  });
  const list = [
    backup('A', '2026-12-01T10:00:00Z', { kind: 'browser' }),
    backup('A', '2026-12-02T10:00:00Z', { kind: 'folder', name: 'Backups' }),
    backup('A', undefined, { kind: 'browser' }),
    backup('B', '2026-12-03T10:00:00Z', { kind: 'browser' }),
  ];
  assert.deepEqual(lastBackupOf('A', list), { date: new Date('2026-12-02T10:00:00Z'), location: { kind: 'folder', name: 'Backups' } });
  assert.equal(lastBackupOf('C', list), undefined);

  const now = new Date(2026, 11, 3, 12, 0);
  assert.match(describeBackupDate(new Date(2026, 11, 3, 9, 41), now, 'en-GB'), /^Today at 09:41$/);
  assert.match(describeBackupDate(new Date(2026, 11, 2, 23, 59), now, 'en-GB'), /^Yesterday at 23:59$/);
  assert.match(describeBackupDate(new Date(2026, 2, 3, 10, 15), now, 'en-GB'), /^3 March 2026 at 10:15$/);
});
