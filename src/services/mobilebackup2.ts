import { CancelledError, ProtocolError } from '../core/errors.ts';
import { isPlistDict, PlistReal, type PlistDict, type PlistValue } from '../plist/index.ts';
import { DeviceLinkHost, withReason, type DeviceLinkMessage } from './devicelink.ts';
import {
  deviceLinkErrorCode,
  errorText,
  receiveUploadBatch,
  sendDownloadFiles,
  type DownloadSource,
  type UploadTarget,
} from './devicelink-files.ts';
import type { ServiceProvider } from './service-provider.ts';
import { bufferUploadBatch } from './upload-batch-buffer.ts';
import { nextTask } from '../core/next-task.ts';

export const MOBILEBACKUP2_SERVICE = 'com.apple.mobilebackup2';
export const SUPPORTED_PROTOCOL_VERSIONS = [2.0, 2.1];
/**
 * UploadFiles batches the device announces at up to this many bytes are read whole and answered
 * before they are stored (a 1.3M-file phone's batches of 128 small files are ≈ 0.3 MB; big files
 * stream through as they arrive, as before).
 */
const EARLY_REPLY_BATCH_BYTES = 1 << 20;
/** Room for the names, paths and block headers of such a batch beyond its announced bytes. */
const EARLY_REPLY_FRAMING_BYTES = 1 << 20;
/**
 * Storing such a batch runs without a wait when the store writes synchronously (Node): the device's
 * next batch then got no further than the socket's buffer (≈200 KB; a 1.3M-file phone's incremental
 * sends batches of ≈0.9 MB) until all 128 files were stored, and it waited. A task boundary every 16
 * files lets it be read meanwhile.
 */
const STORE_AHEAD_PAUSE = { every: 16, pause: nextTask };

/** What the DL loop needs from the host file system; paths are the device's, relative to the backup root. */
export interface DeviceLinkFileSystem extends UploadTarget, DownloadSource {
  list(path: string): Promise<{ name: string; kind: 'file' | 'directory'; size: number; mtime: Date }[]>;
  mkdirp(path: string): Promise<void>;
  move(from: string, to: string): Promise<void>;
  /** move without a promise, where the storage can; false (nothing done) when it needs move. */
  moveNow?(from: string, to: string): boolean;
  remove(path: string): Promise<void>;
  copy(from: string, to: string): Promise<void>;
  freeSpace(): Promise<number>;
  /** Try to free `bytes`; true if it did. Optional: without it the device hears "not supported". */
  purge?(bytes: number): Promise<boolean>;
  /**
   * Called after every message that changed files, before the device is told so; for a batch of small
   * uploads, before it is stored (its files stay named as unfinished until the sync after them).
   */
  sync(): Promise<void>;
}

export interface DeviceLinkObserver {
  onMessage?(name: string): void;
  /** Overall percent the device reports (0–100). */
  onProgress?(percent: number): void;
  onBytesReceived?(count: number): void;
  /** An UploadFiles batch begins; the device announced this many bytes for it. */
  onUploadBatch?(announcedBytes: number): void;
  onFileReceived?(path: string, bytes: number): void;
  onBytesSent?(count: number): void;
  onWarning?(message: string): void;
}

/** The final ProcessMessage of a request. */
export interface MobileBackup2Result {
  errorCode: number;
  errorDescription: string | undefined;
  content: string | undefined;
  raw: PlistDict;
  /**
   * The first change the host could not make (a failed store write): when the device then gives up,
   * this, not the device's generic code, is what went wrong.
   */
  hostFailure?: unknown;
}

/**
 * mobilebackup2 on top of DeviceLink: Hello, the requests (Backup, ChangePassword, Info, List…),
 * and the DL loop that serves the device's file requests until the request's final answer.
 */
export class MobileBackup2Client {
  private hostFailure: unknown;
  /** A batch answered before it was stored failed to store; the device has not heard yet. */
  private storeFailure: unknown;

  private constructor(
    readonly link: DeviceLinkHost,
    readonly protocolVersion: number,
  ) {}

