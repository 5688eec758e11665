import type { ByteStream } from '../../core/byte-stream.ts';
import { BufferedReader } from '../../core/buffered-reader.ts';
import { concatBytes } from '../../core/bytes.ts';
import { LifeboatError } from '../../core/errors.ts';
import { messageName, parseTrace } from '../../diagnostics/trace-format.ts';
import { decodePem } from '../../lockdown/pem.ts';
import { decodePlist, encodeBinaryPlist, encodeXmlPlist, isPlistDict, type PlistValue } from '../../plist/index.ts';
import { LOCKDOWN_PORT } from '../../usbmux/device-connector.ts';
import { sharedDeviceKey, type DeviceKey } from '../lockdownd/device-key.ts';
import { deviceTlsAcceptor, type DeviceTlsSession } from '../lockdownd/session-tls.ts';
import { VirtualIPhone } from '../virtual-iphone.ts';
import { ReplayError, ReplayMismatchError } from './replay-errors.ts';
import { buildReplayScript, type ConnectionScript, type ReplayScript, type ScriptStep } from './replay-script.ts';
import { afcHeaderPayload, generatedBytes, replayValue } from './replay-values.ts';

export interface ReplayDeviceOptions {
  /** Called with the first failure of each connection (a mismatch, or a trace that cannot be served). */
  onFailure?: (error: LifeboatError) => void;
  /** The replay device's RSA identity (default: the process's shared virtual-device key). */
  deviceKey?: Promise<DeviceKey>;
}

const FILE_DATA = 0x0c;
const FILE_ERROR_REMOTE = 0x0b;
const BLOCK_BYTES = 32 * 1024;
const AFC_MAGIC = new TextEncoder().encode('CFA6LPAA');
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** How long a finished connection waits for the host to close before closing itself. */
const CLOSE_GRACE_MS = 2000;

/**
 * A recorded trace served as the device (`npm run virtual-iphone -- --replay TRACE`). It rides on a
 * VirtualIPhone (for the usbmuxd/USB fronts and its identity) whose ports answer from the trace:
 * each connection the host opens to a port takes the next recorded connection to that port; the
 * device's recorded messages are sent in order, and each host message is checked against the
 * recorded one by name (request, DeviceLink message and MessageName, file path and size, AFC
 * operation) — the first difference fails the connection with ReplayMismatchError.
 *
 * What is generated instead of replayed: session IDs, the DevicePublicKey (this device's own key),
 * the TLS handshakes (with this device's key and the DeviceCertificate the host issued when it paired
 * with the replay — so a replayed session needs the host to pair first, as the trace did), and
 * redacted data and file contents (bytes of the recorded sizes).
 */
export class ReplayDevice {
  readonly iphone: VirtualIPhone;
  readonly failures: LifeboatError[] = [];
  private readonly pending = new Map<number, ConnectionScript[]>();
  private readonly certificates = new Map<string, Uint8Array>();
  private latestCertificate: Uint8Array | undefined;
  readonly deviceKey: Promise<DeviceKey>;
  private readonly onFailure: ((error: LifeboatError) => void) | undefined;

  static fromTrace(text: string, options: ReplayDeviceOptions = {}): ReplayDevice {
    return new ReplayDevice(buildReplayScript(parseTrace(text)), options);
  }

  constructor(script: ReplayScript, options: ReplayDeviceOptions = {}) {
    this.deviceKey = options.deviceKey ?? sharedDeviceKey();
    this.onFailure = options.onFailure;
    this.iphone = new VirtualIPhone({ udid: script.udid, productId: script.productId, deviceKey: this.deviceKey });
    for (const [port, scripts] of script.byPort) {
      this.pending.set(port, [...scripts]);
      this.iphone.ports.listen(port, (stream) => void this.accept(port, stream));
    }
  }

  /** Recorded connections the host has not opened yet. */
  get connectionsLeft(): number {
    let n = 0;
    for (const list of this.pending.values()) n += list.length;
    return n;
  }

  /** The first failure, if any (what `--replay` prints and tests check). */
  get firstFailure(): LifeboatError | undefined {
    return this.failures[0];
  }

  rememberPairing(hostId: string | undefined, deviceCertificateDer: Uint8Array): void {
    if (hostId !== undefined) this.certificates.set(hostId, deviceCertificateDer);
    this.latestCertificate = deviceCertificateDer;
  }

  certificateFor(hostId: string | undefined): Uint8Array {
    const der = (hostId !== undefined ? this.certificates.get(hostId) : undefined) ?? this.latestCertificate;
    if (!der) {
      throw new ReplayError(
        'The host started a secure session, but it has not paired with this replay device: a replay issues its own pairing, so the host must pair first (replay a trace that begins with `pair`).',
      );
    }
    return der;
  }

