/// <reference lib="webworker" />
// The device engine off the main thread: USB → mux → lockdown (→ services → backup). The UI reaches it
// through Comlink with the DeviceWorkerApi from src/device/device-api.ts.
import * as Comlink from 'comlink';
import { installErrorTransfer } from '../src/core/comlink-errors.ts';
import { DeviceDisconnectedError, DeviceLockedError, LifeboatError } from '../src/core/errors.ts';
import type {
  BackupOptions,
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
} from '../src/device/device-api.ts';
import { RestoreEngine, checkRestore, readRestoreValues, restoreSourceFromTree, type RestorePlan, type RestoreSource } from '../src/restore/index.ts';
import { decodePlist, isPlistDict, type PlistDict } from '../src/plist/index.ts';
import type { BackupStore, BackupTree } from '../src/stores/backup-store.ts';
import { productName } from '../src/lockdown/product-names.ts';
import { BackupEngine, changePassword, readBackupValues, setEncryption } from '../src/backup/index.ts';
import { OpfsBackupStore } from '../src/stores/opfs-backup-store.ts';
import { FolderBackupStore } from '../src/stores/folder-backup-store.ts';
import type { DirHandleLike } from '../src/stores/handle-backend.ts';
import type { VersionedBackupStore } from '../src/stores/versioned-backup-store.ts';
import { openStoreBackup } from '../src/stores/open-backup.ts';
import { LockdownClient, readDeviceInfo, type DeviceInfo, type PairingStore } from '../src/lockdown/index.ts';
import { createIndexedDbPairingStore } from '../src/lockdown/indexeddb-pairing-database.ts';
import { MuxDeviceConnector } from '../src/usbmux/index.ts';
import { recorderTap } from '../src/diagnostics/stream-tap.ts';
import { TraceRecorder } from '../src/diagnostics/trace-recorder.ts';
import { recordUsbDevice } from '../src/diagnostics/usb-info.ts';
import { muxHeaderTap } from '../src/diagnostics/mux-tap.ts';
import { APPLE_VENDOR_ID } from '../src/usb/index.ts';
import { WebUsbMuxTransport } from '../src/usb/webusb-mux-transport.ts';
import { FakeUsb } from '../src/virtual-iphone/usb/fake-usb-device.ts';
import { connectWorkerUsbDevice, type MessagePortLike } from '../src/virtual-iphone/usb/worker-bridge.ts';

installErrorTransfer();

const LOCKED_RETRY_MS = 1000;
const LOCKED_GIVE_UP_MS = 5 * 60_000;

class DeviceWorker implements DeviceWorkerApi {
  private connector: MuxDeviceConnector | undefined;
  private lockdown: LockdownClient | undefined;
  private virtual = false;
  private store: PairingStore | undefined;
  private disconnectListeners: (() => void)[] = [];
  private backupAbort: AbortController | undefined;
  private restoreAbort: AbortController | undefined;
  /** One open of the browser's store, shared by concurrent callers (connecting lists backups while an automatic backup starts). */
  private store_: Promise<OpfsBackupStore> | undefined;
  /** Stops watching the previous device's unplug: with reconnects on every replug, listeners would pile up. */
  private stopWatchingUnplug: (() => void) | undefined;
  /** The Diagnostics view's trace: this worker's whole session, redacted as it is recorded. */
  readonly trace = new TraceRecorder({ app: 'Lifeboat web 0.1.0', runtime: self.navigator.userAgent, os: workerPlatform() });

  async getTrace(): Promise<string> {
    return this.trace.text();
  }

  private pairingStore(): PairingStore {
    this.store ??= createIndexedDbPairingStore();
    return this.store;
  }

  async connectVirtual(port: MessagePort): Promise<DeviceCardInfo> {
    const device = await connectWorkerUsbDevice(port as unknown as MessagePortLike);
    const usb = new FakeUsb([device]);
    return this.attach(device, usb, true);
  }

  async connectUsb(match: { vendorId: number; productId: number; serialNumber: string | undefined }): Promise<DeviceCardInfo> {
    const usb = (self.navigator as Navigator & { usb?: USB }).usb;
    if (!usb) throw new LifeboatError('unsupported', 'This browser does not offer WebUSB to workers.', { action: 'Use a current version of Chrome or Edge.' });
    const devices = await usb.getDevices();
    const device = devices.find(
      (d) => d.vendorId === APPLE_VENDOR_ID && d.productId === match.productId && (match.serialNumber === undefined || d.serialNumber === match.serialNumber),
    );
    if (!device) throw new DeviceDisconnectedError('The device is no longer available. Reconnect it and choose it again.');
    return this.attach(device, usb, false);
  }