  /** Starts the service with the escrow bag (so a device that locks mid-backup keeps going), then handshakes. */
  static async start(provider: ServiceProvider, signal?: AbortSignal): Promise<MobileBackup2Client> {
    const stream = await provider.startService(MOBILEBACKUP2_SERVICE, { withEscrowBag: true });
    const link = new DeviceLinkHost(stream);
    try {
      await link.versionExchange(signal);
      await link.sendProcessMessage({
        MessageName: 'Hello',
        SupportedProtocolVersions: SUPPORTED_PROTOCOL_VERSIONS.map((v) => new PlistReal(v)),
      });
      const reply = await link.receiveProcessMessage(signal);
      const code = toInt(reply.ErrorCode);
      if (code === 1) throw new ProtocolError('mobilebackup2', 'the device supports none of our protocol versions (2.0, 2.1)');
      if (code !== 0) throw new ProtocolError('mobilebackup2', `the device refused Hello with error ${code}`);
      const version = reply.ProtocolVersion;
      const protocolVersion = version instanceof PlistReal ? version.value : typeof version === 'number' ? version : 0;
      return new MobileBackup2Client(link, protocolVersion);
    } catch (e) {
      await stream.close();
      throw e;
    }
  }

  sendRequest(messageName: string, fields: PlistDict): Promise<void> {
    return this.link.sendProcessMessage({ MessageName: messageName, ...fields });
  }

  /** `Backup` for `udid`; the device decides full vs incremental from the Status.plist we serve. */
  requestBackup(udid: string, options: { full?: boolean } = {}): Promise<void> {
    return this.sendRequest('Backup', {
      TargetIdentifier: udid,
      SourceIdentifier: udid,
      Options: options.full ? { ForceFullBackup: true } : undefined,
    } as PlistDict);
  }

  /** Enable: newPassword only; disable: oldPassword only; change: both. */
  requestChangePassword(udid: string, passwords: { oldPassword?: string; newPassword?: string }): Promise<void> {
    return this.sendRequest('ChangePassword', {
      TargetIdentifier: udid,
      OldPassword: passwords.oldPassword,
      NewPassword: passwords.newPassword,
    } as PlistDict);
  }

  requestInfo(udid: string, sourceUdid = udid): Promise<void> {
    return this.sendRequest('Info', { TargetIdentifier: udid, SourceIdentifier: sourceUdid });
  }

  requestList(udid: string, sourceUdid = udid): Promise<void> {
    return this.sendRequest('List', { TargetIdentifier: udid, SourceIdentifier: sourceUdid });
  }

  /**
   * Serves DL requests until the final ProcessMessage (returned) or a device Disconnect (ProtocolError).
   * No host timeout: the device may be silent for a long time. The signal cancels.
   */
  async runLoop(fs: DeviceLinkFileSystem, observer: DeviceLinkObserver = {}, signal?: AbortSignal): Promise<MobileBackup2Result> {
    for (;;) {
      if (signal?.aborted) throw new CancelledError();
      const msg = await this.link.receiveMessage(signal);
      const name = msg[0];
      observer.onMessage?.(name);
      if (name === 'DLMessageProcessMessage') {
        // The device finished without asking anything after a batch that then failed to store.
        if (this.storeFailure !== undefined) throw this.storeFailure;
        const dict = isPlistDict(msg[1]) ? msg[1] : {};
        return {
          hostFailure: this.hostFailure,
          errorCode: toInt(dict.ErrorCode),
          errorDescription: typeof dict.ErrorDescription === 'string' ? dict.ErrorDescription : undefined,
          content: typeof dict.Content === 'string' ? dict.Content : undefined,
          raw: dict,
        };
      }
      if (name === 'DLMessageDisconnect') throw new ProtocolError('mobilebackup2', withReason('the device ended the session before answering', msg));
      await this.handle(msg, fs, observer);
    }
  }

