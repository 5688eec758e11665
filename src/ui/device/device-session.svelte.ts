import * as Comlink from 'comlink';
import type {
  BackupOutcome,
  BackupProgress,
  DeviceCardInfo,
  DeviceWorkerApi,
  PairingStep,
  RestorableBackup,
  RestoreOutcome,
  RestorePlanView,
  RestoreProgress,
  RestoreRequest,
} from '../../device/device-api.ts';
import type { VirtualIPhoneControl } from '../../virtual-iphone/control.ts';
import { installErrorTransfer } from '../../core/comlink-errors.ts';
import type { ErrorCode } from '../../core/errors.ts';
import { demoDeviceOptions, startVirtualIPhone, type VirtualIPhoneHandle } from './virtual-iphone.ts';
import { folderForBackup, grantedBackupFolder } from './backup-destination.svelte.ts';
import { askToKeepBackupsOnce } from './persist-storage.svelte.ts';
import { addFolderBackups } from '../library/library-state.svelte.ts';
import { DemoUsb } from './demo-usb.ts';
import { firstAllowedAppleDevice, watchAppleConnections, type UsbIdentity } from './auto-connect.ts';
import { browserRunGuardEnvironment, guardRun, type GuardedRun, type RunOutcome } from './run-guard.ts';
import { autoBackupEnabled } from './device-preferences.ts';
import { formatBytes } from '../format.ts';

installErrorTransfer();

export type DeviceScreen =
  | { kind: 'idle' }
  | { kind: 'connecting'; virtual: boolean }
  | { kind: 'connected'; card: DeviceCardInfo }
  | { kind: 'pairing'; card: DeviceCardInfo; step: PairingStep['step'] }
  | { kind: 'error'; code: ErrorCode | 'unknown'; message: string; action?: string; card?: DeviceCardInfo }
  /** `restored`: the phone restarts after a restore, so the connection ends on purpose. */
  | { kind: 'disconnected'; restored?: RestoreOutcome };

/** Browser capabilities the first screen must explain when missing. */
export const environment = {
  secure: typeof window !== 'undefined' && window.isSecureContext,
  webUsb: typeof navigator !== 'undefined' && 'usb' in navigator,
};

export type BackupView =
  | { kind: 'idle' }
  | { kind: 'running'; progress: BackupProgress; cancelling: boolean }
  | { kind: 'done'; outcome: BackupOutcome }
  | { kind: 'failed'; code: ErrorCode | 'unknown'; message: string; action?: string };

type Failure = { code: ErrorCode | 'unknown'; message: string; action?: string };

export type RestoreView =
  | { kind: 'idle' }
  | { kind: 'checking' }
  | { kind: 'checked'; plan: RestorePlanView }
  | { kind: 'running'; progress: RestoreProgress; cancelling: boolean }
  | ({ kind: 'done' } & RestoreOutcome)
  | ({ kind: 'failed' } & Failure);

export const session = $state<{
  restore: RestoreView;
  restorable: RestorableBackup[];
  screen: DeviceScreen;
  backup: BackupView;
  /** The demo device's controls (the person's hands on the simulated phone), when it is connected. */
  virtualPhone: Comlink.Remote<VirtualIPhoneControl> | undefined;
  /** The iPhone asks for its passcode to confirm an encryption change. */
  encryptionPasscodePrompt: boolean;
  /** The running (or last) backup was started by "Back up automatically when this iPhone is connected". */
  autoBackupStarted: boolean;
  /** `restorable` has been read at least once (the device card says "never backed up" only then). */
  restorableLoaded: boolean;
}>({
  screen: { kind: 'idle' },
  backup: { kind: 'idle' },
  restore: { kind: 'idle' },
  restorable: [],
  virtualPhone: undefined,
  encryptionPasscodePrompt: false,
  autoBackupStarted: false,
  restorableLoaded: false,
});

