import type { ByteStream } from '../../core/byte-stream.ts';
import { decodePem } from '../../lockdown/pem.ts';
import { bytesEqual } from '../../core/bytes.ts';
import * as x509 from '../../lockdown/x509.ts';
import { PlistConnection, isPlistDict, type PlistDict, type PlistValue } from '../../plist/index.ts';
import { PRE_SESSION_DOMAINS, PRE_SESSION_ROOT_KEYS, type DeviceValues } from '../profile.ts';
import type { VirtualDevicePorts } from '../virtual-device.ts';
import { sharedDeviceKey, type DeviceKey } from './device-key.ts';
import { PushbackStream } from './pushback-stream.ts';
import { deviceTlsAcceptor, type DeviceTlsIdentity, type DeviceTlsSession } from './session-tls.ts';
import { TrustDialog, type TrustOptions } from './trust.ts';

export const LOCKDOWND_PORT = 62078;

/** What lockdownd needs from the device it runs on. */
export interface LockdowndDevice {
  readonly ports: VirtualDevicePorts;
  readonly services: ReadonlyMap<string, (stream: ByteStream) => void>;
  readonly values: DeviceValues;
}

/** What the device remembers about a host it trusts (keyed by HostID). */
export interface PairedHost {
  readonly hostId: string;
  readonly systemBuid: string;
  readonly rootCertificate: x509.X509Certificate;
  readonly hostCertificate: x509.X509Certificate;
  /** The certificate this host issued for our key; our TLS identity towards it. */
  readonly deviceCertificateDer: Uint8Array;
  readonly escrowBag: Uint8Array;
}

export interface StartedServiceRecord {
  service: string;
  hostId: string;
  port: number;
  withEscrowBag: boolean;
}

export interface LockdowndOptions {
  trust?: TrustOptions;
  /** Defaults to the per-process shared key. */
  deviceKey?: Promise<DeviceKey>;
  /** OpenSSL cipher list this device's TLS accepts (an older iOS accepts fewer). */
  tlsCiphers?: string;
}

class LockdownRequestError extends Error {
  constructor(readonly lockdownError: string) {
    super(lockdownError);
  }
}

interface ConnectionState {
  session: { id: string; host: PairedHost; tls: DeviceTlsSession; release(): void } | undefined;
}

/** Services usable without a session (usbmuxd watches for the pairing request through it). */
const INSECURE_SERVICES = new Set(['com.apple.mobile.insecure_notification_proxy']);

/**
 * The simulated lockdownd on port 62078: device values, pairing with a scripted Trust dialog,
 * TLS sessions, and StartService for the services registered on the VirtualIPhone.
 */
export class VirtualLockdownd {
  readonly trust: TrustDialog;
  readonly pairedHosts = new Map<string, PairedHost>();
  /** Services that answer ServiceProhibited (e.g. to simulate MDM restrictions). */
  readonly prohibitedServices = new Set<string>();
  /** Services started with EnableServiceSSL: the device wraps their connection in TLS. */
  readonly sslServices = new Set<string>();
  /** Every successful StartService, in order. */
  readonly startedServices: StartedServiceRecord[] = [];
  /** Last SetValue UntrustedHostBUID (usbmuxd sets it before pairing). */
  untrustedHostBuid: string | undefined;
  readonly deviceKey: Promise<DeviceKey>;
  private readonly connections = new Set<ByteStream>();

  constructor(
    private readonly device: LockdowndDevice,
    options: LockdowndOptions = {},
  ) {
    this.trust = new TrustDialog(options.trust);
    this.deviceKey = options.deviceKey ?? sharedDeviceKey();
    this.tlsCiphers = options.tlsCiphers;
  }

  private readonly tlsCiphers: string | undefined;

  /** Register on the device's port table. */
  listen(): void {
    this.device.ports.listen(LOCKDOWND_PORT, (stream) => {
      void this.serve(stream);
    });
  }

  private readonly trustListeners = new Set<() => void>();

  /**
   * Calls `listener` whenever the hosts this device trusts change, before the host hears the answer:
   * a phone writes its trust down at once, so a page reloaded right after pairing is still trusted.
   * Returns the unsubscribe function.
   */
  onTrustChange(listener: () => void): () => void {
    this.trustListeners.add(listener);
    return () => this.trustListeners.delete(listener);
  }

  private trustChanged(): void {
    for (const listener of [...this.trustListeners]) listener();
  }

