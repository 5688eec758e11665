import { createConnection, type Socket } from 'node:net';
import type { ByteStream } from '../../core/byte-stream.ts';
import { BufferedReader } from '../../core/buffered-reader.ts';
import { ConnectionRefusedError, DeviceDisconnectedError, ProtocolError, TimeoutError } from '../../core/errors.ts';
import type { AttachedDevice, PairRecordSource } from '../device-connector.ts';
import { isPlistDict, type PlistDict } from '../../plist/index.ts';
import { SlabReceiver, SocketByteStream } from './socket-byte-stream.ts';
import { formatUsbmuxdAddress, resolveUsbmuxdAddress, type UsbmuxdAddress } from './usbmuxd-address.ts';
import { UsbmuxdRequestError, UsbmuxdUnavailableError } from './usbmuxd-errors.ts';
import {
  ENOENT,
  UsbmuxdResult,
  decodePlistBody,
  encodePlistFrame,
  integerField,
  readFrame,
  stringField,
  swapPortBytes,
} from './usbmuxd-protocol.ts';

/** A device as usbmuxd lists it. */
export interface UsbmuxdDevice extends AttachedDevice {
  readonly deviceId: number;
  readonly locationId: number;
  readonly connectionSpeed: number | undefined;
}

export type UsbmuxdEvent =
  | { type: 'attached'; device: UsbmuxdDevice }
  | { type: 'detached'; deviceId: number }
  | { type: 'paired'; deviceId: number };

export interface UsbmuxdSubscription {
  /** Resolves when the listen socket has closed (after close(), or when usbmuxd went away). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface UsbmuxdClientOptions {
  /** `UNIX:/path`, `host:port` or `[v6]:port`; default USBMUXD_SOCKET_ADDRESS, else /var/run/usbmuxd. */
  address?: string;
  /** Sent as ProgName, as libusbmuxd does. */
  progName?: string;
  /** How long a command may wait for its reply (ms). */
  timeoutMs?: number;
  /**
   * Opens the byte stream of one command (default: a fresh socket to `address`). The fuzzer replays
   * a daemon's replies through an in-memory stream here, so the same reply parsing runs without a
   * socket per execution.
   */
  openStream?: () => Promise<UsbmuxdCommandStream>;
}

/** One command's connection to the daemon; `destroy` drops it at once (on a timeout or failure). */
export interface UsbmuxdCommandStream extends ByteStream {
  destroy(): void;
}

/**
 * Talks to a usbmuxd daemon (the system one, or the virtual iPhone's) over its client socket.
 * Like libusbmuxd, every command uses a fresh socket: one request, one reply; Connect keeps its
 * socket as the device byte stream and Listen keeps its socket for events.
 */
export class UsbmuxdClient implements PairRecordSource {
  readonly address: UsbmuxdAddress;
  private readonly progName: string;
  private readonly timeoutMs: number;
  private readonly openStream: () => Promise<UsbmuxdCommandStream>;
  private tag = 0;

  constructor(options: UsbmuxdClientOptions = {}) {
    this.address = resolveUsbmuxdAddress(options.address);
    this.progName = options.progName ?? 'lifeboat';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.openStream = options.openStream ?? (() => this.openSocket());
  }

  get addressText(): string {
    return formatUsbmuxdAddress(this.address);
  }

  async listDevices(): Promise<UsbmuxdDevice[]> {
    const reply = await this.command('ListDevices');
    const list = reply['DeviceList'];
    if (!Array.isArray(list)) throw this.resultError('ListDevices', reply);
    const devices: UsbmuxdDevice[] = [];
    for (const entry of list) {
      if (!isPlistDict(entry)) continue;
      const device = parseAttached(entry);
      if (device) devices.push(device);
    }
    return devices;
  }

  /**
   * Opens a byte stream to `port` on the device. ConnectionRefusedError when nothing listens there,
   * DeviceDisconnectedError when the device is not (or no longer) attached.
   */
  async connect(deviceId: number, port: number): Promise<ByteStream> {
    const session = await this.open();
    try {
      const reply = await session.request(
        { MessageType: 'Connect', DeviceID: deviceId, PortNumber: swapPortBytes(port) },
        this.nextTag(),
      );
      const result = integerField(reply, 'Number');
      if (result === UsbmuxdResult.OK) return new UsbmuxdConnectionStream(session.stream, session.reader);
      if (result === UsbmuxdResult.CONNREFUSED) throw new ConnectionRefusedError(port);
      if (result === UsbmuxdResult.BADDEV) throw new DeviceDisconnectedError(`The device (usbmuxd id ${deviceId}) is not attached.`);
      throw this.resultError('Connect', reply);
    } catch (error) {
      session.stream.destroy();
      throw error;
    }
  }