  async acceptTls(stream: ByteStream, hostId: string | undefined): Promise<DeviceTlsSession> {
    const key = await this.deviceKey;
    const acceptor = await deviceTlsAcceptor();
    // The host's certificate is not checked: the replay trusts whoever paired with it.
    return acceptor.accept(stream, { certificateDer: this.certificateFor(hostId), privateKey: key.privateKey, privateKeyPkcs8: key.pkcs8 }, async () => true);
  }

  private fail(error: unknown): void {
    const e = error instanceof LifeboatError ? error : new ReplayError(`Replay stopped: ${error instanceof Error ? error.message : String(error)}`);
    this.failures.push(e);
    this.onFailure?.(e);
  }

  private async accept(port: number, stream: ByteStream): Promise<void> {
    const script = this.pending.get(port)?.shift();
    if (!script) {
      this.fail(new ReplayError(`The host opened a connection to port ${port} beyond those in the trace.`));
      await stream.close();
      return;
    }
    try {
      await new ConnectionReplay(this, script, stream, await this.deviceKey).run();
    } catch (error) {
      this.fail(error);
      await stream.close().catch(() => undefined);
    }
  }
}

/** Plays one recorded connection. */
class ConnectionReplay {
  private channel: ByteStream;
  private reader: BufferedReader;
  private tls: DeviceTlsSession | undefined;
  private hostMessages = 0;
  private hostId: string | undefined;

  constructor(
    private readonly device: ReplayDevice,
    private readonly script: ConnectionScript,
    private readonly raw: ByteStream,
    private readonly key: DeviceKey,
  ) {
    this.channel = raw;
    this.reader = new BufferedReader(raw, 'replay');
  }

