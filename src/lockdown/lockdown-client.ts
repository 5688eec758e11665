import type { ByteStream } from '../core/byte-stream.ts';
import { CancelledError, LifeboatError, ProtocolError, TimeoutError } from '../core/errors.ts';
import { PlistConnection, isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';
import type { TappedConnection } from '../diagnostics/stream-tap.ts';
import type { ServiceProvider } from '../services/service-provider.ts';
import { connectTls, type TlsConnection } from '../tls/index.ts';
import { LOCKDOWN_PORT, type DeviceConnector } from '../usbmux/device-connector.ts';
import { LockdownError, PairingInvalidError, PairingPendingError, SessionInactiveError, lockdownErrorFor } from './errors.ts';
import { pairRequestRecord, type PairRecord } from './pair-record.ts';
import type { PairingIdentity, PairingStore } from './pairing-store.ts';

export type PairingProgress = 'preparing' | 'waiting-for-trust' | 'paired';

export interface PairOptions {
  /** How often Pair is repeated while the Trust dialog is up. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Give up waiting for Trust after this long. Default 5 minutes. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface LockdownClientOptions {
  store: PairingStore;
  /** `Label` in every request. */
  label?: string;
}

const textEncoder = new TextEncoder();
const LOCKDOWN_TYPE = 'com.apple.mobile.lockdown';

/**
 * Host side of lockdownd: device values, pairing, the TLS session and StartService. One instance
 * owns one lockdown connection (reopened transparently once if the device resets it).
 */
export class LockdownClient implements ServiceProvider {
  private plain!: PlistConnection;
  /** The lockdown connection below any TLS (what the handshake runs on). */
  private raw!: ByteStream;
  private traced: TappedConnection | undefined;
  private tls: TlsConnection | undefined;
  private sessionId: string | undefined;
  private identity: PairingIdentity | undefined;
  private readonly label: string;

  private constructor(
    readonly connector: DeviceConnector,
    private readonly store: PairingStore,
    label: string | undefined,
  ) {
    this.label = label ?? 'lifeboat';
  }

  get udid(): string {
    return this.connector.device.udid;
  }

  get inSession(): boolean {
    return this.sessionId !== undefined;
  }

  /** The pairing in use (after pair() or startSession()). */
  get pairing(): PairingIdentity | undefined {
    return this.identity;
  }

  /** Connects to lockdownd and checks it is the normal-mode lockdown (not restore mode). */
  static async connect(connector: DeviceConnector, options: LockdownClientOptions): Promise<LockdownClient> {
    const client = new LockdownClient(connector, options.store, options.label);
    await client.open();
    return client;
  }

  private async open(): Promise<void> {
    this.raw = await this.connector.connect(LOCKDOWN_PORT);
    this.traced = this.connector.trace?.open(this.raw, { port: LOCKDOWN_PORT, service: 'lockdown' });
    this.plain = new PlistConnection(this.traced?.stream ?? this.raw, 'lockdown');
    this.tls = undefined;
    this.sessionId = undefined;
    const type = await this.queryType();
    if (type !== LOCKDOWN_TYPE) {
      await this.plain.close();
      throw new LifeboatError('unsupported', `The device is not in normal mode (lockdown type ${type}).`, {
        action: 'Restart the iPhone normally, then try again.',
      });
    }
  }

  private get channel(): PlistConnection {
    return this.tlsChannel ?? this.plain;
  }
  private tlsChannel: PlistConnection | undefined;

  /** One request/response; failures become typed errors. */
  private async request(request: string, fields: PlistDict = {}, context: { domain?: string; key?: string; service?: string } = {}): Promise<PlistDict> {
    const message: PlistDict = { Label: this.label, Request: request, ...fields };
    await this.channel.send(message);
    const reply = await this.channel.receive();
    if (!isPlistDict(reply)) throw new ProtocolError('lockdown', `${request}: the reply is not a dictionary`);
    const error = reply.Error;
    if (typeof error === 'string') throw lockdownErrorFor(error, { request, ...context });
    if (typeof error === 'number') {
      const text = typeof reply.ErrorString === 'string' ? reply.ErrorString : `error ${error}`;
      throw new LockdownError(text, request);
    }
    if (reply.Result === 'Failure') throw new LockdownError('Failure', request);
    return reply;
  }

  /**
   * A request that must run in a session; SessionInactive/InvalidConnection (the device reset the
   * connection state) is answered by reconnecting, starting a new session and retrying once.
   */
  private async sessionRequest(request: string, fields: PlistDict, context: { domain?: string; key?: string; service?: string } = {}): Promise<PlistDict> {
    try {
      return await this.request(request, fields, context);
    } catch (error) {
      if (!(error instanceof SessionInactiveError) || !['SessionInactive', 'InvalidConnection'].includes(error.lockdownError)) throw error;
      const hadSession = this.inSession;
      await this.reconnect();
      if (hadSession || request === 'StartService') await this.startSession();
      return this.request(request, fields, context);
    }
  }

  private async reconnect(): Promise<void> {
    await (this.tlsChannel?.stream ?? this.plain.stream).close().catch(() => undefined);
    this.tlsChannel = undefined;
    await this.open();
  }

  async queryType(): Promise<string> {
    const reply = await this.request('QueryType');
    if (typeof reply.Type !== 'string') throw new ProtocolError('lockdown', 'QueryType reply has no Type');
    return reply.Type;
  }

  /** GetValue: a key, a whole domain, or (neither) the root dictionary. */
  async getValue(domain?: string, key?: string): Promise<PlistValue> {
    const fields: PlistDict = {};
    if (domain !== undefined) fields.Domain = domain;
    if (key !== undefined) fields.Key = key;
    const reply = await this.sessionRequest('GetValue', fields, { domain, key });
    if (reply.Value === undefined) throw lockdownErrorFor('MissingValue', { request: 'GetValue', domain, key });
    return reply.Value;
  }

  async setValue(domain: string | undefined, key: string, value: PlistValue): Promise<void> {
    const fields: PlistDict = { Key: key, Value: value };
    if (domain !== undefined) fields.Domain = domain;
    await this.sessionRequest('SetValue', fields, { domain, key });
  }

  async removeValue(domain: string | undefined, key: string): Promise<void> {
    const fields: PlistDict = { Key: key };
    if (domain !== undefined) fields.Domain = domain;
    await this.sessionRequest('RemoveValue', fields, { domain, key });
  }

  /**
   * Pairs with the device (transport.md §3.5): reads DevicePublicKey and WiFiAddress first, builds
   * the certificates, and repeats Pair while the Trust dialog is up. Stores and returns the pairing.
   */
  async pair(onProgress?: (progress: PairingProgress) => void, options: PairOptions = {}): Promise<PairingIdentity> {
    onProgress?.('preparing');
    const devicePublicKey = await this.getValue(undefined, 'DevicePublicKey');
    if (!(devicePublicKey instanceof Uint8Array) && typeof devicePublicKey !== 'string') {
      throw new ProtocolError('lockdown', 'DevicePublicKey is not PEM data');
    }
    const wifiAddress = await this.getValue(undefined, 'WiFiAddress').catch(() => undefined);
    const systemBuid = await this.store.systemBuid();
    // usbmuxd tells the device who is about to pair; harmless if refused.
    await this.request('SetValue', { Key: 'UntrustedHostBUID', Value: systemBuid }).catch(() => undefined);

    // Loaded here, not at startup: X.509 building is a large dependency only pairing needs, and the
    // CLI starts a process per command (a backup's startup time counts against it).
    const { buildPairingCertificates, certificatePem, generateRsaKeyPair, randomUuid } = await import('./certificates.ts');
    const extractable = this.store.needsExtractableKeys;
    const [rootKeys, hostKeys] = await Promise.all([generateRsaKeyPair(extractable), generateRsaKeyPair(extractable)]);
    const certs = await buildPairingCertificates({ devicePublicKey, rootKeys, hostKeys });
    const record: PairRecord = {
      hostId: randomUuid(),
      systemBuid,
      rootCertificate: textEncoder.encode(certificatePem(certs.root)),
      hostCertificate: textEncoder.encode(certificatePem(certs.host)),
      deviceCertificate: textEncoder.encode(certificatePem(certs.device)),
    };
    if (typeof wifiAddress === 'string') record.wifiMacAddress = wifiAddress;

    const fields: PlistDict = {
      PairRecord: pairRequestRecord(record),
      ProtocolVersion: '2',
      PairingOptions: { ExtendedPairingErrors: true },
    };
    const pollMs = options.pollIntervalMs ?? 1000;
    const deadline = Date.now() + (options.timeoutMs ?? 5 * 60_000);
    let reply: PlistDict;
    for (;;) {
      if (options.signal?.aborted) throw new CancelledError('Pairing was cancelled.');
      try {
        reply = await this.request('Pair', fields);
        break;
      } catch (error) {
        if (!(error instanceof PairingPendingError)) throw error;
      }
      onProgress?.('waiting-for-trust');
      if (Date.now() + pollMs > deadline) throw new TimeoutError('Nobody tapped Trust on the iPhone in time.');
      await sleep(pollMs, options.signal);
    }
    if (reply.EscrowBag instanceof Uint8Array) record.escrowBag = reply.EscrowBag;
    this.identity = await this.store.save(this.udid, { record, rootKeys, hostKeys });
    onProgress?.('paired');
    return this.identity;
  }

  /** The stored pairing for this device, or null. */
  loadPairing(): Promise<PairingIdentity | null> {
    return this.store.load(this.udid);
  }

  /**
   * StartSession and, as the device asks, TLS on the same connection. A device that no longer
   * knows us (InvalidHostID) or fails the handshake yields PairingInvalidError: pair again.
   */
  async startSession(): Promise<void> {
    if (this.inSession) return;
    const identity = this.identity ?? (await this.store.load(this.udid));
    if (!identity) throw new PairingInvalidError('MissingPairRecord', 'This computer has not paired with the iPhone yet.');
    this.identity = identity;
    const reply = await this.request('StartSession', {
      HostID: identity.record.hostId,
      SystemBUID: identity.record.systemBuid,
    });
    if (typeof reply.SessionID !== 'string') throw new ProtocolError('lockdown', 'StartSession reply has no SessionID');
    this.sessionId = reply.SessionID;
    if (reply.EnableSessionSSL === true) {
      try {
        this.tls = await this.handshake(this.raw, identity);
      } catch (cause) {
        this.sessionId = undefined;
        await this.plain.close().catch(() => undefined);
        throw new PairingInvalidError('TLS', 'The iPhone rejected this computer’s pairing (the secure session failed).', cause);
      }
      this.tlsChannel = new PlistConnection(this.traced?.upgrade(this.tls) ?? this.tls, 'lockdown (TLS)');
    }
  }

  private handshake(stream: ByteStream, identity: PairingIdentity): Promise<TlsConnection> {
    return connectTls(stream, { identity: { certificateChain: [identity.hostCertificateDer], privateKey: identity.hostPrivateKey } });
  }

  /** StopSession, then close_notify both ways; the connection continues in plaintext. */
  async stopSession(): Promise<void> {
    if (!this.sessionId) return;
    const sessionId = this.sessionId;
    await this.request('StopSession', { SessionID: sessionId });
    this.sessionId = undefined;
    this.tlsChannel = undefined;
    if (this.tls) {
      const raw = await this.tls.shutdown();
      this.tls = undefined;
      this.raw = raw;
      this.plain = new PlistConnection(this.traced?.downgrade(raw) ?? raw, 'lockdown');
    }
  }

  /**
   * Starts a device service and connects to it (TLS-wrapped when the device says EnableServiceSSL).
   * Starts a session first if none is running.
   */
  async startService(name: string, options: { withEscrowBag?: boolean } = {}): Promise<ByteStream> {
    if (!this.inSession) await this.startSession();
    const fields: PlistDict = { Service: name };
    if (options.withEscrowBag) {
      const bag = this.identity?.record.escrowBag;
      if (bag) fields.EscrowBag = bag;
    }
    const reply = await this.sessionRequest('StartService', fields, { service: name });
    const port = reply.Port;
    if (typeof port !== 'number' || port <= 0 || port > 65535) throw new ProtocolError('lockdown', `StartService ${name}: bad Port`);
    const stream = await this.connector.connect(port);
    const tls = reply.EnableServiceSSL === true;
    const service = tls ? await this.handshake(stream, this.identity!) : stream;
    return this.connector.trace?.open(service, { port, service: name, tls }).stream ?? service;
  }

  /** Asks the device to forget this host (Unpair), then forgets the device here too. */
  async unpair(): Promise<void> {
    const identity = this.identity ?? (await this.store.load(this.udid));
    if (identity) {
      try {
        await this.request('Unpair', { PairRecord: { HostID: identity.record.hostId }, ProtocolVersion: '2' });
      } catch (error) {
        if (!(error instanceof PairingInvalidError)) throw error; // already forgotten on the device
      }
    }
    await this.store.remove(this.udid);
    this.identity = undefined;
  }

  /** Goodbye and close. Never throws. */
  async close(): Promise<void> {
    try {
      if (this.inSession) await this.stopSession();
      await this.request('Goodbye');
    } catch {
      // closing anyway
    }
    await (this.tlsChannel?.stream ?? this.plain.stream).close().catch(() => undefined);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(timer);
      reject(new CancelledError('Pairing was cancelled.'));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Forgets a device: Unpair on the device when a connection is at hand, and the local record always. */
export async function forgetDevice(store: PairingStore, udid: string, client?: LockdownClient): Promise<void> {
  if (client) await client.unpair();
  else await store.remove(udid);
}