/** Wake lock, beforeunload warning and end-of-run notification for a backup or restore. */
function guardLongRun(kind: 'backup' | 'restore'): GuardedRun | undefined {
  try {
    return guardRun(kind, browserRunGuardEnvironment());
  } catch {
    // A page without these browser objects (an embedded view, a test shell) still backs up, unguarded.
    return undefined;
  }
}

function failureOutcome(error: unknown): RunOutcome {
  return { ok: false, summary: errorFields(error).message };
}

let worker: Worker | undefined;
let api: Comlink.Remote<DeviceWorkerApi> | undefined;
let virtualHandle: VirtualIPhoneHandle | undefined;

/** The device worker (created on first use): the only writer of the browser's backup store. */
export function deviceWorker(): Comlink.Remote<DeviceWorkerApi> {
  if (!api) {
    worker = new Worker(new URL('../../../workers/device.worker.ts', import.meta.url), { type: 'module', name: 'device' });
    api = Comlink.wrap<DeviceWorkerApi>(worker);
    void api.onDisconnect(
      Comlink.proxy(() => {
        if (session.screen.kind !== 'idle') session.screen = { kind: 'disconnected' };
      }),
    );
  }
  return api;
}

function showError(error: unknown, card?: DeviceCardInfo): void {
  const e = error as { code?: ErrorCode; message?: string; action?: string };
  session.screen = {
    kind: 'error',
    code: e.code ?? 'unknown',
    message: e.message ?? String(error),
    ...(e.action ? { action: e.action } : {}),
    ...(card ? { card } : {}),
  };
}

/** Demo mode's USB permissions: the virtual iPhone, once picked, reconnects without the chooser like a real one. */
export const demoUsb = new DemoUsb();

/** "Try the virtual iPhone" is demo mode's chooser: picking grants the demo phone to this origin. */
export async function connectVirtual(): Promise<void> {
  demoUsb.requestDevice();
  await attachVirtual();
}

async function attachVirtual(): Promise<void> {
  session.screen = { kind: 'connecting', virtual: true };
  try {
    // The same demo phone stays on the desk across disconnects and restores: connecting again replugs it.
    virtualHandle ??= startVirtualIPhone(demoDeviceOptions(location.search));
    session.virtualPhone = virtualHandle.control;
    const port = virtualHandle.plug();
    const card = await deviceWorker().connectVirtual(Comlink.transfer(port, [port]));
    connected(card);
  } catch (error) {
    showError(error);
  }
}

/** Diagnostics: a recorded trace (text of a `.jsonl` export) served as the demo device; the host runs against it. */
export async function connectReplay(trace: string): Promise<void> {
  virtualHandle?.stop();
  virtualHandle = startVirtualIPhone(undefined, trace);
  await connectVirtual();
}

export async function connectUsb(): Promise<void> {
  let device: USBDevice;
  try {
    device = await navigator.usb.requestDevice({ filters: [{ vendorId: 0x05ac }] });
  } catch (error) {
    // Closing Chrome's chooser without picking is not an error worth a screen.
    if ((error as DOMException).name === 'NotFoundError') return;
    showError(error);
    return;
  }
  await attachUsb(device);
}

async function attachUsb(device: UsbIdentity): Promise<void> {
  session.screen = { kind: 'connecting', virtual: false };
  try {
    const card = await deviceWorker().connectUsb({
      vendorId: device.vendorId,
      productId: device.productId,
      serialNumber: device.serialNumber ?? undefined,
    });
    connected(card);
  } catch (error) {
    showError(error);
  }
}

/** Nothing is connected or being connected: a device that turns up may be taken without asking. */
function free(): boolean {
  return session.screen.kind === 'idle' || session.screen.kind === 'disconnected';
}

function connected(card: DeviceCardInfo): void {
  session.screen = { kind: 'connected', card };
  void loadRestorableBackups();
  // The person's opt-in: every time this device is connected while Lifeboat is open, back it up.
  if (card.trusted && autoBackupEnabled(card.udid) && session.backup.kind !== 'running' && session.restore.kind !== 'running') {
    void startBackup(false, true);
  }
}

let watching = false;

