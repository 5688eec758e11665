import type { ByteStream } from '../core/byte-stream.ts';
import { CancelledError, ProtocolError } from '../core/errors.ts';
import { isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';
import { PlistConnection } from '../plist/plist-connection.ts';

/** DeviceLink's placeholder for an absent string argument. */
export const EMPTY_PARAMETER = '___EmptyParameterString___';
export const DEVICE_LINK_VERSION_MAJOR = 400;

export type DeviceLinkMessage = [string, ...PlistValue[]];

/**
 * The host end of DeviceLink: version exchange, ProcessMessage carriers, status replies, and the
 * raw connection for the file streams that travel between messages.
 */
export class DeviceLinkHost {
  readonly connection: PlistConnection;

  constructor(stream: ByteStream) {
    this.connection = new PlistConnection(stream, 'devicelink');
  }

  /** Device says its version, we accept 400, device says it is ready. */
  async versionExchange(signal?: AbortSignal): Promise<void> {
    const hello = await this.receiveMessage(signal);
    if (hello[0] !== 'DLMessageVersionExchange') {
      throw new ProtocolError('devicelink', `expected DLMessageVersionExchange, got ${hello[0]}`);
    }
    const major = hello[1];
    if (typeof major !== 'number' && typeof major !== 'bigint') throw new ProtocolError('devicelink', 'version exchange without a major version');
    if (Number(major) > DEVICE_LINK_VERSION_MAJOR) {
      throw new ProtocolError('devicelink', `device speaks DeviceLink ${major}, newer than ${DEVICE_LINK_VERSION_MAJOR}`);
    }
    await this.send(['DLMessageVersionExchange', 'DLVersionsOk', DEVICE_LINK_VERSION_MAJOR]);
    const ready = await this.receiveMessage(signal);
    if (ready[0] !== 'DLMessageDeviceReady') throw new ProtocolError('devicelink', `expected DLMessageDeviceReady, got ${ready[0]}`);
  }

  send(message: DeviceLinkMessage): Promise<void> {
    return this.connection.send(message, 'binary');
  }

  sendProcessMessage(dict: PlistDict): Promise<void> {
    return this.send(['DLMessageProcessMessage', dict]);
  }

  /**
   * Status codes go out as plain numbers; the plist encoder writes negatives as signed 64-bit
   * integers, which is what the device expects.
   */
  sendStatusResponse(status: number, message?: string, payload?: PlistValue): Promise<void> {
    return this.send(['DLMessageStatusResponse', status, message || EMPTY_PARAMETER, payload ?? {}]);
  }

  async disconnect(): Promise<void> {
    try {
      await this.send(['DLMessageDisconnect', EMPTY_PARAMETER]);
    } catch {
      // The link may already be gone; closing is what matters.
    }
    await this.connection.close();
  }

  /**
   * The next DL message. Waits as long as it takes (passcode prompts can last 30 minutes); only the
   * signal ends the wait.
   */
  async receiveMessage(signal?: AbortSignal): Promise<DeviceLinkMessage> {
    const value = await abortable(this.connection.receive(), signal);
    if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== 'string' || !value[0].startsWith('DL')) {
      throw new ProtocolError('devicelink', 'message is not a DeviceLink array');
    }
    return value as DeviceLinkMessage;
  }

  /** The dict of the next ProcessMessage; anything else is a protocol error. */
  async receiveProcessMessage(signal?: AbortSignal): Promise<PlistDict> {
    const msg = await this.receiveMessage(signal);
    if (msg[0] === 'DLMessageDisconnect') throw new ProtocolError('devicelink', withReason('the device disconnected instead of answering', msg));
    if (msg[0] !== 'DLMessageProcessMessage' || !isPlistDict(msg[1])) {
      throw new ProtocolError('devicelink', `expected DLMessageProcessMessage, got ${msg[0]}`);
    }
    return msg[1];
  }
}

/**
 * A device that gives up sends `["DLMessageDisconnect", reason]`; the reason (e.g. "Insufficient free
 * disk space…") is the only explanation the person gets, so it goes into the message.
 */
export function withReason(text: string, disconnect: DeviceLinkMessage): string {
  const reason = disconnect[1];
  return typeof reason === 'string' && reason !== '' && reason !== EMPTY_PARAMETER ? `${text}: ${reason}` : text;
}

/** Resolves like `promise`, or rejects with CancelledError as soon as `signal` aborts. */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(new CancelledError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