  /** The device forgets one host (or all): its next StartSession gets InvalidHostID. */
  forgetHost(hostId?: string): void {
    if (hostId === undefined) this.pairedHosts.clear();
    else this.pairedHosts.delete(hostId);
    this.trustChanged();
  }

  /** Drop every open lockdown connection (unplug). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.connections].map((c) => c.close()));
  }

  async serve(raw: ByteStream): Promise<void> {
    this.connections.add(raw);
    const conn = new PushbackStream(raw);
    let plain = new PlistConnection(conn, 'virtual lockdownd');
    const state: ConnectionState = { session: undefined };
    let sessionConn: PlistConnection | undefined;
    try {
      for (;;) {
        const channel = sessionConn ?? plain;
        const message = await channel.receiveOrEnd();
        if (message === null) break;
        if (!isPlistDict(message)) {
          await channel.send({ Error: 'InvalidRequest' });
          continue;
        }
        const request = typeof message.Request === 'string' ? message.Request : '';
        let reply: PlistDict;
        try {
          reply = { Request: request, ...(await this.handle(request, message, state)) };
        } catch (error) {
          if (!(error instanceof LockdownRequestError)) throw error;
          reply = { Request: request, Error: error.lockdownError };
        }
        await channel.send(reply);

        if (request === 'StartSession' && reply.Error === undefined) {
          // Any bytes the plaintext reader already pulled belong to the TLS handshake.
          const early = plain.reader.buffered > 0 ? await plain.reader.readAvailable() : null;
          if (early) conn.unread(early.slice());
          const lease = conn.lease();
          const host = this.pairedHosts.get(String(message.HostID))!;
          let tls: DeviceTlsSession;
          try {
            tls = await this.acceptTls(lease.stream, host);
          } catch {
            lease.release();
            break; // a real device drops the connection when the handshake fails
          }
          state.session = { id: String(reply.SessionID), host, tls, release: lease.release };
          sessionConn = new PlistConnection(tls.stream, 'virtual lockdownd (TLS)');
        } else if (request === 'StopSession' && reply.Error === undefined && state.session) {
          const session = state.session;
          state.session = undefined;
          sessionConn = undefined;
          await session.tls.stop();
          session.release();
          plain = new PlistConnection(conn, 'virtual lockdownd');
        } else if (request === 'Goodbye') {
          break;
        }
      }
    } catch {
      // A broken peer or a dropped connection ends this connection only.
    } finally {
      this.connections.delete(raw);
      if (state.session) {
        state.session.release();
        await state.session.tls.stream.close().catch(() => undefined);
      }
      await raw.close().catch(() => undefined);
    }
  }

  private async acceptTls(stream: ByteStream, host: PairedHost): Promise<DeviceTlsSession> {
    const key = await this.deviceKey;
    const identity: DeviceTlsIdentity = { certificateDer: host.deviceCertificateDer, privateKey: key.privateKey, privateKeyPkcs8: key.pkcs8 };
    const acceptor = await deviceTlsAcceptor();
    return acceptor.accept(stream, identity, (chain) => this.isHostCertificate(host, chain), this.tlsCiphers ? { ciphers: this.tlsCiphers } : {});
  }

  /** libimobiledevice presents the root certificate, others the host leaf: accept anything the root signed. */
  private async isHostCertificate(host: PairedHost, chain: Uint8Array[]): Promise<boolean> {
    const leaf = chain[0];
    if (!leaf) return false;
    if (bytesEqual(leaf, new Uint8Array(host.rootCertificate.rawData))) return true;
    try {
      const cert = new x509.X509Certificate(leaf as Uint8Array<ArrayBuffer>);
      return await cert.verify({ publicKey: host.rootCertificate.publicKey, signatureOnly: true });
    } catch {
      return false;
    }
  }

  private async handle(request: string, message: PlistDict, state: ConnectionState): Promise<PlistDict> {
    switch (request) {
      case 'QueryType':
        return { Type: 'com.apple.mobile.lockdown' };
      case 'GetValue':
        return this.getValue(message, state);
      case 'SetValue':
        return this.setValue(message, state);
      case 'RemoveValue':
        return this.removeValue(message, state);
      case 'Pair':
        return this.pair(message);
      case 'ValidatePair':
        return this.validatePair(message);
      case 'Unpair':
        return this.unpair(message);
      case 'StartSession':
        return this.startSession(message, state);
      case 'StopSession':
        if (!state.session) throw new LockdownRequestError('NoRunningSession');
        if (message.SessionID !== state.session.id) throw new LockdownRequestError('InvalidSessionID');
        return { Result: 'Success' };
      case 'StartService':
        return this.startService(message, state);
      case 'Goodbye':
        return { Result: 'Success' };
      case '':
        throw new LockdownRequestError('MissingRequest');
      default:
        throw new LockdownRequestError('InvalidRequest');
    }
  }

