import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import type { ByteStream } from '../../core/byte-stream.ts';
import { BufferedReader } from '../../core/buffered-reader.ts';
import { LifeboatError } from '../../core/errors.ts';
import { decodePlist, isPlistDict, type PlistDict, type PlistValue } from '../../plist/index.ts';
import type { VirtualIPhone } from '../virtual-iphone.ts';
import { SocketByteStream } from '../../usbmux/node/socket-byte-stream.ts';
import { formatUsbmuxdAddress, parseUsbmuxdAddress, type UsbmuxdAddress } from '../../usbmux/node/usbmuxd-address.ts';
import {
  EINVAL,
  ENOENT,
  UsbmuxdMessage,
  UsbmuxdResult,
  encodeBinaryResultFrame,
  encodePlistFrame,
  integerField,
  readFrame,
  resultBody,
  stringField,
  swapPortBytes,
  type UsbmuxdFrame,
} from '../../usbmux/node/usbmuxd-protocol.ts';
import { UsbmuxdState } from './usbmuxd-state.ts';

export interface UsbmuxdServerOptions {
  /** Persist the SystemBUID and pair records here (SystemConfiguration.plist, <UDID>.plist). */
  stateDir?: string;
  /** Per-connection buffering in each direction of a Connect pipe before back-pressure applies. */
  highWaterMark?: number;
  /** How long a rebooting virtual iPhone stays detached before it attaches again (default 500 ms). */
  rebootDelayMs?: number;
}

/** A device as the server presents it: what ListDevices and Attached events describe. */
export interface ServedDevice {
  readonly deviceId: number;
  readonly locationId: number;
  readonly iphone: VirtualIPhone;
}

interface AttachedDeviceEntry extends ServedDevice {
  readonly pipes: Set<DevicePipe>;
  /** Stops following the phone's reboots (on detach). */
  readonly unsubscribe: () => void;
}

interface DevicePipe {
  readonly client: SocketByteStream;
  readonly device: ByteStream;
}

interface ClientSession {
  readonly stream: SocketByteStream;
  readonly id: number;
  listening: boolean;
  info: PlistDict;
}

/**
 * A usbmuxd-compatible daemon in front of virtual iPhones: the plist protocol (version 1) that
 * libusbmuxd 2.x and Lifeboat's own client speak, on a unix socket or TCP. Connect turns the client
 * socket into a raw pipe to a device port with back-pressure both ways; detach simulates unplugging.
 */
export class UsbmuxdServer {
  readonly state: UsbmuxdState;
  private readonly devices = new Map<number, AttachedDeviceEntry>();
  private readonly sessions = new Set<ClientSession>();
  private readonly highWaterMark: number;
  private readonly rebootDelayMs: number;
  private readonly pendingReattach = new Set<ReturnType<typeof setTimeout>>();
  private nextDeviceId = 1;
  private nextSessionId = 1;
  private server: Server | undefined;
  private boundAddress: UsbmuxdAddress | undefined;

  constructor(options: UsbmuxdServerOptions = {}) {
    this.state = new UsbmuxdState(options.stateDir);
    this.highWaterMark = options.highWaterMark ?? 256 * 1024;
    this.rebootDelayMs = options.rebootDelayMs ?? 500;
  }

  get systemBuid(): string {
    return this.state.systemBuid;
  }

  /** The USBMUXD_SOCKET_ADDRESS for clients (with the real port when listening on port 0). */
  get address(): string {
    if (!this.boundAddress) throw new Error('UsbmuxdServer is not listening');
    return formatUsbmuxdAddress(this.boundAddress);
  }

  get devicesAttached(): readonly ServedDevice[] {
    return [...this.devices.values()];
  }

  /** Plugs a device in; returns its DeviceID (a fresh one each time, like the real daemon). */
  attach(iphone: VirtualIPhone): number {
    const existing = this.deviceIdOf(iphone);
    if (existing !== undefined) return existing;
    const deviceId = this.nextDeviceId++;
    // A rebooting phone leaves the bus and comes back under a new DeviceID, as with the real daemon.
    const unsubscribe = iphone.onReboot(() => {
      if (!this.detach(deviceId)) return;
      const timer = setTimeout(() => {
        this.pendingReattach.delete(timer);
        this.attach(iphone);
      }, this.rebootDelayMs);
      this.pendingReattach.add(timer);
    });
    const entry: AttachedDeviceEntry = { deviceId, locationId: 0x00100000 + deviceId, iphone, pipes: new Set(), unsubscribe };
    this.devices.set(deviceId, entry);
    this.broadcast(attachedBody(entry));
    return deviceId;
  }

  /** Unplugs a device: open connections to it drop and listeners get Detached. False if not attached. */
  detach(target: VirtualIPhone | number): boolean {
    const deviceId = typeof target === 'number' ? target : this.deviceIdOf(target);
    const entry = deviceId === undefined ? undefined : this.devices.get(deviceId);
    if (!entry) return false;
    entry.unsubscribe();
    this.devices.delete(entry.deviceId);
    for (const pipe of entry.pipes) {
      pipe.client.destroy();
      void pipe.device.close();
    }
    entry.pipes.clear();
    this.broadcast({ MessageType: 'Detached', DeviceID: entry.deviceId });
    return true;
  }