  async run(): Promise<void> {
    if (this.script.tls) this.useTls(await this.device.acceptTls(this.raw, undefined));
    const { steps, lines } = this.script;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.kind === 'close') break;
      await this.play(step, lines[i]!);
    }
    await this.finish();
  }

  private useTls(session: DeviceTlsSession): void {
    this.tls = session;
    this.channel = session.stream;
    this.reader = new BufferedReader(session.stream, 'replay (TLS)');
  }

  private async play(step: ScriptStep, line: number): Promise<void> {
    switch (step.kind) {
      case 'plist':
        if (step.dir === 'device') {
          const value = replayValue(step.value, this.key.devicePublicKeyPem);
          const body = this.script.port === LOCKDOWN_PORT ? encodeXmlPlist(value) : encodeBinaryPlist(value);
          return this.channel.write(concatBytes([u32(body.byteLength), body]));
        }
        return this.expectPlist(step.name, line);
      case 'tls':
        return this.useTls(await this.device.acceptTls(this.raw, this.hostId));
      case 'tls-end':
        await this.tls?.stop();
        this.tls = undefined;
        this.channel = this.raw;
        this.reader = new BufferedReader(this.raw, 'replay');
        return;
      case 'file':
        return step.dir === 'device' ? this.sendUploadFile(step) : this.expectDownloadFile(step.path, step.bytes, line);
      case 'files-end':
        if (step.dir === 'device') return this.channel.write(u32(0));
        return this.expectFilesEnd(line);
      case 'afc':
        return step.dir === 'device' ? this.sendAfc(step) : this.expectAfc(step.op, line);
      case 'data':
        if (step.dir === 'device') return this.channel.write(generatedBytes(step.bytes, 'data'));
        await this.reader.readExactly(step.bytes);
        return;
    }
  }

  private mismatch(expected: string, got: string, line: number): ReplayMismatchError {
    return new ReplayMismatchError(expected, got, this.hostMessages, this.script.label, line);
  }

  private async expectPlist(expected: string, line: number): Promise<void> {
    this.hostMessages++;
    const header = await this.reader.readExactlyOrEnd(4);
    if (header === null) throw this.mismatch(expected, 'the end of the connection', line);
    const body = await this.reader.readExactly(readU32(header));
    let value: PlistValue;
    try {
      value = decodePlist(body);
    } catch {
      throw this.mismatch(expected, `${body.byteLength} bytes that are not a plist`, line);
    }
    const got = messageName(value);
    if (got !== expected) {
      const mismatch = this.mismatch(expected, got, line);
      await this.tellLockdownHost(value, mismatch);
      throw mismatch;
    }
    this.observe(value);
  }

  /**
   * A lockdown host gets the mismatch as the answer to its request (a numeric Error with an
   * ErrorString, which hosts show), so the person at the host sees why the device stopped.
   */
  private async tellLockdownHost(value: PlistValue, mismatch: ReplayMismatchError): Promise<void> {
    if (this.script.port !== LOCKDOWN_PORT || !isPlistDict(value) || typeof value.Request !== 'string') return;
    const body = encodeXmlPlist({ Request: value.Request, Error: -1, ErrorString: mismatch.message });
    await this.channel.write(concatBytes([u32(body.byteLength), body])).catch(() => undefined);
  }

  /** Remembers what later steps need: the DeviceCertificate the host issued, and who started the session. */
  private observe(value: PlistValue): void {
    if (!isPlistDict(value)) return;
    if (value.Request === 'StartSession' && typeof value.HostID === 'string') this.hostId = value.HostID;
    if (value.Request === 'Pair' && isPlistDict(value.PairRecord)) {
      const record = value.PairRecord;
      const cert = record.DeviceCertificate;
      if (cert instanceof Uint8Array || typeof cert === 'string') {
        this.device.rememberPairing(typeof record.HostID === 'string' ? record.HostID : undefined, decodePem(cert).der);
      }
    }
  }

  private async sendUploadFile(step: Extract<ScriptStep, { kind: 'file' }>): Promise<void> {
    const path = encoder.encode(step.path);
    await this.channel.write(concatBytes([u32(path.byteLength), path, u32(path.byteLength), path]));
    const content = step.content !== undefined ? encodeXmlPlist(replayValue(step.content, this.key.devicePublicKeyPem)) : generatedBytes(step.bytes, step.path);
    if (step.status === 'error') {
      const text = encoder.encode(step.error ?? 'error');
      await this.channel.write(concatBytes([u32(text.byteLength + 1), new Uint8Array([FILE_ERROR_REMOTE]), text]));
      return;
    }
    for (let at = 0; at < content.byteLength; at += BLOCK_BYTES) {
      const piece = content.subarray(at, Math.min(content.byteLength, at + BLOCK_BYTES));
      await this.channel.write(concatBytes([u32(piece.byteLength + 1), new Uint8Array([FILE_DATA]), piece]));
    }
    await this.channel.write(new Uint8Array([0, 0, 0, 1, 0]));
  }

  private async expectDownloadFile(path: string, bytes: number, line: number): Promise<void> {
    this.hostMessages++;
    const expected = `file ${path} (${bytes} bytes)`;
    const nameLength = await this.reader.readUint32BE();
    if (nameLength === 0) throw this.mismatch(expected, 'the end of the file list', line);
    const got = decoder.decode(await this.reader.readExactly(nameLength));
    let size = 0;
    for (;;) {
      const blockLength = await this.reader.readUint32BE();
      const code = (await this.reader.readExactly(1))[0];
      await this.reader.readExactly(blockLength - 1);
      if (code === FILE_DATA) size += blockLength - 1;
      else break;
    }
    if (got !== path || size !== bytes) throw this.mismatch(expected, `file ${got} (${size} bytes)`, line);
  }

  private async expectFilesEnd(line: number): Promise<void> {
    this.hostMessages++;
    const n = await this.reader.readUint32BE();
    if (n !== 0) {
      const name = decoder.decode(await this.reader.readExactly(Math.min(n, 4096)));
      throw this.mismatch('the end of the file list', `another file, ${name}`, line);
    }
  }

  private async sendAfc(step: Extract<ScriptStep, { kind: 'afc' }>): Promise<void> {
    const header = afcHeaderPayload(step.header);
    const packet = new Uint8Array(40 + header.byteLength);
    packet.set(AFC_MAGIC, 0);
    const view = new DataView(packet.buffer);
    setU64(view, 8, 40 + header.byteLength + step.bytes);
    setU64(view, 16, 40 + header.byteLength);
    setU64(view, 24, step.packet);
    setU64(view, 32, step.op);
    packet.set(header, 40);
    await this.channel.write(step.bytes > 0 ? concatBytes([packet, generatedBytes(step.bytes, 'afc')]) : packet);
  }

  private async expectAfc(op: number, line: number): Promise<void> {
    this.hostMessages++;
    const expected = `AFC operation ${op}`;
    const header = await this.reader.readExactlyOrEnd(40);
    if (header === null) throw this.mismatch(expected, 'the end of the connection', line);
    const view = new DataView(header.buffer, header.byteOffset, 40);
    const entire = getU64(view, 8);
    const gotOp = getU64(view, 32);
    await this.reader.readExactly(entire - 40);
    if (gotOp !== op) throw this.mismatch(expected, `AFC operation ${gotOp}`, line);
  }

  /** The trace's connection ended here: let the host close first, as it did when recorded. */
  private async finish(): Promise<void> {
    const drained = (async () => {
      while ((await this.reader.readAvailable()) !== null) {
        // bytes past the recording's end are ignored
      }
    })().catch(() => undefined);
    await Promise.race([drained, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref?.())]);
    await this.channel.close().catch(() => undefined);
    await this.raw.close().catch(() => undefined);
  }
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function readU32(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

function setU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, n >>> 0, true);
  view.setUint32(at + 4, Math.floor(n / 2 ** 32), true);
}

function getU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}