  private async attach(device: USBDevice, usb: EventTarget, virtual: boolean): Promise<DeviceCardInfo> {
    await this.disconnect();
    this.virtual = virtual;
    this.stopWatchingUnplug?.();
    const onUnplug = (event: Event): void => {
      if ((event as USBConnectionEvent).device !== device) return;
      void this.disconnect();
      for (const listener of this.disconnectListeners) listener();
    };
    usb.addEventListener('disconnect', onUnplug);
    this.stopWatchingUnplug = () => usb.removeEventListener('disconnect', onUnplug);
    this.connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, packetTap: muxHeaderTap(this.trace) });
    const transport = this.connector.session.transport;
    recordUsbDevice(this.trace, device, transport instanceof WebUsbMuxTransport ? transport.location : undefined);
    this.trace.add({ kind: 'device', udid: this.trace.redactor.identifier(this.connector.device.udid), productId: device.productId, connection: virtual ? 'virtual USB' : 'USB' });
    this.connector.trace = recorderTap(this.trace);
    this.lockdown = await LockdownClient.connect(this.connector, { store: this.pairingStore(), label: 'lifeboat' });
    // A device that already trusts us shows everything; one that forgot us falls back to the reduced set.
    if (await this.lockdown.loadPairing()) {
      try {
        await this.lockdown.startSession();
      } catch (error) {
        if ((error as LifeboatError).code !== 'pairing-invalid') throw error;
      }
    }
    return this.card();
  }

  private async card(): Promise<DeviceCardInfo> {
    const lockdown = this.requireLockdown();
    return toCard(await readDeviceInfo(lockdown), lockdown.inSession, this.virtual);
  }

  async pair(onStep: (step: PairingStep) => void): Promise<DeviceCardInfo> {
    const lockdown = this.requireLockdown();
    const started = Date.now();
    for (;;) {
      try {
        await lockdown.pair((progress) => {
          if (progress === 'waiting-for-trust') onStep({ step: 'waiting-for-trust' });
        });
        break;
      } catch (error) {
        // A locked phone cannot show the Trust dialog: wait for the person to unlock it.
        if (!(error instanceof DeviceLockedError) || Date.now() - started > LOCKED_GIVE_UP_MS) throw error;
        onStep({ step: 'locked' });
        await new Promise((resolve) => setTimeout(resolve, LOCKED_RETRY_MS));
      }
    }
    await lockdown.startSession();
    onStep({ step: 'trusted' });
    return this.card();
  }

  async forget(): Promise<void> {
    const lockdown = this.lockdown;
    if (!lockdown) return;
    try {
      await lockdown.unpair();
    } catch {
      // The device may refuse or be gone; forgetting it here is what the person asked for.
      await this.pairingStore().remove(lockdown.udid);
    }
  }

  async disconnect(): Promise<void> {
    const lockdown = this.lockdown;
    const connector = this.connector;
    this.lockdown = undefined;
    this.connector = undefined;
    await lockdown?.close().catch(() => undefined);
    await connector?.close().catch(() => undefined);
  }

  onDisconnect(callback: () => void): void {
    this.disconnectListeners.push(callback);
  }

  async backup(options: BackupOptions, onProgress: (progress: BackupProgress) => void): Promise<BackupOutcome> {
    const lockdown = await this.requireSession();
    if (this.backupAbort) throw new LifeboatError('device-busy', 'A backup is already running.');
    if (this.restoreAbort) throw new LifeboatError('device-busy', 'A restore is running.');
    const store = await this.storeFor(options.folder);
    if (options.keepVersions !== undefined) store.setKeepVersions(options.keepVersions);
    const abort = new AbortController();
    this.backupAbort = abort;
    try {
      const result = await BackupEngine.run({
        provider: lockdown,
        store,
        udid: lockdown.udid,
        deviceValues: await readBackupValues(lockdown),
        full: options.full ?? false,
        signal: abort.signal,
        onProgress,
      });
      return {
        filesReceived: result.filesReceived,
        bytesReceived: result.bytesReceived,
        durationMs: result.durationMs,
        isFullBackup: result.isFullBackup,
        encrypted: result.encrypted,
        warnings: result.warnings,
        location: options.folder ? { kind: 'folder', name: options.folder.name } : { kind: 'browser' },
      };
    } finally {
      this.backupAbort = undefined;
    }
  }

  async cancelBackup(): Promise<void> {
    this.backupAbort?.abort();
  }

  async setEncryption(enable: boolean, password: string, onPasscodePrompt: (shown: boolean) => void): Promise<DeviceCardInfo> {
    const lockdown = await this.requireSession();
    const willEncrypt = (await lockdown.getValue('com.apple.mobile.backup', 'WillEncrypt').catch(() => undefined)) === true;
    await setEncryption(lockdown, { udid: lockdown.udid, enable, password, willEncrypt, onPasscodePrompt });
    return this.card();
  }

  async changeBackupPassword(oldPassword: string, newPassword: string, onPasscodePrompt: (shown: boolean) => void): Promise<void> {
    const lockdown = await this.requireSession();
    await changePassword(lockdown, { udid: lockdown.udid, oldPassword, newPassword, onPasscodePrompt });
  }

  private async opfsStore(): Promise<OpfsBackupStore> {
    // After a failed write (a full quota) the open store is behind its files: reopen from them.
    const open = this.store_ ? await this.store_.catch(() => undefined) : undefined;
    if (open?.failed) {
      this.store_ = undefined;
      await open.close().catch(() => undefined);
    }
    this.store_ ??= OpfsBackupStore.open().catch((error: unknown) => {
      this.store_ = undefined;
      throw error;
    });
    return this.store_;
  }

  /** A picked folder is opened per use (its permission belongs to the page's click); OPFS stays open. */
  private async storeFor(folder: FileSystemDirectoryHandle | undefined): Promise<VersionedBackupStore> {
    return folder ? FolderBackupStore.open(folder as unknown as DirHandleLike) : this.opfsStore();
  }

  async listRestorableBackups(folder?: FileSystemDirectoryHandle): Promise<RestorableBackup[]> {
    const backups = await listStoreBackups(await this.opfsStore(), { kind: 'browser' });
    if (folder) {
      try {
        backups.push(...(await listStoreBackups(await this.storeFor(folder), { kind: 'folder', name: folder.name })));
      } catch {
        // No permission (yet) or the folder is gone: the browser's backups still list.
      }
    }
    return backups;
  }

  async deleteBackup(sourceUdid: string): Promise<void> {
    if (this.backupAbort || this.restoreAbort) throw new LifeboatError('device-busy', 'Wait for the running backup or restore to finish, then delete.');
    await (await this.opfsStore()).deleteDevice(sourceUdid);
  }

  async checkRestore(request: RestoreRequest): Promise<RestorePlanView> {
    const lockdown = await this.requireSession();
    const plan = await checkRestore({ source: await this.restoreSource(request), values: await readRestoreValues(lockdown), password: request.password });
    return planView(plan);
  }

  async restore(request: RestoreRequest, onProgress: (progress: RestoreProgress) => void): Promise<RestoreOutcome> {
    const lockdown = await this.requireSession();
    if (this.restoreAbort || this.backupAbort) throw new LifeboatError('device-busy', 'Another backup or restore is running.');
    const abort = new AbortController();
    this.restoreAbort = abort;
    try {
      const result = await RestoreEngine.run({
        provider: lockdown,
        source: await this.restoreSource(request),
        targetUdid: lockdown.udid,
        sourceIdentifier: request.sourceUdid,
        deviceValues: await readRestoreValues(lockdown),
        options: {
          password: request.password,
          settings: request.settings ?? false,
          removeItemsNotRestored: request.removeItemsNotRestored ?? false,
          reboot: true,
        },
        onProgress,
        signal: abort.signal,
      });
      // The phone restarts: this connection is over, as when Finder finishes a restore.
      await this.disconnect();
      // The plan's warnings come first and were on screen before the restore started.
      const warnings = result.warnings.slice(result.plan.warnings.length);
      return { filesSent: result.filesSent, bytesSent: result.bytesSent, durationMs: result.durationMs, warnings };
    } finally {
      this.restoreAbort = undefined;
    }
  }

  async cancelRestore(): Promise<void> {
    this.restoreAbort?.abort();
  }

  private async restoreSource(request: RestoreRequest): Promise<RestoreSource> {
    const { sourceUdid, versionId, folder } = request;
    const where = folder ? `the folder “${folder.name}”` : 'this browser’s storage';
    const tree = await openStoreBackup(await this.storeFor(folder), sourceUdid, versionId, where);
    return restoreSourceFromTree(tree, versionId === undefined ? sourceUdid : `${sourceUdid} (earlier backup)`);
  }

  /** Backups and encryption need the trusted session; say so plainly when the device does not trust us yet. */
  private async requireSession(): Promise<LockdownClient> {
    const lockdown = this.requireLockdown();
    if (!lockdown.inSession) {
      if (!(await lockdown.loadPairing())) {
        throw new LifeboatError('pairing-invalid', 'This computer is not trusted by the device yet.', { action: 'Tap “Trust this computer” first.' });
      }
      await lockdown.startSession();
    }
    return lockdown;
  }

  private requireLockdown(): LockdownClient {
    if (!this.lockdown) throw new DeviceDisconnectedError('No device is connected.');
    return this.lockdown;
  }
}