  private async handle(msg: DeviceLinkMessage, fs: DeviceLinkFileSystem, observer: DeviceLinkObserver): Promise<void> {
    const link = this.link;
    const name = msg[0];
    switch (name) {
      case 'DLMessageDownloadFiles': {
        reportProgress(msg[3], observer);
        const paths = Array.isArray(msg[1]) ? msg[1].filter((p): p is string => typeof p === 'string') : [];
        const errors = await sendDownloadFiles((b) => link.connection.write(b), paths, fs, {
          onBytes: observer.onBytesSent,
          writeReleasesBytes: link.connection.stream.releasesWrites === true,
        });
        if (Object.keys(errors).length > 0) await this.reply(-13, 'Multi status', errors);
        else await this.reply(0, undefined, {});
        return;
      }
      case 'DLMessageUploadFiles': {
        reportProgress(msg[2], observer);
        const announced = toInt(msg[3]);
        observer.onUploadBatch?.(announced);
        const fileObserver = { onBytes: observer.onBytesReceived, onFileDone: observer.onFileReceived, onWarning: observer.onWarning };
        // A batch of small files is read whole, answered, then stored while the device gathers its next
        // one: the device waits for each answer, so storing first left it idle for every batch of 128
        // files (a 1.3M-file phone has 10,000), and us idle while it gathered the next.
        const ahead = announced <= EARLY_REPLY_BATCH_BYTES && this.storeFailure === undefined
          ? await bufferUploadBatch(link.connection.reader, EARLY_REPLY_BATCH_BYTES + EARLY_REPLY_FRAMING_BYTES)
          : null;
        if (ahead?.complete) {
          await this.replyAfterChange(fs, undefined);
          const result = await receiveUploadBatch(ahead.reader, fs, fileObserver, STORE_AHEAD_PAUSE);
          if (result.hostError !== undefined) {
            this.hostFailure ??= result.hostError;
            this.storeFailure = result.hostError;
          }
          return;
        }
        const result = await receiveUploadBatch(ahead?.reader ?? link.connection.reader, fs, fileObserver);
        await this.replyAfterChange(fs, result.hostError);
        return;
      }
      case 'DLMessageGetFreeDiskSpace': {
        let free: number;
        try {
          free = Math.max(0, Math.floor(await fs.freeSpace()));
        } catch (e) {
          await this.reply(deviceLinkErrorCode(e), errorText(e), {});
          return;
        }
        await this.reply(0, undefined, free);
        return;
      }
      case 'DLMessagePurgeDiskSpace': {
        // Never fail the link here: the device decides what to do with our answer.
        const amount = toInt(msg[1]);
        let freed = false;
        try {
          freed = fs.purge ? await fs.purge(amount) : false;
        } catch {
          freed = false;
        }
        if (freed) await this.reply(0, undefined, {});
        else await this.reply(-1, 'Operation not supported', {});
        return;
      }
      case 'DLContentsOfDirectory': {
        const path = typeof msg[1] === 'string' ? msg[1] : '';
        const listing: PlistDict = {};
        try {
          for (const e of await fs.list(path)) {
            listing[e.name] = {
              DLFileType: e.kind === 'directory' ? 'DLFileTypeDirectory' : 'DLFileTypeRegular',
              DLFileSize: e.size,
              DLFileModificationDate: e.mtime,
            };
          }
        } catch (e) {
          // A missing folder lists as empty, as libimobiledevice does.
          if (deviceLinkErrorCode(e) !== -6) {
            await this.reply(deviceLinkErrorCode(e), errorText(e), {});
            return;
          }
        }
        await this.reply(0, undefined, listing);
        return;
      }
      case 'DLMessageCreateDirectory': {
        const path = typeof msg[1] === 'string' ? msg[1] : '';
        await this.replyAfterChange(fs, await attempt(() => fs.mkdirp(path)));
        return;
      }
      case 'DLMessageMoveItems':
      case 'DLMessageMoveFiles': {
        reportProgress(msg[3], observer);
        const dict = isPlistDict(msg[1]) ? msg[1] : {};
        const pairs = Object.entries(dict).filter((p): p is [string, string] => typeof p[1] === 'string');
        await this.replyAfterChange(fs, await movePairs(fs, pairs));
        return;
      }
      case 'DLMessageRemoveItems':
      case 'DLMessageRemoveFiles': {
        reportProgress(msg[3], observer);
        const paths = Array.isArray(msg[1]) ? msg[1].filter((p): p is string => typeof p === 'string') : [];
        let failure: unknown;
        for (const path of paths) {
          failure = await attempt(() => fs.remove(path));
          if (failure !== undefined) break;
        }
        await this.replyAfterChange(fs, failure);
        return;
      }
      case 'DLMessageCopyItem': {
        const from = typeof msg[1] === 'string' ? msg[1] : '';
        const to = typeof msg[2] === 'string' ? msg[2] : '';
        await this.replyAfterChange(fs, await attempt(() => fs.copy(from, to)));
        return;
      }
      default:
        observer.onWarning?.(`The device sent an unknown request ${name}; answered "not supported".`);
        await this.reply(-1, 'Operation not supported', {});
    }
  }