  private async rootValues(inSession: boolean): Promise<PlistDict> {
    const key = await this.deviceKey;
    const root = this.device.values.root;
    root.TimeIntervalSince1970 = Math.floor(Date.now() / 1000);
    const all: PlistDict = { ...root, DevicePublicKey: key.devicePublicKeyPem };
    if (inSession) return all;
    const reduced: PlistDict = {};
    for (const k of PRE_SESSION_ROOT_KEYS) if (all[k] !== undefined) reduced[k] = all[k]!;
    return reduced;
  }

  private async getValue(message: PlistDict, state: ConnectionState): Promise<PlistDict> {
    const inSession = state.session !== undefined;
    const domain = message.Domain;
    const key = message.Key;
    if (domain !== undefined && typeof domain !== 'string') throw new LockdownRequestError('InvalidRequest');
    if (key !== undefined && typeof key !== 'string') throw new LockdownRequestError('InvalidRequest');
    let dict: PlistDict | undefined;
    if (domain === undefined || domain === '') {
      dict = await this.rootValues(inSession);
      if (!inSession && key !== undefined && dict[key] === undefined && this.device.values.root[key] !== undefined) {
        throw new LockdownRequestError('GetProhibited');
      }
    } else {
      if (!inSession && !PRE_SESSION_DOMAINS.includes(domain)) throw new LockdownRequestError('GetProhibited');
      dict = this.device.values.domains[domain];
    }
    const echo: PlistDict = {};
    if (domain !== undefined) echo.Domain = domain;
    if (key !== undefined) echo.Key = key;
    if (dict === undefined) throw new LockdownRequestError('MissingValue');
    if (key === undefined) return { ...echo, Value: structuredClone(dict) };
    const value = dict[key];
    if (value === undefined) throw new LockdownRequestError('MissingValue');
    return { ...echo, Value: structuredClone(value) };
  }

  private targetDict(domain: PlistValue | undefined, create: boolean): PlistDict | undefined {
    if (domain === undefined || domain === '') return this.device.values.root;
    if (typeof domain !== 'string') throw new LockdownRequestError('InvalidRequest');
    let dict = this.device.values.domains[domain];
    if (!dict && create) dict = this.device.values.domains[domain] = {};
    return dict;
  }

  private setValue(message: PlistDict, state: ConnectionState): PlistDict {
    const key = message.Key;
    const value = message.Value;
    if (typeof key !== 'string') throw new LockdownRequestError('MissingKey');
    if (value === undefined) throw new LockdownRequestError('MissingValue');
    if (!state.session) {
      if (key === 'UntrustedHostBUID' && typeof value === 'string' && (message.Domain === undefined || message.Domain === '')) {
        this.untrustedHostBuid = value;
        return {};
      }
      throw new LockdownRequestError('SetProhibited');
    }
    if (key === 'UntrustedHostBUID' && typeof value === 'string') this.untrustedHostBuid = value;
    this.targetDict(message.Domain, true)![key] = value;
    return {};
  }

  private removeValue(message: PlistDict, state: ConnectionState): PlistDict {
    if (!state.session) throw new LockdownRequestError('RemoveProhibited');
    const key = message.Key;
    if (typeof key !== 'string') throw new LockdownRequestError('MissingKey');
    const dict = this.targetDict(message.Domain, false);
    if (!dict || dict[key] === undefined) throw new LockdownRequestError('MissingValue');
    delete dict[key];
    return {};
  }

  private async pair(message: PlistDict): Promise<PlistDict> {
    const record = message.PairRecord;
    if (!isPlistDict(record)) throw new LockdownRequestError('MissingPairRecord');
    const hostId = record.HostID;
    const systemBuid = record.SystemBUID;
    if (typeof hostId !== 'string' || hostId === '') throw new LockdownRequestError('MissingHostID');
    const parsed = await this.validatePairRecord(record);
    const known = this.pairedHosts.get(hostId);
    if (!known) {
      switch (this.trust.decide(hostId)) {
        case 'locked':
          throw new LockdownRequestError('PasswordProtected');
        case 'pending':
          throw new LockdownRequestError('PairingDialogResponsePending');
        case 'denied':
          throw new LockdownRequestError('UserDeniedPairing');
        case 'accepted':
          break;
      }
    }
    const escrowBag = known?.escrowBag ?? globalThis.crypto.getRandomValues(new Uint8Array(32));
    this.pairedHosts.set(hostId, {
      hostId,
      systemBuid: typeof systemBuid === 'string' ? systemBuid : '',
      ...parsed,
      escrowBag,
    });
    this.trustChanged();
    return { EscrowBag: escrowBag };
  }