async function listStoreBackups(store: BackupStore, location: RestorableBackup['location']): Promise<RestorableBackup[]> {
  const backups: RestorableBackup[] = [];
  for (const udid of await store.listDevices()) {
    const tree = await store.current(udid);
    if (!tree) continue;
    const info = await readTreePlist(tree, 'Info.plist');
    const manifest = await readTreePlist(tree, 'Manifest.plist');
    const productType = typeof info['Product Type'] === 'string' ? info['Product Type'] : '';
    const date = info['Last Backup Date'];
    backups.push({
      sourceUdid: udid,
      deviceName: typeof info['Device Name'] === 'string' ? info['Device Name'] : udid,
      productType,
      marketingName: productName(productType),
      productVersion: typeof info['Product Version'] === 'string' ? info['Product Version'] : '',
      date: date instanceof Date ? date.toISOString() : undefined,
      encrypted: manifest['IsEncrypted'] === true,
      versions: await Promise.all(
        (await store.listVersions(udid)).map(async (v) => ({
          id: v.id,
          date: v.date.toISOString(),
          encrypted: (await readTreePlist(await store.openVersion(udid, v.id), 'Manifest.plist'))['IsEncrypted'] === true,
        })),
      ),
      location,
    });
  }
  return backups;
}

async function readTreePlist(tree: BackupTree, path: string): Promise<PlistDict> {
  try {
    const value = decodePlist(await tree.readFile(path));
    return isPlistDict(value) ? value : {};
  } catch {
    return {};
  }
}