  private async replyAfterChange(fs: DeviceLinkFileSystem, failure: unknown): Promise<void> {
    const syncFailure = await attempt(() => fs.sync());
    const error = failure ?? syncFailure;
    if (error === undefined) return this.reply(0, undefined, {});
    this.hostFailure ??= error;
    await this.reply(deviceLinkErrorCode(error), errorText(error), {});
  }

  /**
   * Every status answer goes through here: a batch answered before it was stored (see UploadFiles)
   * that then failed to store turns the next answer, whatever was asked, into that failure, so the
   * device stops as it would have on the batch's own answer.
   */
  private reply(status: number, message: string | undefined, payload: PlistValue): Promise<void> {
    const failure = this.storeFailure;
    if (failure === undefined) return this.link.sendStatusResponse(status, message, payload);
    this.storeFailure = undefined;
    return this.link.sendStatusResponse(deviceLinkErrorCode(failure), errorText(failure), {});
  }

  /** Clean DL goodbye, then close. */
  disconnect(): Promise<void> {
    return this.link.disconnect();
  }
}

/** Moves in flight at once when a MoveItems batch is independent (each is a round trip in a browser store). */
const MOVE_CONCURRENCY = 16;

/**
 * Performs a MoveItems batch; the first failure (or undefined). The device's batches are a thousand
 * Snapshot/xx/id → xx/id moves: when no path appears twice or inside another, order cannot matter and
 * the moves overlap; otherwise they run one by one, stopping at the first failure.
 */
async function movePairs(fs: DeviceLinkFileSystem, all: [string, string][]): Promise<unknown> {
  const independent = independentPaths(all.flat());
  // Moves the storage makes at once go first; in a dependent batch, everything after one that waits waits too.
  const pairs: [string, string][] = [];
  for (const pair of all) {
    if (!fs.moveNow || (!independent && pairs.length > 0)) {
      pairs.push(pair);
      continue;
    }
    try {
      if (!fs.moveNow(pair[0], pair[1])) pairs.push(pair);
    } catch (e) {
      return e;
    }
  }
  if (!independent) {
    for (const [from, to] of pairs) {
      const failure = await attempt(() => fs.move(from, to));
      if (failure !== undefined) return failure;
    }
    return undefined;
  }
  let failure: unknown;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < pairs.length && failure === undefined) {
      const [from, to] = pairs[next++]!;
      failure ??= await attempt(() => fs.move(from, to));
    }
  };
  await Promise.all(Array.from({ length: Math.min(MOVE_CONCURRENCY, pairs.length) }, lane));
  return failure;
}

/** True when no path repeats and none lies inside another. */
function independentPaths(paths: string[]): boolean {
  const normal = paths.map((p) => p.replace(/\/+$/, ''));
  const all = new Set(normal);
  if (all.size !== normal.length) return false;
  for (const p of normal) {
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) if (all.has(p.slice(0, i))) return false;
  }
  return true;
}

async function attempt(fn: () => Promise<void>): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (e) {
    return e;
  }
}

function reportProgress(value: PlistValue | undefined, observer: DeviceLinkObserver): void {
  const n = value instanceof PlistReal ? value.value : typeof value === 'number' ? value : undefined;
  if (n !== undefined && Number.isFinite(n) && n >= 0) observer.onProgress?.(Math.min(100, n));
}

function toInt(value: PlistValue | undefined): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return 0;
}