/**
 * Reconnects without the chooser, as Chrome allows for devices this origin was granted before: once
 * when the app opens (getDevices) and whenever such a device is plugged in (connect events). Demo mode's
 * virtual iPhone follows the same rules through DemoUsb. Called once; later calls do nothing.
 */
export async function reconnectAllowedDevices(): Promise<void> {
  if (watching) return;
  watching = true;
  const usb = environment.secure && environment.webUsb ? navigator.usb : undefined;
  watchAppleConnections(demoUsb, () => {
    if (free()) void attachVirtual();
  });
  if (usb) {
    watchAppleConnections<USBDevice>(usb, (device) => {
      if (free()) void attachUsb(device);
    });
  }
  // A real device plugged in wins over the demo phone left on the desk.
  const device = usb ? await firstAllowedAppleDevice(usb).catch(() => undefined) : undefined;
  if (!free()) return;
  if (device) await attachUsb(device);
  else if (demoUsb.getDevices().length > 0) await attachVirtual();
}

/** The demo phone's cable, from its panel: pulling it fires `disconnect`, plugging it back `connect`. */
export function unplugVirtual(): void {
  demoUsb.unplug();
  void session.virtualPhone?.unplug();
}

export function plugVirtual(): void {
  demoUsb.plug();
}

export async function pair(): Promise<void> {
  const screen = session.screen;
  if (screen.kind !== 'connected' && screen.kind !== 'error') return;
  const card = screen.card!;
  session.screen = { kind: 'pairing', card, step: 'waiting-for-trust' };
  try {
    const trusted = await deviceWorker().pair(
      Comlink.proxy((step: PairingStep) => {
        if (session.screen.kind === 'pairing') session.screen = { kind: 'pairing', card, step: step.step };
      }),
    );
    session.screen = { kind: 'connected', card: trusted };
  } catch (error) {
    showError(error, card);
  }
}

export async function forget(): Promise<void> {
  const screen = session.screen;
  await deviceWorker().forget();
  if (screen.kind === 'connected') session.screen = { kind: 'connected', card: { ...screen.card, trusted: false } };
}

export async function disconnect(): Promise<void> {
  await api?.disconnect();
  if (virtualHandle) demoUsb.putAway();
  virtualHandle?.stop();
  virtualHandle = undefined;
  session.virtualPhone = undefined;
  session.backup = { kind: 'idle' };
  session.restore = { kind: 'idle' };
  session.screen = { kind: 'idle' };
}

function errorFields(error: unknown): { code: ErrorCode | 'unknown'; message: string; action?: string } {
  const e = error as { code?: ErrorCode; message?: string; action?: string };
  return { code: e.code ?? 'unknown', message: e.message ?? String(error), ...(e.action ? { action: e.action } : {}) };
}

const KEEP_VERSIONS_KEY = 'lifeboat.keepVersions';
export const KEEP_VERSIONS_CHOICES = [0, 1, 2, 3, 5, 10] as const;

/** Earlier backups kept per device (the person's choice; 3 unless they changed it). */
export function keptVersions(): number {
  const raw = globalThis.localStorage?.getItem(KEEP_VERSIONS_KEY);
  const saved = raw == null ? NaN : Number(raw);
  return Number.isInteger(saved) && saved >= 0 && saved <= 100 ? saved : 3;
}

export function setKeptVersions(count: number): void {
  globalThis.localStorage?.setItem(KEEP_VERSIONS_KEY, String(count));
}