  /** Subscribes to Attached/Detached/Paired events; currently attached devices arrive first as Attached. */
  async listen(onEvent: (event: UsbmuxdEvent) => void): Promise<UsbmuxdSubscription> {
    const session = await this.open();
    let reply: PlistDict;
    try {
      reply = await session.request({ MessageType: 'Listen' }, this.nextTag());
    } catch (error) {
      session.stream.destroy();
      throw error;
    }
    if (integerField(reply, 'Number') !== UsbmuxdResult.OK) {
      session.stream.destroy();
      throw this.resultError('Listen', reply);
    }
    const closed = (async () => {
      try {
        for (;;) {
          const frame = await readFrame(session.reader);
          if (frame === null) return;
          const event = parseEvent(decodePlistBody(frame));
          if (event) onEvent(event);
        }
      } catch {
        // the daemon went away or sent garbage: the subscription simply ends
      } finally {
        session.stream.destroy();
      }
    })();
    return {
      closed,
      async close() {
        await session.stream.close();
        await closed;
      },
    };
  }

  async listListeners(): Promise<PlistDict[]> {
    const reply = await this.command('ListListeners');
    const list = reply['ListenerList'];
    if (!Array.isArray(list)) throw this.resultError('ListListeners', reply);
    return list.filter(isPlistDict);
  }

  async readBuid(): Promise<string> {
    const reply = await this.command('ReadBUID');
    const buid = stringField(reply, 'BUID');
    if (buid === undefined) throw this.resultError('ReadBUID', reply);
    return buid;
  }

  /** The stored pair record plist (binary or XML, as saved), or null when there is none. */
  async readPairRecord(udid: string): Promise<Uint8Array | null> {
    const reply = await this.command('ReadPairRecord', { PairRecordID: udid });
    const data = reply['PairRecordData'];
    if (data instanceof Uint8Array) return data;
    if (integerField(reply, 'Number') === ENOENT) return null;
    throw this.resultError('ReadPairRecord', reply);
  }

  /** Saves a record; with `deviceId` the daemon tells listeners the device is now Paired. */
  async savePairRecord(udid: string, record: Uint8Array, deviceId?: number): Promise<void> {
    const body: PlistDict = { PairRecordID: udid, PairRecordData: record };
    if (deviceId !== undefined) body['DeviceID'] = deviceId;
    const reply = await this.command('SavePairRecord', body);
    if (integerField(reply, 'Number') !== UsbmuxdResult.OK) throw this.resultError('SavePairRecord', reply);
  }

  /** Deletes a record; deleting one that does not exist is not an error. */
  async deletePairRecord(udid: string): Promise<void> {
    const reply = await this.command('DeletePairRecord', { PairRecordID: udid });
    const result = integerField(reply, 'Number');
    if (result !== UsbmuxdResult.OK && result !== ENOENT) throw this.resultError('DeletePairRecord', reply);
  }

  private async command(messageType: string, fields: PlistDict = {}): Promise<PlistDict> {
    const session = await this.open();
    try {
      return await session.request({ MessageType: messageType, ...fields }, this.nextTag());
    } finally {
      session.stream.destroy();
    }
  }

  private nextTag(): number {
    this.tag = this.tag >= 0x7fffffff ? 1 : this.tag + 1;
    return this.tag;
  }

  private resultError(request: string, reply: PlistDict): Error {
    const result = integerField(reply, 'Number');
    if (result === undefined) return new ProtocolError('usbmuxd', `unexpected reply to ${request}`);
    return new UsbmuxdRequestError(request, result);
  }

  private async openSocket(): Promise<SocketByteStream> {
    const receiver = new SlabReceiver();
    const socket = await connectSocket(this.address, this.addressText, this.timeoutMs, receiver);
    return new SocketByteStream(socket, { receiver, releaseWrites: true });
  }