  deviceIdOf(iphone: VirtualIPhone): number | undefined {
    for (const entry of this.devices.values()) if (entry.iphone === iphone) return entry.deviceId;
    return undefined;
  }

  /** Starts accepting clients at `UNIX:/path`, `/path`, `host:port` (port 0 picks one). Returns the address. */
  async listen(address: string | UsbmuxdAddress): Promise<string> {
    if (this.server) throw new Error('UsbmuxdServer is already listening');
    const target = typeof address === 'string' ? parseUsbmuxdAddress(address) : address;
    const server = createServer({ pauseOnConnect: false }, (socket) => this.accept(socket));
    if (target.kind === 'unix') {
      await listenUnix(server, target.path);
      this.boundAddress = target;
    } else {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(target.port, target.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const bound = server.address();
      const port = typeof bound === 'object' && bound ? bound.port : target.port;
      this.boundAddress = { kind: 'tcp', host: target.host, port };
    }
    this.server = server;
    return this.address;
  }

  /** Stops listening, drops every client and pipe, and removes the unix socket file. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const timer of this.pendingReattach) clearTimeout(timer);
    this.pendingReattach.clear();
    for (const entry of this.devices.values()) {
      entry.unsubscribe();
      for (const pipe of entry.pipes) {
        pipe.client.destroy();
        void pipe.device.close();
      }
      entry.pipes.clear();
    }
    for (const session of this.sessions) session.stream.destroy();
    this.sessions.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.boundAddress?.kind === 'unix') rmSync(this.boundAddress.path, { force: true });
  }

  private accept(socket: Socket): void {
    const stream = new SocketByteStream(socket, { highWaterMark: this.highWaterMark });
    const session: ClientSession = { stream, id: this.nextSessionId++, listening: false, info: {} };
    this.sessions.add(session);
    socket.on('close', () => this.sessions.delete(session));
    void this.serve(session).catch(() => stream.destroy());
  }

  private async serve(session: ClientSession): Promise<void> {
    const reader = new BufferedReader(session.stream, 'usbmuxd');
    for (;;) {
      const frame = await readFrame(reader);
      if (frame === null) break;
      const pipe = await this.handle(session, frame);
      if (pipe) {
        // The socket now belongs to the device connection; the session is no longer a command client.
        this.sessions.delete(session);
        await this.runPipe(reader, pipe.entry, { client: session.stream, device: pipe.device });
        return;
      }
    }
    await session.stream.close();
  }

  /** Answers one command; returns the device stream when the command was a successful Connect. */
  private async handle(
    session: ClientSession,
    frame: UsbmuxdFrame,
  ): Promise<{ entry: AttachedDeviceEntry; device: ByteStream } | undefined> {
    const { version, message, tag } = frame.header;
    const send = (body: PlistDict): Promise<void> => session.stream.write(encodePlistFrame(tag, body));
    if (session.listening) {
      // usbmuxd accepts no further commands on a listening socket and hangs up.
      await send(resultBody(UsbmuxdResult.BADCOMMAND));
      throw new Error('command on a listening socket');
    }
    if (version !== 0 && version !== 1) {
      await session.stream.write(encodeBinaryResultFrame(tag, UsbmuxdResult.BADVERSION));
      return undefined;
    }
    if (message !== UsbmuxdMessage.PLIST) {
      // The version-0 binary protocol is obsolete; libusbmuxd only falls back to it after BADVERSION.
      await session.stream.write(encodeBinaryResultFrame(tag, UsbmuxdResult.BADCOMMAND));
      return undefined;
    }
    const request = decodeRequest(frame.payload);
    const type = stringField(request, 'MessageType');
    if (type === undefined) throw new Error('request without MessageType');
    session.info = clientInfo(request);

    switch (type) {
      case 'ListDevices':
        await send({ DeviceList: [...this.devices.values()].map(attachedBody) });
        return undefined;
      case 'Listen':
        await send(resultBody(UsbmuxdResult.OK));
        session.listening = true;
        for (const entry of this.devices.values()) await session.stream.write(encodePlistFrame(0, attachedBody(entry)));
        return undefined;
      case 'Connect': {
        const deviceId = integerField(request, 'DeviceID');
        const portField = integerField(request, 'PortNumber');
        if (deviceId === undefined) {
          await send(resultBody(UsbmuxdResult.BADDEV));
          return undefined;
        }
        if (portField === undefined || portField < 0 || portField > 0xffff) {
          await send(resultBody(UsbmuxdResult.BADCOMMAND));
          return undefined;
        }
        const entry = this.devices.get(deviceId);
        if (!entry) {
          await send(resultBody(UsbmuxdResult.BADDEV));
          return undefined;
        }
        const device = entry.iphone.ports.connect(swapPortBytes(portField), this.highWaterMark);
        if (!device) {
          await send(resultBody(UsbmuxdResult.CONNREFUSED));
          return undefined;
        }
        await send(resultBody(UsbmuxdResult.OK));
        return { entry, device };
      }
      case 'ListListeners':
        await send({ ListenerList: [...this.sessions].filter((s) => s.listening).map(listenerBody) });
        return undefined;
      case 'ReadBUID':
        await send({ BUID: this.state.systemBuid });
        return undefined;
      case 'ReadPairRecord': {
        const id = stringField(request, 'PairRecordID');
        if (id === undefined || !UsbmuxdState.isValidRecordId(id)) {
          await send(resultBody(EINVAL));
          return undefined;
        }
        const record = this.state.readPairRecord(id);
        await send(record ? { PairRecordData: record } : resultBody(ENOENT));
        return undefined;
      }
      case 'SavePairRecord': {
        const id = stringField(request, 'PairRecordID');
        const data = request['PairRecordData'];
        if (id === undefined || !UsbmuxdState.isValidRecordId(id) || !(data instanceof Uint8Array)) {
          await send(resultBody(EINVAL));
          return undefined;
        }
        this.state.savePairRecord(id, data);
        await send(resultBody(UsbmuxdResult.OK));
        const deviceId = integerField(request, 'DeviceID');
        const entry = deviceId === undefined ? undefined : this.devices.get(deviceId);
        if (entry && entry.iphone.udid === id) this.broadcast({ MessageType: 'Paired', DeviceID: entry.deviceId });
        return undefined;
      }
      case 'DeletePairRecord': {
        const id = stringField(request, 'PairRecordID');
        if (id === undefined || !UsbmuxdState.isValidRecordId(id)) {
          await send(resultBody(EINVAL));
          return undefined;
        }
        await send(resultBody(this.state.deletePairRecord(id) ? UsbmuxdResult.OK : ENOENT));
        return undefined;
      }
      default:
        await send(resultBody(UsbmuxdResult.BADCOMMAND));
        return undefined;
    }
  }

  /**
   * Pumps bytes both ways until either side ends. Each pump awaits its write before reading again,
   * so a slow device pauses the socket and a slow client stops the device stream being read.
   */
  private async runPipe(reader: BufferedReader, entry: AttachedDeviceEntry, pipe: DevicePipe): Promise<void> {
    if (!this.devices.has(entry.deviceId)) {
      pipe.client.destroy();
      await pipe.device.close();
      return;
    }
    entry.pipes.add(pipe);
    const upstream = (async () => {
      for (;;) {
        const chunk = await reader.readAvailable();
        if (chunk === null) return;
        await pipe.device.write(chunk);
      }
    })();
    const downstream = (async () => {
      for (;;) {
        const chunk = await pipe.device.read();
        if (chunk === null) return;
        await pipe.client.write(chunk);
      }
    })();
    const settle = (p: Promise<void>): Promise<void> => p.catch(() => undefined);
    await Promise.race([settle(upstream), settle(downstream)]);
    await pipe.device.close();
    await pipe.client.close();
    await Promise.all([settle(upstream), settle(downstream)]);
    entry.pipes.delete(pipe);
  }

  private broadcast(body: PlistDict): void {
    const frame = encodePlistFrame(0, body);
    for (const session of this.sessions) {
      if (session.listening) session.stream.write(frame).catch(() => session.stream.destroy());
    }
  }
}

function attachedBody(entry: ServedDevice): PlistDict {
  return {
    MessageType: 'Attached',
    DeviceID: entry.deviceId,
    Properties: {
      ConnectionSpeed: 480000000,
      ConnectionType: 'USB',
      DeviceID: entry.deviceId,
      LocationID: entry.locationId,
      ProductID: entry.iphone.productId,
      SerialNumber: entry.iphone.udid,
    },
  };
}

function listenerBody(session: ClientSession): PlistDict {
  const body: PlistDict = { Blacklisted: false, ConnType: 0, 'ID String': String(session.id) };
  for (const key of ['BundleID', 'ClientVersionString', 'ProgName', 'kLibUSBMuxVersion']) {
    const v: PlistValue | undefined = session.info[key];
    if (v !== undefined) body[key] = v;
  }
  return body;
}

function clientInfo(request: PlistDict): PlistDict {
  const info: PlistDict = {};
  for (const key of ['BundleID', 'ClientVersionString', 'ProgName', 'kLibUSBMuxVersion']) {
    const v = request[key];
    if (v !== undefined) info[key] = v;
  }
  return info;
}

function decodeRequest(payload: Uint8Array): PlistDict {
  // Some clients NUL-terminate the XML; a parser would reject the stray byte.
  let end = payload.byteLength;
  while (end > 0 && payload[end - 1] === 0) end--;
  const value = decodePlist(payload.subarray(0, end));
  if (!isPlistDict(value)) throw new Error('request body is not a dictionary');
  return value;
}

/** Listens on a unix socket, replacing a stale socket file left by a crashed server (never a live one). */
async function listenUnix(server: Server, path: string): Promise<void> {
  const attempt = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await attempt();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    if (await isLive(path)) {
      throw new LifeboatError('device-busy', `Another server is already listening on ${path}.`, {
        action: 'Stop the other server or choose another socket path.',
        cause: error,
      });
    }
    rmSync(path, { force: true });
    await attempt();
  }
}

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