function planView(plan: RestorePlan): RestorePlanView {
  return {
    encrypted: plan.encrypted,
    fileCount: plan.fileCount,
    totalBytes: plan.totalBytes,
    backupVersion: plan.backupVersion,
    deviceVersion: plan.deviceVersion,
    crossDevice: plan.crossDevice,
    leftOut: plan.leftOut.map((l) => ({ description: l.description, files: l.files, bytes: l.bytes })),
    appsNotBuiltForTarget: plan.appsNotBuiltForTarget,
    warnings: plan.warnings,
  };
}

function toCard(info: DeviceInfo, trusted: boolean, virtual: boolean): DeviceCardInfo {
  return {
    udid: info.udid,
    deviceName: info.deviceName,
    productType: info.productType,
    marketingName: info.productName,
    deviceClass: info.deviceClass,
    productVersion: info.productVersion,
    buildVersion: info.buildVersion,
    ...(info.serialNumber ? { serialNumber: info.serialNumber } : {}),
    ...(info.totalCapacity !== undefined && info.availableCapacity !== undefined
      ? { storage: { total: info.totalCapacity, available: info.availableCapacity } }
      : {}),
    ...(info.batteryLevel !== undefined ? { battery: { level: info.batteryLevel, charging: info.batteryCharging ?? false } } : {}),
    ...(info.willEncrypt !== undefined ? { willEncrypt: info.willEncrypt } : {}),
    trusted,
    virtual,
  };
}

function workerPlatform(): string {
  const nav = self.navigator as Navigator & { userAgentData?: { platform?: string } };
  return nav.userAgentData?.platform || nav.platform || 'unknown';
}

/** Every error the worker hands the UI also goes into the trace, with its code and stack. */
function recordingErrors(worker: DeviceWorker): DeviceWorker {
  return new Proxy(worker, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          return result.catch((error: unknown) => {
            target.trace.error(error);
            throw error;
          });
        }
        return result;
      };
    },
  });
}

Comlink.expose(recordingErrors(new DeviceWorker()));