  private async open(): Promise<CommandSession> {
    const stream = await this.openStream();
    const reader = new BufferedReader(stream, 'usbmuxd');
    const request = async (body: PlistDict, tag: number): Promise<PlistDict> => {
      const message: PlistDict = {
        ...body,
        ClientVersionString: 'lifeboat',
        ProgName: this.progName,
        kLibUSBMuxVersion: 3,
      };
      await stream.write(encodePlistFrame(tag, message));
      return withTimeout(this.readReply(reader, tag, String(body['MessageType'])), this.timeoutMs, () => {
        stream.destroy();
        return new TimeoutError(`usbmuxd at ${this.addressText} did not answer ${String(body['MessageType'])}.`);
      });
    };
    return { stream, reader, request };
  }

  private async readReply(reader: BufferedReader, tag: number, request: string): Promise<PlistDict> {
    for (;;) {
      const frame = await readFrame(reader);
      if (frame === null) throw new ProtocolError('usbmuxd', `the daemon hung up before answering ${request}`);
      const body = decodePlistBody(frame);
      if (frame.header.tag === tag) return body;
      // Events (tag 0) can interleave on a socket that is also listening; they are not our reply.
    }
  }
}

interface CommandSession {
  stream: UsbmuxdCommandStream;
  reader: BufferedReader;
  request(body: PlistDict, tag: number): Promise<PlistDict>;
}

/**
 * The device byte stream of a connected usbmuxd socket. Bytes the reader already buffered past the
 * Connect reply are delivered first.
 */
class UsbmuxdConnectionStream implements ByteStream {
  /** Offered when the socket's stream offers it (BufferedReader copies exactly then). */
  readonly readInto?: (target: Uint8Array) => Promise<number | null>;

  constructor(
    private readonly stream: UsbmuxdCommandStream,
    private readonly reader: BufferedReader,
  ) {
    const readInto = stream.readInto?.bind(stream);
    if (readInto) this.readInto = (target) => (this.reader.buffered > 0 ? this.reader.readAvailableInto(target) : readInto(target));
  }

  read(): Promise<Uint8Array | null> {
    if (this.reader.buffered > 0) return this.reader.readAvailable();
    return this.stream.read();
  }

  write(data: Uint8Array): Promise<void> {
    return this.stream.write(data);
  }

  close(): Promise<void> {
    return this.stream.close();
  }
}

function parseAttached(entry: PlistDict): UsbmuxdDevice | undefined {
  const props = entry['Properties'];
  if (!isPlistDict(props)) return undefined;
  const deviceId = integerField(entry, 'DeviceID') ?? integerField(props, 'DeviceID');
  const serial = stringField(props, 'SerialNumber');
  if (deviceId === undefined || serial === undefined) return undefined;
  return {
    deviceId,
    udid: normaliseUdid(serial),
    productId: integerField(props, 'ProductID') ?? 0,
    connectionType: stringField(props, 'ConnectionType') === 'Network' ? 'Network' : 'USB',
    locationId: integerField(props, 'LocationID') ?? 0,
    connectionSpeed: integerField(props, 'ConnectionSpeed'),
  };
}

function parseEvent(body: PlistDict): UsbmuxdEvent | undefined {
  const type = stringField(body, 'MessageType');
  if (type === 'Attached') {
    const device = parseAttached(body);
    return device ? { type: 'attached', device } : undefined;
  }
  const deviceId = integerField(body, 'DeviceID');
  if (deviceId === undefined) return undefined;
  if (type === 'Detached') return { type: 'detached', deviceId };
  if (type === 'Paired') return { type: 'paired', deviceId };
  return undefined;
}

/** libusbmuxd re-inserts the dash that some daemons drop from 24-character UDIDs. */
export function normaliseUdid(serial: string): string {
  if (serial.length === 24 && !serial.includes('-')) return `${serial.slice(0, 8)}-${serial.slice(8)}`;
  return serial;
}

function connectSocket(address: UsbmuxdAddress, text: string, timeoutMs: number, receiver: SlabReceiver): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const { onread } = receiver;
    const socket =
      address.kind === 'unix' ? createConnection({ path: address.path, onread }) : createConnection({ port: address.port, host: address.host, onread });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UsbmuxdUnavailableError(text, Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      // onError stays attached (a no-op once settled) so an early reset cannot go unhandled.
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(new UsbmuxdUnavailableError(text, error));
    };
    socket.once('error', onError);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