  /** The checks a device makes: three parseable certificates, host and device signed by the root, the device cert on our key. */
  private async validatePairRecord(record: PlistDict): Promise<Pick<PairedHost, 'rootCertificate' | 'hostCertificate' | 'deviceCertificateDer'>> {
    const cert = (name: string): x509.X509Certificate => {
      const value = record[name];
      if (!(value instanceof Uint8Array) && typeof value !== 'string') throw new LockdownRequestError('InvalidPairRecord');
      try {
        return new x509.X509Certificate(decodePem(value).der as Uint8Array<ArrayBuffer>);
      } catch {
        throw new LockdownRequestError('InvalidPairRecord');
      }
    };
    const root = cert('RootCertificate');
    const host = cert('HostCertificate');
    const device = cert('DeviceCertificate');
    const key = await this.deviceKey;
    const deviceSpki = new Uint8Array(device.publicKey.rawData);
    if (!bytesEqual(deviceSpki, key.spki)) throw new LockdownRequestError('InvalidPairRecord');
    const signedByRoot = async (c: x509.X509Certificate): Promise<boolean> => {
      try {
        return await c.verify({ publicKey: root.publicKey, signatureOnly: true });
      } catch {
        return false;
      }
    };
    if (!(await signedByRoot(host)) || !(await signedByRoot(device))) throw new LockdownRequestError('InvalidPairRecord');
    return { rootCertificate: root, hostCertificate: host, deviceCertificateDer: new Uint8Array(device.rawData) };
  }

  private validatePair(message: PlistDict): PlistDict {
    const record = message.PairRecord;
    if (!isPlistDict(record)) throw new LockdownRequestError('MissingPairRecord');
    if (typeof record.HostID !== 'string' || !this.pairedHosts.has(record.HostID)) throw new LockdownRequestError('InvalidHostID');
    return {};
  }

  private unpair(message: PlistDict): PlistDict {
    const record = message.PairRecord;
    if (!isPlistDict(record) || typeof record.HostID !== 'string') throw new LockdownRequestError('MissingPairRecord');
    if (!this.pairedHosts.delete(record.HostID)) throw new LockdownRequestError('InvalidHostID');
    this.trustChanged();
    return {};
  }

  private startSession(message: PlistDict, state: ConnectionState): PlistDict {
    if (state.session) throw new LockdownRequestError('SessionActive');
    const hostId = message.HostID;
    if (typeof hostId !== 'string' || hostId === '') throw new LockdownRequestError('MissingHostID');
    if (!this.pairedHosts.has(hostId)) throw new LockdownRequestError('InvalidHostID');
    return { SessionID: globalThis.crypto.randomUUID().toUpperCase(), EnableSessionSSL: true };
  }

  private startService(message: PlistDict, state: ConnectionState): PlistDict {
    const name = message.Service;
    if (typeof name !== 'string' || name === '') throw new LockdownRequestError('MissingService');
    if (!state.session && !INSECURE_SERVICES.has(name)) throw new LockdownRequestError('SessionInactive');
    if (this.trust.locked) throw new LockdownRequestError('PasswordProtected');
    const handler = this.device.services.get(name);
    if (!handler) throw new LockdownRequestError('InvalidService');
    if (this.prohibitedServices.has(name)) throw new LockdownRequestError('ServiceProhibited');
    const escrowBag = message.EscrowBag;
    if (escrowBag !== undefined && !(escrowBag instanceof Uint8Array)) throw new LockdownRequestError('InvalidEscrowBag');
    const host = state.session?.host;
    const ssl = this.sslServices.has(name) && host !== undefined;
    const port = this.device.ports.allocateEphemeralPort();
    this.device.ports.listen(port, (stream) => {
      this.device.ports.unlisten(port);
      if (!ssl) {
        handler(stream);
        return;
      }
      this.acceptTls(stream, host).then(
        (tls) => handler(tls.stream),
        () => void stream.close(),
      );
    });
    this.startedServices.push({ service: name, hostId: host?.hostId ?? '', port, withEscrowBag: escrowBag !== undefined });
    const reply: PlistDict = { Port: port, Service: name };
    if (ssl) reply.EnableServiceSSL = true;
    return reply;
  }
}