export async function startBackup(full: boolean, automatic = false): Promise<void> {
  if (session.backup.kind === 'running') return;
  session.autoBackupStarted = automatic;
  const guard = guardLongRun('backup');
  session.backup = {
    kind: 'running',
    cancelling: false,
    progress: { stage: 'preparing', bytesReceived: 0, filesReceived: 0, bytesPerSecond: 0, percent: null, etaSeconds: null, warnings: 0 },
  };
  try {
    const folder = await folderForBackup();
    if (!folder) void askToKeepBackupsOnce();
    const outcome = await deviceWorker().backup(
      { full, keepVersions: keptVersions(), ...(folder ? { folder } : {}) },
      Comlink.proxy((progress: BackupProgress) => {
        if (session.backup.kind === 'running') session.backup = { ...session.backup, progress };
      }),
    );
    session.backup = { kind: 'done', outcome };
    guard?.finish({ ok: true, summary: `${outcome.filesReceived} files, ${formatBytes(outcome.bytesReceived)}.` });
    void loadRestorableBackups();
    // A backup in a picked folder is read in place by the Library, like an imported Finder folder.
    if (folder) void addFolderBackups(folder, { quiet: true }).catch(() => undefined);
  } catch (error) {
    session.backup = { kind: 'failed', ...errorFields(error) };
    guard?.finish(failureOutcome(error));
  }
}

export async function cancelBackup(): Promise<void> {
  if (session.backup.kind !== 'running') return;
  session.backup = { ...session.backup, cancelling: true };
  await deviceWorker().cancelBackup();
}

/** Turns encryption on or off; returns an error to show next to the form, or undefined on success. */
export async function changeEncryption(
  enable: boolean,
  password: string,
): Promise<{ code: ErrorCode | 'unknown'; message: string; action?: string } | undefined> {
  const onPrompt = Comlink.proxy((shown: boolean) => (session.encryptionPasscodePrompt = shown));
  try {
    const card = await deviceWorker().setEncryption(enable, password, onPrompt);
    if (session.screen.kind === 'connected') session.screen = { kind: 'connected', card };
    return undefined;
  } catch (error) {
    return errorFields(error);
  } finally {
    session.encryptionPasscodePrompt = false;
  }
}

export async function changeBackupPassword(
  oldPassword: string,
  newPassword: string,
): Promise<{ code: ErrorCode | 'unknown'; message: string; action?: string } | undefined> {
  const onPrompt = Comlink.proxy((shown: boolean) => (session.encryptionPasscodePrompt = shown));
  try {
    await deviceWorker().changeBackupPassword(oldPassword, newPassword, onPrompt);
    return undefined;
  } catch (error) {
    return errorFields(error);
  } finally {
    session.encryptionPasscodePrompt = false;
  }
}

export async function loadRestorableBackups(): Promise<void> {
  try {
    session.restorable = await deviceWorker().listRestorableBackups(await grantedBackupFolder());
  } catch {
    session.restorable = [];
  }
  session.restorableLoaded = true;
}

export async function checkRestore(request: RestoreRequest): Promise<void> {
  session.restore = { kind: 'checking' };
  try {
    session.restore = { kind: 'checked', plan: await deviceWorker().checkRestore(request) };
  } catch (error) {
    session.restore = { kind: 'failed', ...errorFields(error) };
  }
}

export async function runRestore(request: RestoreRequest): Promise<void> {
  const guard = guardLongRun('restore');
  session.restore = {
    kind: 'running',
    cancelling: false,
    progress: { stage: 'checking', bytesSent: 0, filesSent: 0, bytesPerSecond: 0, percent: null, etaSeconds: null, warnings: 0 },
  };
  try {
    const result = await deviceWorker().restore(
      request,
      Comlink.proxy((progress: RestoreProgress) => {
        if (session.restore.kind === 'running') session.restore = { ...session.restore, progress };
      }),
    );
    session.restore = { kind: 'done', ...result };
    guard?.finish({ ok: true, summary: `${result.filesSent} files, ${formatBytes(result.bytesSent)}. The iPhone is restarting.` });
    // The phone restarts after a restore: the device worker has already let go of it.
    session.screen = { kind: 'disconnected', restored: result };
  } catch (error) {
    session.restore = { kind: 'failed', ...errorFields(error) };
    guard?.finish(failureOutcome(error));
  }
}

export async function cancelRestore(): Promise<void> {
  if (session.restore.kind !== 'running') return;
  session.restore = { ...session.restore, cancelling: true };
  await deviceWorker().cancelRestore();
}
